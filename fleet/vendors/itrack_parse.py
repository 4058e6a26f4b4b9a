"""Pure mappers of iTrack (Navixy) payloads to canonical records, and the bodies fleet sends back. Times are
"yyyy-MM-dd HH:mm:ss" in the user's zone (``to_utc``); a field the vendor leaves out or sends as ``null`` stays
None, never a default of ours."""

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from fleet.tracking.attributes import number
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
from fleet.vendors.errors import VendorError
from fleet.vendors.traccar import coordinate, optional_id, required_id

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
_LOCAL_SHAPE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
# Navixy history event types -> fleet's (Traccar's) names; any other type is kept under its Navixy name.
EVENT_TYPES = {
    "track_start": "deviceMoving",
    "track_end": "deviceStopped",
    "speedup": "deviceOverspeed",
    "inzone": "geofenceEnter",
    "outzone": "geofenceExit",
    "online": "deviceOnline",
    "offline": "deviceOffline",
    "sos": "alarm",
    "alarmcontrol": "alarm",
}
# Navixy task statuses -> fleet's; the vendor's own name is kept in the task's attributes.
TASK_STATUSES = {
    "unassigned": "created",
    "assigned": "created",
    "arrived": "in_progress",
    "delayed": "in_progress",
    "done": "completed",
    "faulty": "completed",
    "failed": "rejected",
}


# --- times ------------------------------------------------------------------
def to_utc(value: object, zone: tzinfo, field: str = "time", after: datetime | None = None) -> datetime | None:
    """A local "yyyy-MM-dd HH:mm:ss" of ``zone`` as aware UTC; None when absent. Of an hour that repeats when the
    clocks go back, the first, unless it would fall before ``after`` (rows in time order: then the second); a time
    the clocks skipped is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise base.Reject(f"{field}: unreadable")
    text = value.strip()
    try:  # fromisoformat is the fast path, for exactly "yyyy-MM-dd HH:mm:ss" (it would take other shapes too)
        naive = datetime.fromisoformat(text) if _LOCAL_SHAPE.fullmatch(text) else datetime.strptime(text, LOCAL_FORMAT)
    except ValueError:
        raise base.Reject(f"{field}: unreadable") from None
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first > second:  # in the gap: no wall clock showed this time
        raise base.Reject(f"{field}: not a local time (clocks skipped it)")
    if first != second and after is not None and first < after <= second:
        return second
    return first


def required_utc(value: object, zone: tzinfo, field: str, after: datetime | None = None) -> datetime:
    moment = to_utc(value, zone, field, after)
    if moment is None:
        raise base.Reject(f"{field}: missing")
    return moment


def to_local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime(LOCAL_FORMAT)


def _location(value: object, field: str) -> tuple[float, float]:
    """(lat, lng) of a Navixy location; NaN for what cannot be read (ingest refuses it and counts)."""
    if not isinstance(value, dict):
        raise base.Reject(f"{field}: missing")
    return coordinate(value.get("lat")), coordinate(value.get("lng"))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


# --- positions --------------------------------------------------------------
def parse_point(row: dict[str, Any], tracker: str, zone: tzinfo, after: datetime | None = None) -> PositionRecord:
    """A ``track/read`` point: speed km/h, ``alt`` m, ``precision`` m, ``mileage`` km, ``parking`` when not on a
    trip; ``satellites`` kept."""
    attrs: dict[str, Any] = {}
    if (sats := number(row.get("satellites"))) is not None:
        attrs["satellites"] = sats
    if (km := number(row.get("mileage"))) is not None and (metres := number(km * 1000)) is not None:
        attrs["odometer_m"] = metres
    if isinstance(row.get("parking"), bool):
        attrs["motion"] = not row["parking"]
    if _text(row.get("address")):
        attrs["address"] = row["address"]
    return PositionRecord(
        device_id=tracker,
        fix_time=required_utc(row.get("get_time"), zone, "get_time", after),
        latitude=coordinate(row.get("lat")),
        longitude=coordinate(row.get("lng")),
        speed=number(row.get("speed")) or 0.0,
        course=number(row.get("heading")),
        altitude=number(row.get("alt")),
        accuracy=number(row.get("precision")),
        valid=not row.get("gsm_lbs"),
        attributes=attrs,
    )


def parse_points(rows: list[Any], tracker: str, zone: tzinfo) -> list[Any]:
    """Points in time order, each read knowing the one before (so an hour that repeats reads right); in place of
    a row that cannot be read, the exception it raised (``map_rows`` with ``unwrap`` counts it)."""
    out: list[Any] = []
    after = None
    for row in rows:
        try:
            record = parse_point(row, tracker, zone, after)
        except base.ROW_FAILURES as exc:
            out.append(exc)
            continue
        out.append(record)
        after = record.fix_time
    return out


def unwrap(item: object) -> PositionRecord:
    """The mapper over ``parse_points``'s output: a record as it is, an exception raised again."""
    if isinstance(item, PositionRecord):
        return item
    raise item if isinstance(item, Exception) else base.Reject("unreadable row")


def parse_state(tracker: str, state: dict[str, Any], zone: tzinfo) -> PositionRecord:
    """A ``tracker/get_states`` state as the tracker's latest position: ``gps`` (location, speed, heading, alt),
    ignition, battery and GSM signal, movement and connection status."""
    gps = state.get("gps")
    if not isinstance(gps, dict):
        raise base.Reject("gps: missing", tracker)
    lat, lng = _location(gps.get("location"), "gps.location")
    attrs: dict[str, Any] = {}
    if isinstance(state.get("ignition"), bool):
        attrs["ignition"] = state["ignition"]
    if (battery := number(state.get("battery_level"))) is not None:
        attrs["battery_level"] = battery
    gsm = state.get("gsm")
    if isinstance(gsm, dict) and (rssi := number(gsm.get("signal_level"))) is not None:
        attrs["rssi"] = rssi
    for key in ("movement_status", "connection_status"):
        if _text(state.get(key)):
            attrs[key] = state[key]
    return PositionRecord(
        device_id=tracker,
        fix_time=required_utc(gps.get("updated"), zone, "gps.updated"),
        latitude=lat,
        longitude=lng,
        speed=number(gps.get("speed")) or 0.0,
        course=number(gps.get("heading")),
        altitude=number(gps.get("alt")),
        attributes=attrs,
    )


# --- devices, drivers, events, trips ----------------------------------------
def parse_tracker(row: dict[str, Any]) -> DeviceRecord:
    source = row.get("source") if isinstance(row.get("source"), dict) else {}
    vendor_id = required_id(row, "id")
    attrs = {
        "group_id": row.get("group_id"),
        "clone": row.get("clone"),
        "tariff_end_date": source.get("tariff_end_date"),
    }
    return DeviceRecord(
        vendor_id=vendor_id,
        name=_text(row.get("label")) or vendor_id,
        unique_id=str(source.get("device_id") or ""),
        model=_text(source.get("model")),
        phone=_text(source.get("phone")),
        disabled=source.get("blocked") is True,
        attributes={k: v for k, v in attrs.items() if v is not None},
    )


def parse_employee(row: dict[str, Any]) -> DriverRecord:
    """An employee (a driver): the name from its parts; the hardware key (iButton / RFID) identifies them."""
    name = " ".join(_text(row.get(k)) for k in ("first_name", "middle_name", "last_name") if _text(row.get(k)))
    attrs = {k: row.get(k) for k in ("tracker_id", "personnel_number", "driver_license_number", "email")}
    return DriverRecord(
        vendor_id=required_id(row, "id"),
        name=name,
        unique_id=str(row.get("hardware_key") or ""),
        phone=_text(row.get("phone")),
        attributes={k: v for k, v in attrs.items() if v not in (None, "")},
        device_id=optional_id(row, "tracker_id"),
    )


def parse_event(row: dict[str, Any], zone: tzinfo) -> EventRecord:
    """A history entry: Navixy's type mapped to fleet's when there is one, else kept (``vendor_type`` too)."""
    kind = _text(row.get("event")) or "unknown"
    attrs = {"vendor_type": kind, "message": _text(row.get("message")), "address": _text(row.get("address"))}
    location = row.get("location")
    if isinstance(location, dict):
        attrs |= {"latitude": number(location.get("lat")), "longitude": number(location.get("lng"))}
    return EventRecord(
        device_id=required_id(row, "tracker_id"),
        type=EVENT_TYPES.get(kind, kind),
        time=required_utc(row.get("time"), zone, "time"),
        vendor_id=required_id(row, "id"),
        attributes={k: v for k, v in attrs.items() if v not in (None, "")},
    )


def parse_track(row: dict[str, Any], tracker: str, zone: tzinfo) -> dict[str, Any]:
    """A ``track/list`` track as a vendor trips report row: ``length`` km → m."""
    start, end = (
        required_utc(row.get("start_date"), zone, "start_date"),
        required_utc(row.get("end_date"), zone, "end_date"),
    )
    km = number(row.get("length"))
    if km is not None and not 0 <= km <= 1e9:
        raise base.Reject("length: out of range")
    return {
        "device_id": tracker,
        "device_name": "",
        "start": start,
        "end": end,
        "distance_m": (km or 0.0) * 1000,
        "duration_s": (end - start).total_seconds(),
        "max_speed": number(row.get("max_speed")) or 0.0,
        "average_speed": number(row.get("avg_speed")) or 0.0,
        "start_address": _text(row.get("start_address")),
        "end_address": _text(row.get("end_address")),
        "spent_fuel_l": number(row.get("norm_fuel_consumed")),
        "driver": "",
    }


# --- zones, places, tasks ---------------------------------------------------
def _ring(points: object, field: str, least: int) -> list[tuple[float, float]]:
    if not isinstance(points, list) or len(points) < least:
        raise base.Reject(f"{field}: {least} points or more needed")
    out = []
    for p in points:
        lat, lng = _location(p, field)
        out.append((lng, lat))
    return out


def _coords(points: list[tuple[float, float]]) -> str:
    return ", ".join(f"{x!r} {y!r}" for x, y in points)


def parse_zone(row: dict[str, Any], points: list[Any] | None = None) -> GeofenceRecord:
    """A zone: a circle (``center``, ``radius`` m), a polygon (``points``) or a sausage (a corridor: ``points``
    and ``radius``, the distance from the line, so the corridor is twice as wide)."""
    vendor_id, kind = required_id(row, "id"), row.get("type")
    points = row.get("points") if points is None else points
    name, attrs = _text(row.get("label")), {"color": row.get("color"), "address": row.get("address")}
    attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
    radius = number(row.get("radius"))
    if kind == "circle":
        lat, lng = _location(row.get("center"), "center")
        return GeofenceRecord(vendor_id, name, "circle", f"POINT ({lng!r} {lat!r})", radius_m=radius, attributes=attrs)
    if kind == "polygon":
        ring = _ring(points, "points", 3)
        ring += ring[:1] if ring[0] != ring[-1] else []
        return GeofenceRecord(vendor_id, name, "polygon", f"POLYGON (({_coords(ring)}))", attributes=attrs)
    if kind == "sausage":
        line = _ring(points, "points", 2)
        width = radius * 2 if radius is not None else None
        return GeofenceRecord(
            vendor_id, name, "corridor", f"LINESTRING ({_coords(line)})", width_m=width, attributes=attrs
        )
    raise base.Reject(f"type: {kind!r} is no zone type")


def render_zone(record: GeofenceRecord) -> tuple[dict[str, Any], list[dict[str, float]] | None]:
    """(the ``zone`` object, its ``points`` or None for a circle) of a geofence."""
    from django.contrib.gis.geos import GEOSGeometry

    shape = GEOSGeometry(record.wkt)
    zone: dict[str, Any] = {
        "label": record.name[:100] or record.vendor_id,
        "address": record.attributes.get("address", ""),
    }
    zone["color"] = str(record.attributes.get("color") or "27A9E3")
    if record.kind == "circle":
        return zone | {"type": "circle", "center": {"lat": shape.y, "lng": shape.x}, "radius": record.radius_m}, None
    if record.kind == "polygon" and shape.geom_type == "Polygon":
        coords = shape.exterior_ring.coords[:-1]
        return zone | {"type": "polygon"}, [{"lat": y, "lng": x} for x, y in coords]
    if record.kind == "corridor" and shape.geom_type == "LineString" and record.width_m:
        return zone | {"type": "sausage", "radius": record.width_m / 2}, [{"lat": y, "lng": x} for x, y in shape.coords]
    raise VendorError(f"itrack has no {record.kind} zones of this shape: {record.name!r} is not sent", permanent=True)


def parse_place(row: dict[str, Any]) -> PoiRecord:
    location = row.get("location")
    lat, lng = _location(location, "location")
    radius = number(location.get("radius"))
    attrs = {"tags": row.get("tags") or None, "external_id": row.get("external_id"), "icon_id": row.get("icon_id")}
    return PoiRecord(
        vendor_id=required_id(row, "id"),
        name=_text(row.get("label")),
        latitude=lat,
        longitude=lng,
        radius_m=radius if radius is not None else float("nan"),
        description=_text(row.get("description")),
        address=_text(location.get("address")),
        attributes={k: v for k, v in attrs.items() if v not in (None, "")},
    )


def render_place(record: PoiRecord) -> dict[str, Any]:
    location = {"lat": record.latitude, "lng": record.longitude, "address": record.address[:255]}
    place = {"label": record.name or record.vendor_id, "description": record.description}
    place |= {"location": location | {"radius": min(300_000, max(1, round(record.radius_m)))}}
    if isinstance(record.attributes.get("external_id"), str):
        place["external_id"] = record.attributes["external_id"][:32]
    return place


def parse_task(row: dict[str, Any], zone: tzinfo) -> TaskRecord:
    """A task: its status mapped to fleet's (the vendor's kept as ``vendor_status``), ``from`` / ``to`` the time
    window, ``external_id`` the order reference (else the task's id)."""
    status = row.get("status")
    if status not in TASK_STATUSES:
        raise base.Reject(f"status: {status!r} unknown")
    vendor_id = required_id(row, "id")
    location = row.get("location")
    lat, lng = _location(location, "location")
    tracker = row.get("tracker_id")
    attrs = {"vendor_status": status, "radius_m": number(location.get("radius")), "description": row.get("description")}
    attrs |= {"arrival": row.get("arrival_date"), "stay_duration_s": number(row.get("stay_duration"))}
    return TaskRecord(
        vendor_id=vendor_id,
        order_ref=str(row.get("external_id") or vendor_id),
        latitude=lat,
        longitude=lng,
        device_id=str(tracker) if isinstance(tracker, int) and not isinstance(tracker, bool) else None,
        title=_text(row.get("label")),
        status=TASK_STATUSES[status],
        planned_start=to_utc(row.get("from"), zone, "from"),
        planned_stop=to_utc(row.get("to"), zone, "to"),
        address=_text(location.get("address")),
        attributes={k: v for k, v in attrs.items() if v not in (None, "")},
    )


def render_task(record: TaskRecord, zone: tzinfo) -> dict[str, Any]:
    """A task's body. Navixy needs the window: a task without one is planned from now, for a day."""
    start = record.planned_start or datetime.now(UTC)
    stop = record.planned_stop or start + timedelta(days=1)
    radius = number(record.attributes.get("radius_m")) or 150
    location = {"lat": record.latitude, "lng": record.longitude, "address": record.address, "radius": round(radius)}
    task = {"label": record.title or record.order_ref, "description": record.attributes.get("description") or ""}
    task |= {"location": location, "from": to_local(start, zone), "to": to_local(stop, zone)}
    task["external_id"] = record.order_ref[:32]
    if record.device_id:
        task["tracker_id"] = int(record.device_id)
    return task
