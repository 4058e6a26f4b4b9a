"""Metrotec (Estonia): vehicles keyed by registration number, drivers, latest positions and route history, the
route log and stops, geozones, POIs and tasks (read and written), asynchronous POI reports (the vendor's
Metrotec API excerpt and reference/metrotec/NOTES.md).

Paths, auth, fetchers, write-back; the pure mappers are in ``parse.py``. The excerpt lost most URL paths:
``PATHS`` holds the ones its naming implies, to verify against the vendor's published OpenAPI file; the base
URL names the API root (``https://api.metrotec.ee/api`` for 1.1.0, ``…/public`` for 1.0.0).
"""

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings

from fleet.tracking.records import (
    DeviceRecord,
    DriverRecord,
    EventRecord,
    GeofenceRecord,
    PoiRecord,
    PositionRecord,
    TaskFileRecord,
    TaskRecord,
)
from fleet.vendors import base
from fleet.vendors.errors import AuthExpired, VendorError
from fleet.vendors.metrotec.parse import (
    REPORT_STATUSES,
    STATUS_CODES,
    format_time,
    parse_driver,
    parse_fuel_event,
    parse_geozone,
    parse_poi,
    parse_position,
    parse_stop_report,
    parse_task,
    parse_task_file,
    parse_trip,
    parse_vehicle,
    parse_visit,
    parse_waybill,
    parse_work_period,
    parse_work_time,
    render_geozone,
    render_poi,
    render_task,
    renew_at,
    summary,
)
from fleet.vendors.traccar import parse_time

PATHS = {
    "login": "/login",
    "vehicles": "/vehicles",
    "positions": "/positions",  # the latest position of every vehicle
    "history": "/history",  # route history of one vehicle from a time
    "route_log": "/routelog",  # trips
    "stops": "/stops",
    "drivers": "/drivers",
    "geozones": "/geozones",  # GET, POST; PUT and DELETE /geozones/{id}
    "zone_links": "/vehicles/zones",  # POST links a vehicle to a geozone's alarms, DELETE unlinks
    "tasks": "/tasks",  # GET (all=1: finished ones too), POST; PUT /tasks/{id}
    "pois": "/pois",  # GET, POST; PUT /pois/{id}
    "poi_reports": "/poireports",  # GET (statuses), POST (create); GET /poireports/{id}: the rows
    "fuel_events": "/fuelevents",  # refuelling (and fuel drops) of one vehicle in a period
    "work_time": "/worktime",  # work and repair seconds of every vehicle; GET /worktime/{id}: one vehicle's periods
    "waybills": "/waybills",  # the waybills open now
    "files": "/files",  # GET (pivot_type, pivot_id filter), POST multipart upload; PUT /files/{id}: the type
}
TASK_PIVOT = "route_tasks"  # the files' pivot_type of tasks
API_VERSION = "1.1.0"  # the version this connector was built against, sent in every Accept header
ACCEPT = f"application/json; version={API_VERSION}"
HISTORY_PAGE = 2000  # rows per route history request: over half an hour at one fix a second, ~0.5 MB


class MetrotecConnector(base.Connector):
    kind = "metrotec"
    capabilities = frozenset(
        {
            base.DEVICES,
            base.DRIVERS,
            base.GEOFENCES,
            base.TASKS,
            base.TASK_FILES,
            base.POIS,
            base.POSITIONS,
            base.EVENTS,
            base.REPORTS,
            base.GEOFENCE_WRITE,
            base.TASK_WRITE,
            base.POI_WRITE,
            base.POI_REPORTS,
        }
    )
    history_page: int = HISTORY_PAGE

    def __init__(self, account_id: int, base_url: str, credentials: dict[str, str]) -> None:
        super().__init__(account_id, base_url, credentials)
        self.learn_rate(settings.METROTEC_RATE, settings.METROTEC_RATE_MAX)
        self.workers = max(1, settings.METROTEC_CONCURRENCY)  # route history requests in flight at once
        self.events_every_s = settings.METROTEC_EVENTS_EVERY_S  # fuel events cost a request per vehicle
        self.http.client.headers["Accept"] = ACCEPT
        if language := credentials.get("language"):
            self.http.client.headers["Accept-Language"] = str(language)
        self.renew_at: float | None = None  # when to log in again (a JWT's expiry, less a margin)
        self._latest: list[PositionRecord] | None = None

    # --- auth -------------------------------------------------------------
    def login(self) -> None:
        """An API key (``token``) is the Bearer token as it is; otherwise username and password buy a JWT that
        is renewed before it expires (and once on a 401, by ``call``)."""
        creds = self.credentials
        if creds.get("token"):
            self._bearer(str(creds["token"]), None)
            self.basic_auth = True  # a static key: a 401 means the key itself is refused
            return
        if not (creds.get("username") and creds.get("password")):
            raise VendorError("the account has no credentials: an API key, or a username and password", permanent=True)
        self.http.client.headers.pop("Authorization", None)
        body = {"username": creds["username"], "password": creds["password"]}
        try:
            answer = self.http.json("POST", PATHS["login"], json=body)
        except AuthExpired:
            raise VendorError("login refused: check the account's username and password", permanent=True) from None
        except VendorError as exc:
            if exc.status == 403:
                raise VendorError("login refused: check the account's username and password", permanent=True) from None
            raise
        token = answer.get("jwt") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise VendorError(f"POST {PATHS['login']}: the answer holds no jwt")
        self.http.secrets = (*self.http.secrets, token)  # masked too, should an error body echo it
        self._bearer(token, renew_at(answer.get("expires"), time.time()))

    def _bearer(self, token: str, renew: float | None) -> None:
        self.http.client.headers["Authorization"] = f"Bearer {token}"
        self.renew_at, self.logged_in = renew, True

    def needs_login(self) -> bool:
        return not self.logged_in or (self.renew_at is not None and time.time() >= self.renew_at)

    # --- fetchers ---------------------------------------------------------
    def devices(self) -> list[DeviceRecord]:
        rows = self.call("GET", PATHS["vehicles"], params={"limit": -1})
        return self.map_rows(base.DEVICES, rows, parse_vehicle)

    def drivers(self) -> list[DriverRecord]:
        rows = self.call("GET", PATHS["drivers"], params={"offset": -1})
        return self.map_rows(base.DRIVERS, rows, parse_driver)

    def geofences(self) -> list[GeofenceRecord]:
        """The geozones not deleted (those with ``deleted_at`` are left out of the list, so they retire)."""
        rows = self.call("GET", PATHS["geozones"])
        if isinstance(rows, list):
            rows = [r for r in rows if not (isinstance(r, dict) and r.get("deleted_at"))]
        return self.map_rows(base.GEOFENCES, rows, parse_geozone)

    def tasks(self) -> list[TaskRecord]:
        """Every task, the finished ones too (their status is what comes back to fleet)."""
        rows = self.call("GET", PATHS["tasks"], params={"all": 1, "limit": -1})
        return self.map_rows(base.TASKS, rows, parse_task)

    def task_files(self) -> list[TaskFileRecord]:
        """The files of every task (``pivot_type`` route_tasks): their metadata; the excerpt shows no download
        address."""
        rows = self.call("GET", PATHS["files"], params={"pivot_type": TASK_PIVOT})
        if isinstance(rows, list):
            rows = [r for r in rows if not isinstance(r, dict) or r.get("pivot_type") in (None, TASK_PIVOT)]
        return self.map_rows(base.TASK_FILES, rows, parse_task_file)

    def pois(self) -> list[PoiRecord]:
        return self.map_rows(base.POIS, self.call("GET", PATHS["pois"]), parse_poi)

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        """Per vehicle, its latest position (the one with speed and heading) and then its route history from
        ``since``; the history repeats the latest fix, which ingest drops as a duplicate. A request per vehicle
        is what bounds this vendor's sync: a vehicle whose latest fix is older than ``since`` has no history to
        fetch, and the others' are fetched ``workers`` at a time (each request still takes a token from the
        account's shared bucket); batches come in the order of ``device_ids``."""
        wanted = set(device_ids)
        latest = [r for r in self.latest() if r.device_id in wanted and _at_or_after(r.fix_time, since)]
        quiet = {r.device_id for r in self.latest() if r.device_id in wanted and _before(r.fix_time, since)}
        batch: list[PositionRecord] = latest
        asked = [v for v in device_ids if v not in quiet]
        for vehicle, pages in zip(asked, self.each(lambda v: list(self.history(v, since, until)), asked), strict=True):
            for rows in pages:
                batch += self.map_rows(base.POSITIONS, rows, lambda row, v=vehicle: parse_position(row, v))
            if len(batch) >= self.history_page:
                yield batch
                batch = []
        if batch:
            yield batch

    def latest(self) -> list[PositionRecord]:
        """Every vehicle's latest position, asked once per connector (one sync)."""
        if self._latest is None:
            rows = self.call("GET", PATHS["positions"], params={"limit": -1})
            self._latest = self.map_rows(base.POSITIONS, rows, parse_position)
        return self._latest

    def history(self, vehicle: str, since: datetime, until: datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of the vehicle's route history, keyed by time: each page starts at the newest readable time of
        the one before (inclusive, rows already seen skipped), so rows that move while paging are not lost."""
        start, seen = since, set()
        while True:
            params = {"vehicle_id": vehicle, "start_from": format_time(start), "limit": self.history_page}
            rows = self.call("GET", PATHS["history"], params=params)
            if rows is None:
                return
            if not isinstance(rows, list):
                raise VendorError(f"history of {vehicle}: expected a list, got {type(rows).__name__}")
            fresh = [row for row in rows if _row_key(row) not in seen]
            seen.update(_row_key(row) for row in fresh)
            yield fresh
            if len(rows) < self.history_page:
                return
            newest = max((t for t in map(_readable_time, rows) if t is not None and t <= until), default=None)
            if newest is None or (newest <= start and not fresh):
                raise VendorError(f"history of {vehicle}: a full page that does not move on in time")
            start = newest

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        """Refuelling and fuel drops, asked per vehicle that has a fix in the window (a vehicle without one has no
        fuel reading to make an event of), ``workers`` at a time."""
        wanted = set(device_ids)
        active = {r.device_id for r in self.latest() if r.device_id in wanted and _at_or_after(r.fix_time, since)}
        asked = [v for v in device_ids if v in active]
        out: list[EventRecord] = []
        for rows in self.each(lambda v: self.call("GET", PATHS["fuel_events"], params=_period(v, since, until)), asked):
            out += self.map_rows(base.EVENTS, rows, parse_fuel_event)
        return out

    def reports(self, kind: str, since: datetime, until: datetime, device_ids: list[str]) -> list[dict[str, Any]]:
        """Trips from the route log, stops from the stops list, a summary added up from the route log; work and
        repair time (all vehicles at once, or ``work_periods`` per vehicle) and the waybills open now (the API
        has no period for them)."""
        if kind in ("work_time", "waybills"):
            return self._fleet_report(kind, since, until, set(device_ids))
        if kind not in ("trips", "stops", "summary", "work_periods"):
            raise VendorError(f"metrotec has no {kind} report", permanent=True)
        rows = []
        for vehicle in device_ids:
            rows += self._vehicle_report(kind, vehicle, since, until)
        return rows

    def _vehicle_report(self, kind: str, vehicle: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        if kind == "work_periods":
            path, params = f"{PATHS['work_time']}/{vehicle}", {"datetime[]": [format_time(since), format_time(until)]}
            return self.map_rows(f"report {kind}", self.call("GET", path, params=params), parse_work_period)
        path, parse = (PATHS["stops"], parse_stop_report) if kind == "stops" else (PATHS["route_log"], parse_trip)
        found = self.map_rows(f"report {kind}", self.call("GET", path, params=_period(vehicle, since, until)), parse)
        return [summary(vehicle, found)] if kind == "summary" else found

    def _fleet_report(self, kind: str, since: datetime, until: datetime, wanted: set[str]) -> list[dict[str, Any]]:
        """One request answers for every vehicle: the rows of the vehicles asked for."""
        if kind == "waybills":
            rows = self.map_rows(f"report {kind}", self.call("GET", PATHS["waybills"]), parse_waybill)
        else:
            params = {"datetime[]": [format_time(since), format_time(until)]}
            rows = self.map_rows(f"report {kind}", self.call("GET", PATHS["work_time"], params=params), parse_work_time)
        return [row for row in rows if row["device_id"] in wanted]

    def create_poi_report(self, since: datetime, until: datetime) -> str:
        body = {"datetime": [format_time(since), format_time(until)], "type": "poi", "type_id": None}
        return self._create(PATHS["poi_reports"], body | {"group": "vehicle", "group_id": None})

    def poi_report_status(self, report_id: str) -> str:
        rows = self.call("GET", PATHS["poi_reports"])
        rows = rows if isinstance(rows, list) else []
        row = next((r for r in rows if isinstance(r, dict) and str(r.get("id")) == report_id), None)
        if row is None:
            raise VendorError(f"POI report {report_id} is not in the vendor's list", permanent=True)
        status = REPORT_STATUSES.get(row.get("status"))
        if status is None:
            raise VendorError(f"POI report {report_id}: unknown status {row.get('status')!r}")
        return status

    def poi_report_rows(self, report_id: str) -> list[dict[str, Any]]:
        rows = self.call("GET", f"{PATHS['poi_reports']}/{report_id}")
        return self.map_rows("poi report", rows, parse_visit)

    # --- write-back -------------------------------------------------------
    def _create(self, path: str, body: dict[str, Any]) -> str:
        """POST a new object; return the id the vendor gave it."""
        answer = self.call("POST", path, json=body)
        if not isinstance(answer, dict) or answer.get("id") in (None, ""):
            raise VendorError(f"POST {path}: the answer holds no id")
        return str(answer["id"])

    def create_geofence(self, record: GeofenceRecord) -> str:
        return self._create(PATHS["geozones"], {"id": "newItem", **render_geozone(record)})

    def update_geofence(self, record: GeofenceRecord) -> None:
        body = {"id": int(record.vendor_id), **render_geozone(record)}
        self.call("PUT", f"{PATHS['geozones']}/{record.vendor_id}", json=body)

    def delete_geofence(self, vendor_id: str) -> None:
        self.call("DELETE", f"{PATHS['geozones']}/{vendor_id}")

    def link_geofence(self, device_id: str, geofence_id: str, unlink: bool = False) -> None:
        """Alarms on entering and leaving (events 1 and 2) the geozone for the vehicle."""
        body = {"object_id": device_id, "zoneId": int(geofence_id), "events": [1, 2]}
        self.call("DELETE" if unlink else "POST", PATHS["zone_links"], json=body)

    def create_task(self, record: TaskRecord) -> str:
        return self._create(PATHS["tasks"], render_task(record))

    def update_task(self, record: TaskRecord) -> None:
        """An edit (``edit: true``: the vendor keeps it in its audit log). Times fleet does not plan are left as
        the vendor planned them when the task was created (not planned from now again on every edit)."""
        body = render_task(record)
        if record.planned_start is None:
            del body["start_time"]
        if record.planned_stop is None:
            del body["stop_time"]
        self.call("PUT", f"{PATHS['tasks']}/{record.vendor_id}", json={**body, "edit": True})

    def delete_task(self, vendor_id: str) -> None:
        """Metrotec documents no delete: the task is cancelled and made inactive."""
        body = {"status": STATUS_CODES["cancelled"], "active": False, "edit": True}
        self.call("PUT", f"{PATHS['tasks']}/{vendor_id}", json=body)

    def upload_task_file(self, task_id: str, record: TaskFileRecord, content: bytes) -> str:
        """A multipart upload attached to the task; the vendor sorts it by ``file_type``."""
        form = {"pivot_type": TASK_PIVOT, "pivot_id": task_id, "file_type": record.kind, "hidden": "0"}
        files = {"file": (record.name, content, record.mime or "application/octet-stream")}
        answer = self.call("POST", PATHS["files"], data=form, files=files)
        if not isinstance(answer, dict) or answer.get("id") in (None, ""):
            raise VendorError(f"POST {PATHS['files']}: the answer holds no id")
        return str(answer["id"])

    def create_poi(self, record: PoiRecord) -> str:
        return self._create(PATHS["pois"], render_poi(record))

    def update_poi(self, record: PoiRecord) -> None:
        self.call("PUT", f"{PATHS['pois']}/{record.vendor_id}", json=render_poi(record))

    def delete_poi(self, vendor_id: str) -> None:
        raise VendorError("metrotec cannot delete POIs (its API documents none): remove it in Metrotec", permanent=True)


def _at_or_after(moment: object, since: datetime) -> bool:
    return isinstance(moment, datetime) and moment.tzinfo is not None and moment >= since


def _before(moment: object, since: datetime) -> bool:
    return isinstance(moment, datetime) and moment.tzinfo is not None and moment < since


def _readable_time(row: object) -> datetime | None:
    try:
        return parse_time(row.get("GMTime")) if isinstance(row, dict) else None
    except base.Reject:
        return None


def _row_key(row: object) -> tuple:
    if not isinstance(row, dict):
        return (repr(row),)
    return tuple(repr(row.get(k)) for k in ("GMTime", "lat", "lon", "Ypos", "Xpos"))


def _period(vehicle: str, since: datetime, until: datetime) -> dict[str, str]:
    return {"vehicle_id": vehicle, "period_start": format_time(since), "period_stop": format_time(until)}
