"""iTrack (a Navixy platform): trackers, employees (drivers), latest states and track points, history events, zones,
places (POIs) and tasks, read and written; trips from the vendor's tracks (the vendor tab). The vendor's excerpt
``itrack-api.txt`` and Navixy's public documentation (reference/itrack-navixy).

Every call is a POST of JSON to ``{base}/{resource}/{action}`` carrying the session ``hash`` (from ``user/auth``, or
the account's API key); the answer is ``{"success": true, …}`` or ``{"success": false, "status": {"code", …}}``,
read by code (``CODES``). Times are the user's wall clock (``user/get_info``'s ``time_zone``). Paths, auth, calls,
fetchers and write-back here; the pure mappers in ``itrack_parse``.
"""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from fleet.tracking.records import (
    DeviceRecord,
    DriverRecord,
    EventRecord,
    GeofenceRecord,
    PoiRecord,
    PositionRecord,
    TaskRecord,
)
from fleet.vendors import base
from fleet.vendors import itrack_parse as parse
from fleet.vendors.errors import AuthExpired, RateLimited, VendorError
from fleet.vendors.metrotec import summary

PATHS = {
    "auth": "/user/auth",
    "user": "/user/get_info",
    "trackers": "/tracker/list",
    "states": "/tracker/get_states",  # at most MAX_STATES trackers a call
    "tracks": "/track/list",
    "points": "/track/read",
    "events": "/history/tracker/list",
    "employees": "/employee/list",
    "zones": "/zone/list",
    "zone_points": "/zone/point/list",
    "zone_create": "/zone/create",
    "zone_update": "/zone/update",
    "zone_delete": "/zone/delete",
    "places": "/place/list",
    "place_create": "/place/create",
    "place_update": "/place/update",
    "place_delete": "/place/delete",
    "tasks": "/task/list",
    "task_create": "/task/create",
    "task_update": "/task/update",
    "task_assign": "/task/assign",
    "task_delete": "/task/delete",
}
# Codes with a rule of their own; any other is a VendorError naming the code.
SESSION_ENDED, TOO_MANY, SPAN_TOO_BIG, LIMIT_TOO_BIG = (3, 4), 15, 211, 212
ROW_CODES = {
    7: "invalid parameters",
    201: "not found",
    204: "tracker not found",
    208: "tracker blocked",
    217: "tracker unknown or blocked",
}
LOGIN_REFUSED = (102, 103, 12)  # wrong login or password, user not activated, dealer not found
INVALID_TASK_STATE = 255
MAX_STATES = 2000
MAX_SPAN = timedelta(days=120)  # maxReportTimeSpan
MAX_HISTORY = 1000  # maxHistoryLimit


class ItrackError(VendorError):
    """A ``success: false`` answer; ``code`` is Navixy's status code."""

    def __init__(self, call: str, code: object) -> None:
        super().__init__(f"{call}: iTrack error code {code}")
        self.code = code


class ItrackConnector(base.Connector):
    kind = "itrack"
    capabilities = frozenset(
        {
            base.DEVICES,
            base.DRIVERS,
            base.GEOFENCES,
            base.POIS,
            base.TASKS,
            base.POSITIONS,
            base.EVENTS,
            base.REPORTS,
            base.GEOFENCE_WRITE,
            base.POI_WRITE,
            base.TASK_WRITE,
        }
    )
    position_chunk = MAX_STATES  # one get_states call per chunk
    history_limit = MAX_HISTORY

    def __init__(self, account_id: int, base_url: str, credentials: dict[str, str]) -> None:
        super().__init__(account_id, base_url, credentials)
        self.learn_rate(settings.ITRACK_RATE, settings.ITRACK_RATE_MAX)
        self.workers = max(1, settings.ITRACK_CONCURRENCY)  # track/read requests in flight at once
        self.hash = ""
        self.max_span = MAX_SPAN  # smaller once the server answers 211 to a span of it
        self._zone: tzinfo | None = None

    # --- auth and calls -------------------------------------------------------
    def login(self) -> None:
        """The API key (``token``) is the hash as it is; otherwise ``user/auth`` with login and password (and
        the dealer id when the account has one) buys a session hash."""
        creds = self.credentials
        if creds.get("token"):
            self.hash, self.basic_auth, self.logged_in = str(creds["token"]), True, True
            return
        if not (creds.get("username") and creds.get("password")):
            raise VendorError("the account has no credentials: an API key, or a login and password", permanent=True)
        body = {"login": creds["username"], "password": creds["password"]}
        if creds.get("dealer_id"):
            body["dealer_id"] = creds["dealer_id"]
        answer = self.http.json("POST", PATHS["auth"], envelope=True, json=body)
        code = _failure(answer)
        if code in LOGIN_REFUSED:
            raise VendorError("login refused: check the account's login and password", permanent=True)
        if code is not None:
            raise ItrackError("user/auth", code)
        session = answer.get("hash") if isinstance(answer, dict) else None
        if not isinstance(session, str) or not session:
            raise VendorError(f"POST {PATHS['auth']}: the answer holds no hash")
        self.http.secrets = (*self.http.secrets, session)
        self.hash, self.logged_in = session, True

    def api(self, name: str, **params: Any) -> dict[str, Any]:
        """One call; a session that ended (code 4) is renewed once, code 15 is the shared rate-limit path. Safe
        from several threads: calls that meet the same ended session log in once between them."""
        generation = self._login_if(self.needs_login)
        try:
            return self._once(name, params)
        except AuthExpired:
            if self.basic_auth:
                raise VendorError(f"{PATHS[name]}: the API key is refused", permanent=True) from None
            self._login_if(lambda: self._auth_generation == generation)
            try:
                return self._once(name, params)
            except AuthExpired:
                raise VendorError(f"{PATHS[name]}: still refused after logging in again") from None

    def _once(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.json("POST", PATHS[name], envelope=True, json=params | {"hash": self.hash})
        code = _failure(answer)
        if code in SESSION_ENDED:
            raise AuthExpired(f"{PATHS[name]}: session ended")
        if code == TOO_MANY:  # answered with HTTP 200 (a 429 is the HTTP layer's, asked again there)
            self.http.slow_down()
            raise RateLimited(1.0)
        if code is not None:
            raise ItrackError(PATHS[name].strip("/"), code)
        return answer

    def zone(self) -> tzinfo:
        """The user's time zone (``user/get_info``), asked once per connector."""
        if self._zone is None:
            name = (self.api("user").get("user_info") or {}).get("time_zone")
            try:
                self._zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, TypeError, ValueError):
                raise VendorError(f"user/get_info: unknown time zone {name!r}") from None
        return self._zone

    def _rejected(self, resource: str, error: ItrackError, vendor_id: object) -> None:
        """A per-resource rejection of one tracker's rows (codes 7, 201, 204, 208, 217); any other code is raised."""
        if error.code not in ROW_CODES:
            raise error
        tally = self.rejects[resource]
        tally.received += 1
        tally.reject(f"{ROW_CODES[error.code]} (code {error.code})", vendor_id)

    # --- fetchers ---------------------------------------------------------------
    def _list(self, resource: str, name: str, mapper: Callable, **params: Any) -> list:
        return self.map_rows(resource, self.api(name, **params).get("list"), mapper)

    def devices(self) -> list[DeviceRecord]:
        return self._list(base.DEVICES, "trackers", parse.parse_tracker)

    def drivers(self) -> list[DriverRecord]:
        return self._list(base.DRIVERS, "employees", parse.parse_employee)

    def geofences(self) -> list[GeofenceRecord]:
        """Zones with their points (``zone/point/list`` for a polygon or sausage listed without them)."""
        rows = self.api("zones", with_points=True).get("list")
        return self.map_rows(base.GEOFENCES, rows, lambda row: parse.parse_zone(row, self._points_of(row)))

    def _points_of(self, row: dict[str, Any]) -> list | None:
        if row.get("type") == "circle" or isinstance(row.get("points"), list) or row.get("id") is None:
            return None
        return self.api("zone_points", zone_id=row["id"]).get("list")

    def pois(self) -> list[PoiRecord]:
        return self._list(base.POIS, "places", parse.parse_place)

    def tasks(self) -> list[TaskRecord]:
        zone = self.zone()
        return self._list(base.TASKS, "tasks", lambda row: parse.parse_task(row, zone))

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        """Per chunk of 2,000 trackers their states (the latest positions, one call), then the track points of
        each tracker whose latest fix is not older than ``since``; blocked and unknown trackers are counted."""
        for start in range(0, len(device_ids), MAX_STATES):
            chunk = device_ids[start : start + MAX_STATES]
            latest = self.states(chunk)
            yield list(latest.values())
            asked = [t for t in chunk if t in latest and latest[t].fix_time >= since]
            for tracker, fetched in zip(
                asked, self.each(lambda t: self._fetch_points(t, since, until), asked), strict=True
            ):
                batch = self._map_points(tracker, fetched)
                if batch:
                    yield batch

    def states(self, trackers: list[str]) -> dict[str, PositionRecord]:
        """The latest position of each tracker that has one; blocked and unknown ones are rejections."""
        answer = self.api("states", trackers=[_int_id(t) for t in trackers], list_blocked=True, allow_not_exist=True)
        zone = self.zone()
        for key, reason in (("blocked", "tracker blocked"), ("not_exist", "tracker unknown")):
            for tracker in answer.get(key) or []:
                self.rejects[base.POSITIONS].received += 1
                self.rejects[base.POSITIONS].reject(reason, tracker)
        states = answer.get("states")
        rows = [(str(k), v) for k, v in states.items()] if isinstance(states, dict) else []
        mapped = self.map_rows(base.POSITIONS, [{"id": k, "state": v} for k, v in rows], _state_mapper(zone))
        return {r.device_id: r for r in mapped if isinstance(r.fix_time, datetime)}

    def points(self, tracker: str, since: datetime, until: datetime) -> list[PositionRecord]:
        """The tracker's track points in [since, until]; a refused tracker is a counted rejection."""
        return self._map_points(tracker, self._fetch_points(tracker, since, until))

    def _fetch_points(self, tracker: str, since: datetime, until: datetime) -> list[list[Any]] | ItrackError:
        """The pages of the tracker's points (fetching only: safe in a pool thread), or the error refusing it."""
        try:
            return list(self._paged("points", {"tracker_id": _int_id(tracker)}, since, until, "get_time"))
        except ItrackError as error:
            return error

    def _map_points(self, tracker: str, fetched: list[list[Any]] | ItrackError) -> list[PositionRecord]:
        if isinstance(fetched, ItrackError):
            self._rejected(base.POSITIONS, fetched, tracker)
            return []
        zone, out = self.zone(), []
        for rows in fetched:
            out += self.map_rows(base.POSITIONS, parse.parse_points(rows, tracker, zone), parse.unwrap)
        return out

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        """History entries of the trackers; when the list is refused (a blocked tracker: 217), tracker by tracker,
        counting the refused ones."""
        try:
            return self._events(device_ids, since, until)
        except ItrackError as error:
            if error.code not in ROW_CODES or len(device_ids) < 2:
                raise
        out = []
        for tracker in device_ids:
            try:
                out += self._events([tracker], since, until)
            except ItrackError as error:
                self._rejected(base.EVENTS, error, tracker)
        return out

    def _events(self, trackers: list[str], since: datetime, until: datetime) -> list[EventRecord]:
        zone, seen, out = self.zone(), set(), []
        params = {"trackers": [_int_id(t) for t in trackers], "ascending": True}
        for rows in self._paged("events", params, since, until, "time", limit=True):
            fresh = [r for r in rows if not (isinstance(r, dict) and r.get("id") in seen)]
            seen.update(r.get("id") for r in fresh if isinstance(r, dict))
            out += self.map_rows(base.EVENTS, fresh, lambda row: parse.parse_event(row, zone))
        return out

    def _paged(
        self, name: str, params: dict[str, Any], since: datetime, until: datetime, time_key: str, limit: bool = False
    ) -> Iterator[list[Any]]:
        """The rows of [since, until] in windows of at most ``max_span`` (half the refused span while the server
        answers 211), each paged by moving ``from`` to the last row's time while the answer says
        ``limit_exceeded`` (with ``limit``: ``history_limit`` rows asked, half the refused number while the server
        answers 212). A ``limit_exceeded`` without rows is a range beyond the tariff's storage period: noted, not
        asked again. Several trackers are read at once (``each``): the limits shrink from what each refused request
        asked, never once more per request refused in parallel."""
        zone, start = self.zone(), since
        while start < until:
            end = min(until, start + self.max_span)
            first = parse.to_local(start, zone)
            try:
                yield from self._pages(name, params, first, _wall_clock_end(end, zone), time_key, limit)
            except ItrackError as error:
                if error.code == SPAN_TOO_BIG and end - start > timedelta(minutes=1):
                    self.max_span = min(self.max_span, (end - start) / 2)
                    continue
                raise
            start = end

    def _pages(
        self, name: str, params: dict[str, Any], first: str, last: str, time_key: str, limit: bool
    ) -> Iterator[list[Any]]:
        seen: set[tuple] = set()
        while True:
            most = self.history_limit
            asked = params | {"from": first, "to": last} | ({"limit": most} if limit else {})
            try:
                answer = self.api(name, **asked)
            except ItrackError as error:
                if error.code == LIMIT_TOO_BIG and limit and most > 1:
                    self.history_limit = min(self.history_limit, most // 2)
                    continue
                raise
            rows = answer.get("list")
            rows = rows if isinstance(rows, list) else []
            fresh = [r for r in rows if _row_key(r) not in seen]
            seen.update(_row_key(r) for r in fresh)
            yield fresh
            if not answer.get("limit_exceeded"):
                return
            newest = max(
                (r[time_key] for r in rows if isinstance(r, dict) and isinstance(r.get(time_key), str)), default=None
            )
            if not rows:
                self.rejects[base.POSITIONS if name == "points" else base.EVENTS].note(
                    "beyond the tariff's storage period"
                )
                return
            if newest is None or (newest <= first and not fresh):
                raise VendorError(f"{PATHS[name]}: a full answer that does not move on in time")
            first = newest

    def reports(self, kind: str, since: datetime, until: datetime, device_ids: list[str]) -> list[dict[str, Any]]:
        """Trips from the vendor's tracks (``track/list``), a summary added up from them."""
        if kind not in ("trips", "summary"):
            raise VendorError(f"itrack has no {kind} report", permanent=True)
        zone, rows = self.zone(), []
        for tracker in device_ids:
            found = []
            for page in self._paged("tracks", {"tracker_id": _int_id(tracker)}, since, until, "end_date"):
                found += self.map_rows(f"report {kind}", page, lambda row, t=tracker: parse.parse_track(row, t, zone))
            rows += [summary(tracker, found)] if kind == "summary" else found
        return rows

    # --- write-back -------------------------------------------------------------
    def _created(self, name: str, **params: Any) -> str:
        answer = self.api(name, **params)
        if answer.get("id") in (None, ""):
            raise VendorError(f"{PATHS[name]}: the answer holds no id")
        return str(answer["id"])

    def create_geofence(self, record: GeofenceRecord) -> str:
        zone, points = parse.render_zone(record)
        return self._created("zone_create", zone=zone, **({"points": points} if points else {}))

    def update_geofence(self, record: GeofenceRecord) -> None:
        zone, points = parse.render_zone(record)
        self.api("zone_update", zone=zone | {"id": _int_id(record.vendor_id)} | ({"points": points} if points else {}))

    def delete_geofence(self, vendor_id: str) -> None:
        self._delete("zone_delete", zone_id=_int_id(vendor_id))

    def link_geofence(self, device_id: str, geofence_id: str, unlink: bool = False) -> None:
        raise VendorError("itrack zones apply to every tracker: alerts are rules set up in iTrack", permanent=True)

    def create_poi(self, record: PoiRecord) -> str:
        return self._created("place_create", place=parse.render_place(record))

    def update_poi(self, record: PoiRecord) -> None:
        self.api("place_update", place=parse.render_place(record) | {"id": _int_id(record.vendor_id)})

    def delete_poi(self, vendor_id: str) -> None:
        self._delete("place_delete", place_id=_int_id(vendor_id))

    def create_task(self, record: TaskRecord) -> str:
        return self._created("task_create", task=parse.render_task(record, self.zone()))

    def update_task(self, record: TaskRecord) -> None:
        """Its fields, then its tracker (``task/assign``: an update ignores it; refused once the task is under
        way, code 255). Navixy sets statuses itself: a task cancelled in fleet is deleted there."""
        if record.status == "cancelled":
            self.delete_task(record.vendor_id)
            return
        task_id = _int_id(record.vendor_id)
        self.api("task_update", task=parse.render_task(record, self.zone()) | {"id": task_id})
        try:
            self.api("task_assign", task_id=task_id, tracker_id=_int_id(record.device_id) if record.device_id else None)
        except ItrackError as error:
            if error.code != INVALID_TASK_STATE:
                raise

    def delete_task(self, vendor_id: str) -> None:
        self._delete("task_delete", task_id=_int_id(vendor_id))

    def _delete(self, name: str, **params: Any) -> None:
        """A delete; one of something already gone (201) is done."""
        try:
            self.api(name, **params)
        except ItrackError as error:
            if error.code != 201:
                raise


def _wall_clock_end(end: datetime, zone: tzinfo) -> str:
    """``end`` on the user's wall clock; in the hour that repeats when the clocks go back, an hour later, so that
    the server (which reads the first of the two) still covers ``end``."""
    local = parse.to_local(end, zone)
    if parse.to_utc(local, zone) < end.replace(microsecond=0):
        return parse.to_local(end + timedelta(hours=1), zone)
    return local


def _failure(answer: object) -> object | None:
    """The status code of a ``success: false`` answer; None for success. A body that is neither is an error."""
    if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
        raise VendorError("the answer is not iTrack's envelope")
    if answer["success"]:
        return None
    status = answer.get("status")
    return status.get("code") if isinstance(status, dict) else "unknown"


def _int_id(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise VendorError(f"{value!r} is not an iTrack id", permanent=True) from None


def _row_key(row: object) -> tuple:
    if not isinstance(row, dict):
        return (repr(row),)
    return tuple(repr(row.get(k)) for k in ("id", "get_time", "time", "lat", "lng", "start_date"))


def _state_mapper(zone: tzinfo) -> Callable[[dict[str, Any]], PositionRecord]:
    def mapper(row: dict[str, Any]) -> PositionRecord:
        state = row["state"]
        if not isinstance(state, dict):
            raise base.Reject("state: not an object", row["id"])
        return parse.parse_state(row["id"], state, zone)

    return mapper
