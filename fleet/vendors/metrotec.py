"""Metrotec (Estonia): vehicles keyed by registration number, drivers, latest positions and route history, the
route log and stops, geozones, POIs and tasks (read and written), asynchronous POI reports (the vendor's
Metrotec API excerpt and reference/metrotec/NOTES.md).

Paths, auth, fetchers, then the pure mappers. The excerpt lost most URL paths: ``PATHS`` holds the ones its
naming implies, to verify against the vendor's published OpenAPI file; the base URL names the API root
(``https://api.metrotec.ee/api`` for 1.1.0, ``…/public`` for 1.0.0).
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.tracking.attributes import flag, number
from fleet.tracking.records import (
    DeviceRecord,
    DriverRecord,
    GeofenceRecord,
    PoiRecord,
    PositionRecord,
    TaskRecord,
)
from fleet.vendors import base
from fleet.vendors.errors import AuthExpired, VendorError
from fleet.vendors.traccar import coordinate, parse_time, required_id, required_time

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
}
REPORT_STATUSES = {0: "waiting", 1: "processing", 2: "done"}
TASK_STATUSES = {1: "created", 2: "in_progress", 3: "completed", 4: "rejected", 5: "cancelled"}
STATUS_CODES = {name: code for code, name in TASK_STATUSES.items()}
POI_PURPOSES = {0: "poi", 1: "customer", 2: "wifi", 3: "beacon"}
PURPOSE_CODES = {name: code for code, name in POI_PURPOSES.items()}
API_VERSION = "1.1.0"  # the version this connector was built against, sent in every Accept header
ACCEPT = f"application/json; version={API_VERSION}"
HISTORY_PAGE = 500  # rows per route history request
RENEW_MARGIN_S = 60.0  # log in again this long before a JWT expires (a fifth of a shorter lifetime)


class MetrotecConnector(base.Connector):
    kind = "metrotec"
    capabilities = frozenset(
        {
            base.DEVICES,
            base.DRIVERS,
            base.GEOFENCES,
            base.TASKS,
            base.POIS,
            base.POSITIONS,
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

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.logged_in and self.renew_at is not None and time.time() >= self.renew_at:
            self.logged_in = False
        return super().call(method, path, **kwargs)

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

    def pois(self) -> list[PoiRecord]:
        return self.map_rows(base.POIS, self.call("GET", PATHS["pois"]), parse_poi)

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        """Per vehicle, its latest position (the one with speed and heading) and then its route history from
        ``since``; the history repeats the latest fix, which ingest drops as a duplicate. A vehicle whose latest
        fix is older than ``since`` has no history to fetch: one request fewer (a request per vehicle is what
        bounds this vendor's sync)."""
        wanted = set(device_ids)
        latest = [r for r in self.latest() if r.device_id in wanted and _at_or_after(r.fix_time, since)]
        quiet = {r.device_id for r in self.latest() if r.device_id in wanted and _before(r.fix_time, since)}
        batch: list[PositionRecord] = latest
        for vehicle in (v for v in device_ids if v not in quiet):
            for rows in self.history(vehicle, since, until):
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

    def reports(self, kind: str, since: datetime, until: datetime, device_ids: list[str]) -> list[dict[str, Any]]:
        """Trips from the route log, stops from the stops list, a summary added up from the route log."""
        if kind not in ("trips", "stops", "summary"):
            raise VendorError(f"metrotec has no {kind} report", permanent=True)
        path, parse = (PATHS["stops"], parse_stop_report) if kind == "stops" else (PATHS["route_log"], parse_trip)
        rows = []
        for vehicle in device_ids:
            params = {"vehicle_id": vehicle, "period_start": format_time(since), "period_stop": format_time(until)}
            found = self.map_rows(f"report {kind}", self.call("GET", path, params=params), parse)
            rows += [summary(vehicle, found)] if kind == "summary" else found
        return rows

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
        """An edit (``edit: true``: the vendor keeps it in its audit log)."""
        self.call("PUT", f"{PATHS['tasks']}/{record.vendor_id}", json={**render_task(record), "edit": True})

    def delete_task(self, vendor_id: str) -> None:
        """Metrotec documents no delete: the task is cancelled and made inactive."""
        body = {"status": STATUS_CODES["cancelled"], "active": False, "edit": True}
        self.call("PUT", f"{PATHS['tasks']}/{vendor_id}", json=body)

    def create_poi(self, record: PoiRecord) -> str:
        return self._create(PATHS["pois"], render_poi(record))

    def update_poi(self, record: PoiRecord) -> None:
        self.call("PUT", f"{PATHS['pois']}/{record.vendor_id}", json=render_poi(record))

    def delete_poi(self, vendor_id: str) -> None:
        raise VendorError("metrotec cannot delete POIs (its API documents none): remove it in Metrotec", permanent=True)


# --- pure mappers -----------------------------------------------------------
def renew_at(expires: object, now: float) -> float | None:
    """When to renew a JWT whose ``expires`` is a Unix time (or, when small, seconds from now); None when the
    answer does not say (a 401 then triggers the renewal)."""
    value = number(expires)
    if value is None or value <= 0:
        return None
    at = value if value > 1e9 else now + value
    return at - min(RENEW_MARGIN_S, max(0.0, at - now) / 5)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


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


def parse_heading(value: object) -> float | None:
    """A heading in degrees: a number, or text like ``"357°"``."""
    if isinstance(value, str):
        value = value.strip().rstrip("°º").strip()
    return number(value)


def temperatures(row: dict[str, Any]) -> list[float]:
    """``t1``–``t4`` in sensor order, up to the last non-zero one (0 is what an unfitted sensor reads)."""
    readings = [number(row.get(f"t{k}")) for k in range(1, 5)]
    while readings and not readings[-1]:
        readings.pop()
    return [t for t in readings if t is not None]


def position_attributes(row: dict[str, Any]) -> dict[str, Any]:
    """Metrotec fields → fleet's stable attribute names: ``Input`` bit 0 is ignition, ``Power`` the supply
    voltage, ``BatLevel`` the backup battery (V), ``Counter1`` the odometer (km), ``fuel`` litres."""
    out: dict[str, Any] = {}
    inputs = number(row.get("Input", row.get("input")))
    if inputs is not None and inputs == int(inputs):
        out["ignition"] = bool(int(inputs) & 1)
    for key, name in (("Power", "power_v"), ("BatLevel", "battery"), ("fuel", "fuel_l")):
        if (value := number(row.get(key))) is not None:
            out[name] = value
    if (odometer := number(row.get("Counter1"))) is not None and (metres := number(odometer * 1000)) is not None:
        out["odometer_m"] = metres
    if temps := temperatures(row):
        out["temperatures"] = temps
    return out


def parse_position(row: dict[str, Any], vehicle: str | None = None) -> PositionRecord:
    """A latest-position row (``objectID``, ``Xpos`` = longitude, ``Ypos`` = latitude) or a route history row of
    ``vehicle`` (``lat``, ``lon``); ``GMTime`` is UTC, ``Speed`` km/h."""
    get = row.get
    no_fix = flag(get("NoGPSFix"))
    return PositionRecord(
        device_id=vehicle or required_id(row, "objectID"),
        fix_time=required_time(get("GMTime"), "GMTime"),
        latitude=coordinate(get("Ypos", get("lat"))),
        longitude=coordinate(get("Xpos", get("lon"))),
        speed=number(get("Speed")) or 0.0,
        course=parse_heading(get("Heading")),
        valid=not no_fix,
        attributes=position_attributes(row),
    )


def parse_vehicle(row: dict[str, Any]) -> DeviceRecord:
    """A vehicle: its id is the registration number, ``alias`` the name people use."""
    reg = required_id(row, "id")
    category = row.get("categoryName")
    return DeviceRecord(
        vendor_id=reg,
        name=str(row.get("alias") or reg),
        plate=reg,
        category=category if isinstance(category, str) else "",
    )


def parse_driver(row: dict[str, Any]) -> DriverRecord:
    name = row.get("driverName") or " ".join(str(row[k]) for k in ("name", "fname") if row.get(k))
    return DriverRecord(required_id(row, "id"), str(name), str(row.get("driverCardId") or ""))


def parse_trip(row: dict[str, Any]) -> dict[str, Any]:
    """A route log row as a vendor trips report row: km → m; the driving time is the trip's duration."""
    start, end = required_time(row.get("startTime"), "startTime"), required_time(row.get("stopTime"), "stopTime")
    driving = number(row.get("drivingTimeSeconds"))
    return {
        "device_id": required_id(row, "objectID"),
        "device_name": "",
        "start": start,
        "end": end,
        "distance_m": kilometres(row.get("routeLengthKM"), "routeLengthKM") * 1000,
        "duration_s": driving if driving is not None else (end - start).total_seconds(),
        "max_speed": number(row.get("maxSpeed")) or 0.0,
        "average_speed": number(row.get("averageSpeed")) or 0.0,
        "start_address": str(row.get("AddressAtStartingPoint") or ""),
        "end_address": str(row.get("AddressAtEndPoint") or ""),
        "spent_fuel_l": None,
        "driver": "",
    }


def kilometres(value: object, field: str) -> float:
    """A distance in km that is still finite in metres (0 when absent); ``Reject`` when it is not."""
    km = number(value)
    if km is not None and not (0 <= km <= 1e9):
        raise base.Reject(f"{field}: out of range")
    return km or 0.0


def parse_stop_report(row: dict[str, Any]) -> dict[str, Any]:
    """A stops row: the drive from ``startTime`` to ``stopTime``, then the stop until ``stopEnd``."""
    start, end = required_time(row.get("stopTime"), "stopTime"), required_time(row.get("stopEnd"), "stopEnd")
    return {
        "device_id": required_id(row, "objectID"),
        "device_name": "",
        "start": start,
        "end": end,
        "duration_s": (end - start).total_seconds(),
        "lat": None,
        "lon": None,
        "engine_hours_s": None,
        "spent_fuel_l": None,
        "address": "",
    }


def summary(vehicle: str, trips: list[dict[str, Any]]) -> dict[str, Any]:
    """One vehicle's route log added up (Metrotec has no summary of its own); ignition-on time as engine hours."""
    distance, driving = sum(t["distance_m"] for t in trips), number(sum(t["duration_s"] for t in trips)) or 0.0
    return {
        "device_id": vehicle,
        "device_name": "",
        "distance_m": distance,
        "average_speed": (number(distance / driving * 3.6) or 0.0) if driving > 0 else 0.0,
        "max_speed": max((t["max_speed"] for t in trips), default=0.0),
        "engine_hours_s": driving,
        "spent_fuel_l": None,
    }


def _point(value: object, field: str) -> tuple[float, float]:
    """(lng, lat) of a Leaflet ``{"lat", "lng"}``; ``Reject`` unless both are numbers in range."""
    if not isinstance(value, dict):
        raise base.Reject(f"{field}: not a point")
    lat, lng = number(value.get("lat")), number(value.get("lng"))
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise base.Reject(f"{field}: coordinates out of range")
    return lng, lat


def parse_geometry(value: object) -> tuple[str, str, float | None]:
    """A geozone's geometry (an object, or the JSON string the vendor takes on writing) → (kind, lon-first WKT,
    radius): a circle (``latlng``, ``radius`` in m) or a polygon (``latlngs``, closed here)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise base.Reject("geometry: not JSON") from None
    if not isinstance(value, dict):
        raise base.Reject("geometry: missing")
    if value.get("type") == "circle":
        lng, lat = _point(value.get("latlng"), "geometry")
        return "circle", f"POINT ({lng!r} {lat!r})", number(value.get("radius"))
    if value.get("type") == "polygon":
        points = value.get("latlngs")
        if isinstance(points, list) and len(points) == 1 and isinstance(points[0], list):
            points = points[0]  # Leaflet nests a polygon's rings
        if not isinstance(points, list) or len(points) < 3:
            raise base.Reject("geometry: a polygon needs three points or more")
        ring = [_point(p, "geometry") for p in points]
        ring += ring[:1] if ring[0] != ring[-1] else []
        return "polygon", "POLYGON ((" + ", ".join(f"{x!r} {y!r}" for x, y in ring) + "))", None
    raise base.Reject(f"geometry: a {value.get('type')!r} is no geozone")


def parse_geozone(row: dict[str, Any]) -> GeofenceRecord:
    vendor_id = required_id(row, "id")
    kind, wkt, radius = parse_geometry(row.get("geometry"))
    name = row.get("name")
    return GeofenceRecord(vendor_id, name if isinstance(name, str) else "", kind, wkt, radius_m=radius)


def render_geozone(record: GeofenceRecord) -> dict[str, Any]:
    """A geozone's body: its geometry as a JSON string. Metrotec has circles and polygons, no corridors."""
    from django.contrib.gis.geos import GEOSGeometry

    shape = GEOSGeometry(record.wkt)
    if record.kind == "circle":
        geometry = {"latlng": {"lat": shape.y, "lng": shape.x}, "radius": record.radius_m, "type": "circle"}
    elif record.kind == "polygon" and shape.geom_type == "Polygon":
        geometry = {"latlngs": [{"lat": y, "lng": x} for x, y in shape.exterior_ring.coords[:-1]], "type": "polygon"}
    else:
        raise VendorError(f"metrotec has no {record.kind} geozones: {record.name!r} is not sent", permanent=True)
    return {
        "name": record.name,
        "geometry": json.dumps(geometry),
        "cAlarmState": False,
        "countAlarm": 4,
        "zObjects": [],
    }


def parse_task(row: dict[str, Any]) -> TaskRecord:
    """A task: status 1–5 → fleet's names; times are UTC; ``object_id`` is the vehicle."""
    status = number(row.get("status"))
    if status not in TASK_STATUSES:
        raise base.Reject("status: not 1 to 5")
    vehicle = row.get("object_id")
    return TaskRecord(
        vendor_id=required_id(row, "id"),
        order_ref=required_id(row, "order_ref"),
        latitude=coordinate(row.get("lat")),
        longitude=coordinate(row.get("lon")),
        device_id=str(vehicle) if isinstance(vehicle, str | int) and vehicle != "" else None,
        title=str(row.get("task_description") or ""),
        status=TASK_STATUSES[int(status)],
        planned_start=parse_time(row.get("start_time"), "start_time"),
        planned_stop=parse_time(row.get("stop_time"), "stop_time"),
        address=str(row.get("task_address") or ""),
        attributes={"updated_at": row.get("updated_at"), "notes": row.get("task_notes")},
    )


def render_task(record: TaskRecord) -> dict[str, Any]:
    """A task's body. The vendor requires the times: a task without them is planned from now, for a day."""
    start = record.planned_start or datetime.now(UTC)
    stop = record.planned_stop or start + timedelta(days=1)
    return {
        "object_id": record.device_id,
        "lat": record.latitude,
        "lon": record.longitude,
        "start_time": format_time(start),
        "stop_time": format_time(stop),
        "order_ref": record.order_ref,
        "task_address": record.address,
        "task_description": record.title,
        "status": STATUS_CODES[record.status],
        "active": record.status not in ("completed", "rejected", "cancelled"),
    }


def parse_poi(row: dict[str, Any]) -> PoiRecord:
    """A POI: purpose 0–3 → poi, customer, wifi, beacon; ``type`` (1–9) is its group; the phone is the country code
    and the number."""
    purpose = number(row.get("purpose"))
    radius = number(row.get("radius"))
    phone = " ".join(str(row[k]) for k in ("country_code", "phone_nr") if isinstance(row.get(k), str) and row[k])
    attrs = {"purpose": POI_PURPOSES.get(int(purpose)) if purpose in POI_PURPOSES else None, "type": row.get("type")}
    attrs |= {"contact_name": row.get("contact_name"), "contact_phone": phone}
    return PoiRecord(
        vendor_id=required_id(row, "id"),
        name=str(row.get("name") or ""),
        latitude=coordinate(row.get("lat")),
        longitude=coordinate(row.get("lon")),
        radius_m=50.0 if radius is None else radius,
        description=str(row.get("comment") or ""),
        address=str(row.get("rgAddress") or ""),
        attributes={k: v for k, v in attrs.items() if v not in (None, "")},
    )


def render_poi(record: PoiRecord) -> dict[str, Any]:
    """A POI's body. ``comment`` is required (a router's or beacon's MAC address): the description, else the
    name. ``lat`` is the latitude (the excerpt's create example has the two swapped)."""
    attrs = record.attributes
    body = {
        "lat": record.latitude,
        "lon": record.longitude,
        "name": record.name[:50],
        "purpose": PURPOSE_CODES.get(attrs.get("purpose"), 0),
        "comment": (record.description or record.name)[:255],
        "radius": max(1, round(record.radius_m)),
        "rgAddress": record.address,
    }
    if isinstance(attrs.get("type"), int) and 1 <= attrs["type"] <= 9:
        body["type"] = attrs["type"]
    if attrs.get("contact_name"):
        body["contact_name"] = str(attrs["contact_name"])
    if attrs.get("contact_phone"):
        body["phone_nr"] = str(attrs["contact_phone"])
    return body


def parse_visit(row: dict[str, Any]) -> dict[str, Any]:
    """A POI report row: one stay of a vehicle at a POI (``distance`` km → m)."""
    enter, leave = required_time(row.get("in_time"), "in_time"), required_time(row.get("out_time"), "out_time")
    seconds = number(row.get("in_poi_time"))
    return {
        "device_id": required_id(row, "object_id"),
        "poi": str(row.get("type_name") or ""),
        "enter": enter,
        "exit": leave,
        "duration_s": seconds if seconds is not None else (leave - enter).total_seconds(),
        "distance_m": kilometres(row.get("distance"), "distance") * 1000,
    }
