"""The Traccar family (Data Trak is Traccar 4.2; Safectory Track is derived from it).

Paths, auth, fetchers, then the pure mappers. The Traccar facts handled here (dates, knots, milliseconds,
lat-first geofence WKT) are listed in docs/architecture.md (Connectors).
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from django.contrib.gis.geos import GEOSException, GEOSGeometry, LineString, Polygon

from fleet.geo.validation import close_rings
from fleet.tracking.attributes import flag, number
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
from fleet.vendors.errors import AuthExpired, VendorError

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
    "command_types": "/api/commands/types",
    "command_send": "/api/commands/send",
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
        """A session (by token, else by email and password), which also opens the live socket; when the server
        refuses or lacks one, Basic auth on every call. Only when every documented way is refused are the
        credentials called wrong; any other failure (the network, the server) is the error of that call."""
        creds = self.credentials
        ways = [("token", self._token_session)] if creds.get("token") else []
        if creds.get("username") or creds.get("password"):
            ways += [("session", self._password_session), ("Basic auth", self._basic_auth)]
        if not ways:
            raise VendorError("the account has no credentials", permanent=True)
        refused = []
        for name, way in ways:
            try:
                if way():
                    self.logged_in = True
                    return
            except AuthExpired:
                pass
            except VendorError as exc:
                if exc.status not in (404, 405):  # a missing session endpoint is a refusal; the rest is an error
                    raise
            refused.append(name)
        raise VendorError(f"login refused ({', '.join(refused)}): check the account's credentials", permanent=True)

    def _token_session(self) -> bool:
        self.http.request("GET", PATHS["session"], params={"token": self.credentials["token"]})
        return "JSESSIONID" in self.http.client.cookies

    def _password_session(self) -> bool:
        creds = self.credentials
        data = {"email": creds.get("username", ""), "password": creds.get("password", "")}
        self.http.request("POST", PATHS["session"], data=data)
        return "JSESSIONID" in self.http.client.cookies

    def _basic_auth(self) -> bool:
        """Basic auth cannot be tried without a call: it is set, and a 401 on the next call is final."""
        self.http.client.auth = httpx.BasicAuth(
            self.credentials.get("username", ""), self.credentials.get("password", "")
        )
        self.basic_auth = True
        return True

    # --- fetchers ---------------------------------------------------------
    def devices(self) -> list[DeviceRecord]:
        return self.map_rows(base.DEVICES, self.call("GET", PATHS["devices"]), parse_device)

    def groups(self) -> list[GroupRecord]:
        return self.map_rows(base.GROUPS, self.call("GET", PATHS["groups"]), parse_group)

    def drivers(self) -> list[DriverRecord]:
        return self.map_rows(base.DRIVERS, self.call("GET", PATHS["drivers"]), parse_driver)

    def geofences(self) -> list[GeofenceRecord]:
        return self.map_rows(base.GEOFENCES, self.call("GET", PATHS["geofences"]), parse_geofence)

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        for chunk in _chunks(device_ids, CHUNK_DEVICES):
            rows = self.call("GET", PATHS["route"], params=_report_params(chunk, since, until))
            yield self.map_rows(base.POSITIONS, rows, self.parse_position)

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        return self._report_rows(base.EVENTS, PATHS["events"], since, until, device_ids, parse_event)

    def trips(self, since: datetime, until: datetime, device_ids: list[str]) -> list[TripRecord]:
        return self._report_rows(base.TRIPS, PATHS["trips"], since, until, device_ids, parse_trip)

    def reports(self, kind: str, since: datetime, until: datetime, device_ids: list[str]) -> list[dict[str, Any]]:
        """The server's own trips / stops / summary report rows, mapped to canonical units (``REPORT_PARSERS``)."""
        return self._report_rows(f"report {kind}", PATHS[kind], since, until, device_ids, REPORT_PARSERS[kind])

    def _report_rows(self, resource: str, path: str, since, until, device_ids: list[str], parse) -> list:
        out: list = []
        for chunk in _chunks(device_ids, CHUNK_DEVICES):
            out += self.map_rows(resource, self.call("GET", path, params=_report_params(chunk, since, until)), parse)
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

    # --- commands ---------------------------------------------------------
    def command_types(self, device_id: str) -> list[str]:
        rows = self.call("GET", PATHS["command_types"], params={"deviceId": device_id})
        if not isinstance(rows, list):
            raise VendorError(f"command types: expected a list, got {type(rows).__name__}")
        return [row["type"] for row in rows if isinstance(row, dict) and isinstance(row.get("type"), str)]

    def send_command(self, device_id: str, command_type: str, attributes: dict[str, Any]) -> tuple[bool, Any]:
        """POST /api/commands/send: 200 sent, 202 queued until the device connects (Traccar 4.2)."""
        if not str(device_id).isdigit():
            raise VendorError(f"device id {device_id!r} is not a Traccar id", permanent=True)
        body = {"deviceId": int(device_id), "type": command_type, "attributes": attributes}
        # Sent once: a failed send may still have reached the device, and an engine stop is not sent twice
        response = self.call_response("POST", PATHS["command_send"], json=body, once=True)
        return response.status_code == 202, response._parsed

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
        """Split one socket message into canonical records by kind (keys absent = nothing of that kind); rows
        that cannot be read are counted in ``rejects`` like the poller's."""
        return {
            "positions": self.map_rows(base.POSITIONS, message.get("positions"), self.parse_position),
            "devices": self.map_rows(base.DEVICES, message.get("devices"), parse_device),
            "events": self.map_rows(base.EVENTS, message.get("events"), parse_event),
            "pings": [],  # Traccar's socket does not ping
        }

    def parse_position(self, p: dict[str, Any]) -> PositionRecord:
        return parse_position(p)


# --- pure mappers -----------------------------------------------------------
def parse_time(value: object, field: str = "time") -> datetime | None:
    """Traccar dates (``…000+0000``, ``…Z``, ``…+02:00``) as aware UTC datetimes; a date without a zone is UTC
    (Traccar's API speaks UTC); None when absent; ``Reject`` when unreadable."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an offset that leaves the calendar
        raise base.Reject(f"{field}: unreadable") from None


def required_time(value: object, field: str) -> datetime:
    moment = parse_time(value, field)
    if moment is None:
        raise base.Reject(f"{field}: missing")
    return moment


def required_id(row: dict[str, Any], key: str) -> str:
    """The row's ``key`` as a vendor id: present, not null, not empty."""
    value = row.get(key)
    if value is None or value == "" or isinstance(value, bool | dict | list):
        raise base.Reject(f"no {key}")
    return str(value)


def optional_id(row: dict[str, Any], key: str) -> str | None:
    """The row's ``key`` as a vendor id, or None when it is missing, empty, 0 or not an id."""
    value = row.get(key)
    if value in (None, "", 0) or isinstance(value, bool | dict | list | float):
        return None
    return str(value).strip() or None


def attributes_of(row: dict[str, Any]) -> dict[str, Any]:
    """The row's ``attributes`` when it is an object, else nothing (a string or a list is no attributes)."""
    attrs = row.get("attributes")
    return attrs if isinstance(attrs, dict) else {}


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
        out["ignition"] = flag(attrs["ignition"])
    if "motion" in attrs:
        out["motion"] = flag(attrs["motion"])
    for src, dst in SIMPLE_ATTRIBUTES:
        if (v := get(src)) is not None and (v := number(v)) is not None:
            out[dst] = v
    odometer = number(get("odometer")) or number(get("totalDistance"))
    if odometer is not None:
        out["odometer_m"] = odometer
    if (hours := number(get("hours"))) is not None:
        out["engine_hours_s"] = hours / 1000.0
    if sensors := _temperature_sensors(attrs):  # temp1, temp2, ... in sensor order
        readings = sorted(((n, number(attrs[k])) for n, k in sensors), key=lambda reading: reading[0])
        out["temperatures"] = [t for _, t in readings if t is not None]
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
        sensors = _sensor_keys[names] = [
            (int(k[4:]), k) for k in names if k.startswith("temp") and k[4:].isascii() and k[4:].isdigit()
        ]
    return sensors


def parse_position(p: dict[str, Any]) -> PositionRecord:
    get = p.get
    valid = flag(get("valid"))
    return PositionRecord(
        device_id=required_id(p, "deviceId"),
        fix_time=required_time(get("fixTime") or get("deviceTime"), "fixTime"),
        latitude=coordinate(get("latitude")),
        longitude=coordinate(get("longitude")),
        speed=(number(get("speed")) or 0.0) * KNOT_KMH,
        course=number(get("course")),
        altitude=number(get("altitude")),
        accuracy=number(get("accuracy")),
        valid=True if valid is None else valid,
        server_time=parse_time(get("serverTime"), "serverTime"),
        attributes=position_attributes(attributes_of(p)),
    )


def coordinate(value: Any) -> float:
    """Coordinates as floats; anything unreadable becomes NaN, which ingest rejects and counts."""
    value = number(value)
    return float("nan") if value is None else value


def parse_device(d: dict[str, Any]) -> DeviceRecord:
    attrs = attributes_of(d)
    vendor_id = required_id(d, "id")
    return DeviceRecord(
        vendor_id=vendor_id,
        name=str(d.get("name") or vendor_id),
        unique_id=str(d.get("uniqueId") or ""),
        category="" if d.get("category") in (None, "null") else d["category"],  # Safectory sends the string "null"
        group_id=str(d["groupId"]) if d.get("groupId") else None,
        phone=d.get("phone") or "",
        model=d.get("model") or "",
        plate=str(attrs.get("plate") or attrs.get("licensePlate") or ""),
        disabled=bool(flag(d.get("disabled"))),
        status=d.get("status") if d.get("status") in ("online", "offline") else "unknown",
        last_update=parse_time(d.get("lastUpdate"), "lastUpdate"),
    )


def parse_group(g: dict[str, Any]) -> GroupRecord:
    vendor_id = required_id(g, "id")
    return GroupRecord(vendor_id, str(g.get("name") or vendor_id), str(g["groupId"]) if g.get("groupId") else None)


def parse_driver(d: dict[str, Any]) -> DriverRecord:
    attrs = attributes_of(d)
    unique_id, phone = str(d.get("uniqueId") or ""), str(attrs.get("phone") or "")
    return DriverRecord(required_id(d, "id"), str(d.get("name") or ""), unique_id, phone)


def parse_event(e: dict[str, Any]) -> EventRecord:
    return EventRecord(
        device_id=required_id(e, "deviceId"),
        type=str(e.get("type") or "unknown"),
        time=required_time(e.get("serverTime") or e.get("eventTime"), _time_field(e)),
        vendor_id=str(e.get("id") or ""),
        geofence_id=str(e["geofenceId"]) if e.get("geofenceId") else None,
        position_vendor_id=str(e["positionId"]) if e.get("positionId") else None,
        attributes=dict(attributes_of(e)),
    )


def _time_field(e: dict[str, Any]) -> str:
    """The name of an event's time: serverTime in Traccar 4.2, eventTime from 4.13 on."""
    return "serverTime" if "serverTime" in e else "eventTime"


def parse_trip(t: dict[str, Any]) -> TripRecord:
    return TripRecord(
        device_id=required_id(t, "deviceId"),
        start_time=required_time(t.get("startTime"), "startTime"),
        end_time=required_time(t.get("endTime"), "endTime"),
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
        "device_id": required_id(s, "deviceId"),
        "device_name": s.get("deviceName") or "",
        "start": required_time(s.get("startTime"), "startTime"),
        "end": required_time(s.get("endTime"), "endTime"),
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
        "device_id": required_id(s, "deviceId"),
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


WKT = re.compile(r"^\s*((MULTI)?(POINT|LINESTRING|POLYGON)|GEOMETRYCOLLECTION)\s*\(", re.I)
CIRCLE = re.compile(r"^\s*CIRCLE\s*\(\s*([-\d.eE]+)\s+([-\d.eE]+)\s*,\s*([-\d.eE]+)\s*\)\s*$", re.I)


def parse_area(area: object) -> tuple[str, str, float | None]:
    """Lat-first Traccar WKT → (kind, lon-first WKT, radius); rings left open are closed. ``Reject`` for what
    is not a circle, a polygon or a line. Ranges and validity are the validation gate's."""
    if not isinstance(area, str) or not area.strip():
        raise base.Reject("area: missing")
    if m := CIRCLE.match(area):
        lat, lon, radius = (float(g) for g in m.groups())
        return "circle", f"POINT ({lon} {lat})", radius
    if not WKT.match(area):  # GEOS would hand other text (GeoJSON, hex WKB) to other readers
        raise base.Reject("area: not WKT")
    try:
        shape = GEOSGeometry(close_rings(area))
    except (GEOSException, ValueError, TypeError):
        raise base.Reject("area: not WKT") from None
    kinds = {"Polygon": "polygon", "LineString": "corridor"}
    if shape.geom_type not in kinds:
        raise base.Reject(f"area: a {shape.geom_type} is no geofence")
    lat0, lon0, lat1, lon1 = shape.extent  # checked before GEOS writes it out: it overflows on huge numbers
    if not (-90 <= lat0 <= lat1 <= 90 and -180 <= lon0 <= lon1 <= 180):
        raise base.Reject("area: coordinates out of range")
    try:
        return kinds[shape.geom_type], swap_xy(shape).wkt, None
    except (GEOSException, ValueError, TypeError):
        raise base.Reject("area: not a shape (too few points)") from None


def parse_geofence(g: dict[str, Any]) -> GeofenceRecord:
    attrs = dict(attributes_of(g))
    vendor_id = required_id(g, "id")
    kind, wkt, radius = parse_area(g.get("area"))
    # Traccar's polylineDistance is how far from the line a position may be (GeofencePolyline.containsPoint):
    # half the corridor's width; 25 m when not set (its geofence.polylineDistance default)
    half = number(attrs.get("polylineDistance")) if kind == "corridor" else None
    return GeofenceRecord(
        vendor_id=vendor_id,
        name=str(g.get("name") or ""),
        kind=kind,
        wkt=wkt,
        radius_m=radius,
        width_m=2 * (half or 25.0) if kind == "corridor" else None,
        description=str(g.get("description") or ""),
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
        attrs["polylineDistance"] = record.width_m / 2  # the distance from the line: half the width
    return {"name": record.name, "description": record.description, "area": render_area(record), "attributes": attrs}
