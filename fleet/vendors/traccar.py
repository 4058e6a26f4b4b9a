"""The Traccar family (Data Trak is Traccar 4.2; Safectory Track is derived from it).

Paths, auth, fetchers, then the pure mappers. The Traccar facts handled here (dates, knots, milliseconds,
lat-first geofence WKT) are listed in docs/architecture.md (Connectors).
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from django.contrib.gis.geos import GEOSGeometry, LineString, Polygon

from fleet.tracking.attributes import number
from fleet.tracking.records import (
    DeviceRecord,
    DriverRecord,
    EventRecord,
    GeofenceRecord,
    GroupRecord,
    PositionRecord,
    TripRecord,
)
from fleet.vendors import base
from fleet.vendors.errors import AuthExpired, RateLimited, VendorError

KNOT_KMH = 1.852
CHUNK_DEVICES = 50  # device ids per report request

PATHS = {
    "session": "/api/session",
    "devices": "/api/devices",
    "groups": "/api/groups",
    "drivers": "/api/drivers",
    "geofences": "/api/geofences",
    "permissions": "/api/permissions",
    "route": "/api/reports/route",
    "events": "/api/reports/events",
    "trips": "/api/reports/trips",
    "stops": "/api/reports/stops",
    "summary": "/api/reports/summary",
    "socket": "/api/socket",
}


class TraccarConnector(base.Connector):
    capabilities = frozenset(
        {
            base.DEVICES,
            base.GROUPS,
            base.DRIVERS,
            base.GEOFENCES,
            base.POSITIONS,
            base.EVENTS,
            base.TRIPS,
            base.STREAM,
            base.GEOFENCE_WRITE,
        }
    )

    # --- auth -------------------------------------------------------------
    def login(self) -> None:
        """Session login (form email/password, or ?token=), which also serves the WebSocket."""
        creds, path = self.credentials, PATHS["session"]
        try:
            if creds.get("token"):
                self.http.request("GET", path, params={"token": creds["token"]})
            else:
                data = {"email": creds.get("username", ""), "password": creds.get("password", "")}
                self.http.request("POST", path, data=data)
        except AuthExpired:
            raise VendorError("login refused: check the account's credentials", permanent=True) from None
        except VendorError as exc:
            if creds.get("token") or isinstance(exc, RateLimited):
                raise
            self._use_basic_auth()  # no session endpoint: Basic auth on every call (no live socket)
            return
        if "JSESSIONID" not in self.http.client.cookies:
            if creds.get("token"):
                raise VendorError("token login answered without a session cookie")
            self._use_basic_auth()
            return
        self.logged_in = True

    def _use_basic_auth(self) -> None:
        self.http.client.auth = httpx.BasicAuth(
            self.credentials.get("username", ""), self.credentials.get("password", "")
        )
        self.logged_in = True

    # --- fetchers ---------------------------------------------------------
    def devices(self) -> list[DeviceRecord]:
        return [parse_device(d) for d in self.call("GET", PATHS["devices"])]

    def groups(self) -> list[GroupRecord]:
        return [parse_group(g) for g in self.call("GET", PATHS["groups"])]

    def drivers(self) -> list[DriverRecord]:
        return [parse_driver(d) for d in self.call("GET", PATHS["drivers"])]

    def geofences(self) -> list[GeofenceRecord]:
        return [parse_geofence(g) for g in self.call("GET", PATHS["geofences"])]

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        for chunk in _chunks(device_ids, CHUNK_DEVICES):
            rows = self.call("GET", PATHS["route"], params=_report_params(chunk, since, until))
            yield [self.parse_position(p) for p in rows]

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        out: list[EventRecord] = []
        for chunk in _chunks(device_ids, CHUNK_DEVICES):
            out += [
                parse_event(e) for e in self.call("GET", PATHS["events"], params=_report_params(chunk, since, until))
            ]
        return out

    def trips(self, since: datetime, until: datetime, device_ids: list[str]) -> list[TripRecord]:
        out: list[TripRecord] = []
        for chunk in _chunks(device_ids, CHUNK_DEVICES):
            out += [parse_trip(t) for t in self.call("GET", PATHS["trips"], params=_report_params(chunk, since, until))]
        return out

    def reports(self, kind: str, since: datetime, until: datetime, device_ids: list[str]) -> list[dict[str, Any]]:
        """The server's own trips / stops / summary report rows, mapped to canonical units (``REPORT_PARSERS``)."""
        parse = REPORT_PARSERS[kind]
        out: list[dict[str, Any]] = []
        for chunk in _chunks(device_ids, CHUNK_DEVICES):
            out += [parse(row) for row in self.call("GET", PATHS[kind], params=_report_params(chunk, since, until))]
        return out

    # --- write-back -------------------------------------------------------
    def create_geofence(self, record: GeofenceRecord) -> str:
        return str(self.call("POST", PATHS["geofences"], json=render_geofence(record))["id"])

    def update_geofence(self, record: GeofenceRecord) -> None:
        body = {"id": int(record.vendor_id), **render_geofence(record)}
        self.call("PUT", f"{PATHS['geofences']}/{record.vendor_id}", json=body)

    def delete_geofence(self, vendor_id: str) -> None:
        self.call("DELETE", f"{PATHS['geofences']}/{vendor_id}")

    def link_geofence(self, device_id: str, geofence_id: str, unlink: bool = False) -> None:
        body = {"deviceId": int(device_id), "geofenceId": int(geofence_id)}
        self.call("DELETE" if unlink else "POST", PATHS["permissions"], json=body)

    # --- live -------------------------------------------------------------
    def socket_url(self) -> str:
        return re.sub(r"^http", "ws", self.base_url) + PATHS["socket"]

    def socket_auth(self) -> dict[str, str]:
        """The session cookie of ``login``: Basic auth alone cannot open the socket."""
        cookie = self.http.client.cookies.get("JSESSIONID", "")
        if not cookie:
            raise VendorError("no session: the live socket needs a session login, this server allows only Basic auth")
        return {"Cookie": f"JSESSIONID={cookie}"}

    def parse_socket_message(self, message: dict[str, Any]) -> dict[str, list]:
        """Split one socket message into canonical records by kind (keys absent = nothing of that kind)."""
        return {
            "positions": [self.parse_position(p) for p in message.get("positions") or []],
            "devices": [parse_device(d) for d in message.get("devices") or []],
            "events": [parse_event(e) for e in message.get("events") or []],
            "pings": [],  # Traccar's socket does not ping
        }

    def parse_position(self, p: dict[str, Any]) -> PositionRecord:
        return parse_position(p)


# --- pure mappers -----------------------------------------------------------
def parse_time(value: str | None) -> datetime | None:
    """Traccar dates (``…000+0000``, ``…Z``, ``…+02:00``) → aware UTC datetimes."""
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _report_params(device_ids: list[str], since: datetime, until: datetime) -> list[tuple[str, str]]:
    return [("deviceId", d) for d in device_ids] + [("from", format_time(since)), ("to", format_time(until))]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


SIMPLE_ATTRIBUTES = (
    ("batteryLevel", "battery_level"),
    ("power", "power_v"),
    ("fuel", "fuel_l"),
    ("rssi", "rssi"),
    ("sat", "satellites"),
)


def position_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """Traccar attribute names → fleet's stable ones, in canonical units."""
    out: dict[str, Any] = {}
    get = attrs.get
    if "ignition" in attrs:
        out["ignition"] = bool(attrs["ignition"])
    if "motion" in attrs:
        out["motion"] = bool(attrs["motion"])
    for src, dst in SIMPLE_ATTRIBUTES:
        if (v := get(src)) is not None and (v := number(v)) is not None:
            out[dst] = v
    odometer = number(get("odometer")) or number(get("totalDistance"))
    if odometer is not None:
        out["odometer_m"] = odometer
    if (hours := number(get("hours"))) is not None:
        out["engine_hours_s"] = hours / 1000.0
    if sensors := _temperature_sensors(attrs):  # temp1, temp2, ... in sensor order
        out["temperatures"] = [t for _, t in sorted([(n, number(attrs[k])) for n, k in sensors]) if t is not None]
    if alarm := get("alarm"):
        out["alarm"] = str(alarm)
    if driver := get("driverUniqueId"):
        out["driver_unique_id"] = str(driver)
    return out


_sensor_keys: dict[tuple, list[tuple[int, str]]] = {}


def _temperature_sensors(attrs: dict[str, Any]) -> list[tuple[int, str]]:
    """(number, key) of each tempN attribute. A device sends the same few key sets over and over,
    so the scan of every key is cached per key set (bounded)."""
    names = tuple(attrs)
    sensors = _sensor_keys.get(names)
    if sensors is None:
        if len(_sensor_keys) >= 256:
            _sensor_keys.clear()
        sensors = _sensor_keys[names] = [(int(k[4:]), k) for k in names if k.startswith("temp") and k[4:].isdigit()]
    return sensors


def parse_position(p: dict[str, Any]) -> PositionRecord:
    get = p.get
    return PositionRecord(
        device_id=str(p["deviceId"]),
        fix_time=parse_time(get("fixTime") or get("deviceTime")),
        latitude=_coerce(get("latitude")),
        longitude=_coerce(get("longitude")),
        speed=(number(get("speed")) or 0.0) * KNOT_KMH,
        course=number(get("course")),
        altitude=number(get("altitude")),
        accuracy=number(get("accuracy")),
        valid=bool(get("valid", True)),
        server_time=parse_time(get("serverTime")),
        attributes=position_attributes(get("attributes") or {}),
    )


def _coerce(value: Any) -> float:
    """Coordinates as floats; anything unreadable becomes NaN, which ingest rejects and counts."""
    value = number(value)
    return float("nan") if value is None else value


def parse_device(d: dict[str, Any]) -> DeviceRecord:
    attrs = d.get("attributes") or {}
    return DeviceRecord(
        vendor_id=str(d["id"]),
        name=d.get("name") or str(d["id"]),
        unique_id=str(d.get("uniqueId") or ""),
        category="" if d.get("category") in (None, "null") else d["category"],  # Safectory sends the string "null"
        group_id=str(d["groupId"]) if d.get("groupId") else None,
        phone=d.get("phone") or "",
        model=d.get("model") or "",
        plate=str(attrs.get("plate") or attrs.get("licensePlate") or ""),
        disabled=bool(d.get("disabled")),
        status=d.get("status") if d.get("status") in ("online", "offline") else "unknown",
        last_update=parse_time(d.get("lastUpdate")),
    )


def parse_group(g: dict[str, Any]) -> GroupRecord:
    return GroupRecord(str(g["id"]), g.get("name") or str(g["id"]), str(g["groupId"]) if g.get("groupId") else None)


def parse_driver(d: dict[str, Any]) -> DriverRecord:
    attrs = d.get("attributes") or {}
    return DriverRecord(str(d["id"]), d.get("name") or "", str(d.get("uniqueId") or ""), str(attrs.get("phone") or ""))


def parse_event(e: dict[str, Any]) -> EventRecord:
    return EventRecord(
        device_id=str(e["deviceId"]),
        type=e.get("type") or "unknown",
        time=parse_time(e.get("serverTime") or e.get("eventTime")),  # renamed eventTime in Traccar 4.13
        vendor_id=str(e.get("id") or ""),
        geofence_id=str(e["geofenceId"]) if e.get("geofenceId") else None,
        position_vendor_id=str(e["positionId"]) if e.get("positionId") else None,
        attributes=dict(e.get("attributes") or {}),
    )


def parse_trip(t: dict[str, Any]) -> TripRecord:
    return TripRecord(
        device_id=str(t["deviceId"]),
        start_time=parse_time(t["startTime"]),
        end_time=parse_time(t["endTime"]),
        distance_m=number(t.get("distance")) or 0.0,
        duration_s=(number(t.get("duration")) or 0.0) / 1000.0,
        max_speed=(number(t.get("maxSpeed")) or 0.0) * KNOT_KMH,
        average_speed=(number(t.get("averageSpeed")) or 0.0) * KNOT_KMH,
        start_lat=number(t.get("startLat")),
        start_lon=number(t.get("startLon")),
        end_lat=number(t.get("endLat")),
        end_lon=number(t.get("endLon")),
        start_address=t.get("startAddress") or "",
        end_address=t.get("endAddress") or "",
        driver_unique_id=str(t.get("driverUniqueId") or ""),
        spent_fuel_l=number(t.get("spentFuel")),
    )


def parse_trip_report(t: dict[str, Any]) -> dict[str, Any]:
    """A ReportTrips row: knots -> km/h, duration ms -> s, distance stays metres."""
    trip = parse_trip(t)
    return {
        "device_id": trip.device_id,
        "device_name": t.get("deviceName") or "",
        "start": trip.start_time,
        "end": trip.end_time,
        "distance_m": trip.distance_m,
        "duration_s": trip.duration_s,
        "max_speed": trip.max_speed,
        "average_speed": trip.average_speed,
        "start_lat": trip.start_lat,
        "start_lon": trip.start_lon,
        "end_lat": trip.end_lat,
        "end_lon": trip.end_lon,
        "spent_fuel_l": trip.spent_fuel_l,
        "driver": t.get("driverName") or trip.driver_unique_id,
    }


def _ms(value: Any) -> float | None:
    value = number(value)
    return None if value is None else value / 1000.0


def parse_stop_report(s: dict[str, Any]) -> dict[str, Any]:
    """A ReportStops row. 4.2 sends latitude/longitude (its swagger says lat/lon: both are read); duration and
    engineHours in ms."""
    lat = number(s.get("latitude", s.get("lat")))
    lon = number(s.get("longitude", s.get("lon")))
    return {
        "device_id": str(s["deviceId"]),
        "device_name": s.get("deviceName") or "",
        "start": parse_time(s["startTime"]),
        "end": parse_time(s["endTime"]),
        "duration_s": _ms(s.get("duration")) or 0.0,
        "lat": lat,
        "lon": lon,
        "engine_hours_s": _ms(s.get("engineHours")),
        "spent_fuel_l": number(s.get("spentFuel")),
        "address": s.get("address") or "",
    }


def parse_summary_report(s: dict[str, Any]) -> dict[str, Any]:
    """A ReportSummary row (one per device over the whole range): knots -> km/h, engineHours ms -> s."""
    return {
        "device_id": str(s["deviceId"]),
        "device_name": s.get("deviceName") or "",
        "distance_m": number(s.get("distance")) or 0.0,
        "average_speed": (number(s.get("averageSpeed")) or 0.0) * KNOT_KMH,
        "max_speed": (number(s.get("maxSpeed")) or 0.0) * KNOT_KMH,
        "engine_hours_s": _ms(s.get("engineHours")),
        "spent_fuel_l": number(s.get("spentFuel")),
    }


REPORT_PARSERS = {"trips": parse_trip_report, "stops": parse_stop_report, "summary": parse_summary_report}


def swap_xy(shape: GEOSGeometry) -> GEOSGeometry:
    """Traccar writes (lat lon); GEOS wants (x=lon y=lat). Its own inverse."""
    if isinstance(shape, Polygon):
        return Polygon(*[[(y, x) for x, y in ring] for ring in shape])
    if isinstance(shape, LineString):
        return LineString([(y, x) for x, y in shape.coords])
    raise ValueError(f"unsupported geofence area {shape.geom_type}")


CIRCLE = re.compile(r"^\s*CIRCLE\s*\(\s*([-\d.eE]+)\s+([-\d.eE]+)\s*,\s*([-\d.eE]+)\s*\)\s*$", re.I)


def parse_area(area: str) -> tuple[str, str, float | None]:
    """Lat-first Traccar WKT → (kind, lon-first WKT, radius). Raises ValueError on anything else."""
    if m := CIRCLE.match(area):
        lat, lon, radius = (float(g) for g in m.groups())
        return "circle", f"POINT ({lon} {lat})", radius
    shape = GEOSGeometry(area)
    kinds = {"Polygon": "polygon", "LineString": "corridor"}
    if shape.geom_type not in kinds:
        raise ValueError(f"unsupported geofence area {shape.geom_type}")
    return kinds[shape.geom_type], swap_xy(shape).wkt, None


def parse_geofence(g: dict[str, Any]) -> GeofenceRecord:
    attrs = dict(g.get("attributes") or {})
    kind, wkt, radius = parse_area(g["area"])
    width = number(attrs.get("polylineDistance")) if kind == "corridor" else None
    return GeofenceRecord(
        vendor_id=str(g["id"]),
        name=g.get("name") or "",
        kind=kind,
        wkt=wkt,
        radius_m=radius,
        width_m=width or (25.0 if kind == "corridor" else None),
        description=g.get("description") or "",
        attributes=attrs,
    )


def render_area(record: GeofenceRecord) -> str:
    shape = GEOSGeometry(record.wkt)
    if record.kind == "circle":
        return f"CIRCLE ({shape.y} {shape.x}, {record.radius_m:g})"
    return swap_xy(shape).wkt


def render_geofence(record: GeofenceRecord) -> dict[str, Any]:
    attrs = dict(record.attributes)
    if record.kind == "corridor" and record.width_m:
        attrs["polylineDistance"] = record.width_m
    return {"name": record.name, "description": record.description, "area": render_area(record), "attributes": attrs}
