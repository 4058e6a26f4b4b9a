"""Metrotec's payloads → canonical records and report rows, and fleet's objects → Metrotec's bodies: pure functions
of one row each (a row they cannot read raises ``base.Reject`` or fails, and ``map_rows`` counts it)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.tracking.attributes import flag, number
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
from fleet.vendors.errors import VendorError
from fleet.vendors.traccar import coordinate, optional_id, parse_time, required_id, required_time

REPORT_STATUSES = {0: "waiting", 1: "processing", 2: "done"}
TASK_STATUSES = {1: "created", 2: "in_progress", 3: "completed", 4: "rejected", 5: "cancelled"}
STATUS_CODES = {name: code for code, name in TASK_STATUSES.items()}
POI_PURPOSES = {0: "poi", 1: "customer", 2: "wifi", 3: "beacon"}
PURPOSE_CODES = {name: code for code, name in POI_PURPOSES.items()}
CENTURY_S = 3.2e9  # the longest duration a report row may hold
RENEW_MARGIN_S = 60.0  # log in again this long before a JWT expires (a fifth of a shorter lifetime)


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
    card = str(row.get("driverCardId") or "")
    return DriverRecord(required_id(row, "id"), str(name), card, device_id=optional_id(row, "object_id"))


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


def bounded(value: object, field: str, high: float) -> float:
    """A number from 0 to ``high`` (0 when absent); ``Reject`` when it is not."""
    amount = number(value)
    if amount is not None and not (0 <= amount <= high):
        raise base.Reject(f"{field}: out of range")
    return amount or 0.0


def kilometres(value: object, field: str) -> float:
    """A distance in km that is still finite in metres (0 when absent); ``Reject`` when it is not."""
    return bounded(value, field, 1e9)


def span(device_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The common part of a vendor report row that covers a span of time."""
    return {"device_id": device_id, "device_name": "", "start": start, "end": end} | {
        "duration_s": (end - start).total_seconds()
    }


def parse_stop_report(row: dict[str, Any]) -> dict[str, Any]:
    """A stops row: the drive from ``startTime`` to ``stopTime``, then the stop until ``stopEnd``."""
    start, end = required_time(row.get("stopTime"), "stopTime"), required_time(row.get("stopEnd"), "stopEnd")
    return span(required_id(row, "objectID"), start, end) | {
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


def parse_task_file(row: dict[str, Any]) -> TaskFileRecord:
    """A file of a task (``pivot_id`` is the task's id): its name is the ``defined_name`` people gave it, else the
    stored ``file_name``; ``file_type`` is its kind (image, cmr, delivery_note, …)."""
    kind = row.get("file_type")
    try:
        uploaded = parse_time(row.get("uploaded_at"), "uploaded_at")
    except base.Reject:  # the file is still worth listing
        uploaded = None
    return TaskFileRecord(
        vendor_id=required_id(row, "id"),
        task_id=required_id(row, "pivot_id"),
        name=str(row.get("defined_name") or row.get("file_name") or ""),
        mime=str(row.get("mime") or ""),
        kind=kind if isinstance(kind, str) else "other",
        uploaded=uploaded,
        sender=str(row.get("sender") or ""),
    )


def parse_fuel_event(row: dict[str, Any]) -> EventRecord:
    """A refuelling row (``fuelBeforeL`` → ``fuelAfterL`` from ``startTime`` to ``stopTime``) as a ``refuel`` event,
    or a ``deviceFuelDrop`` (Traccar's name) when the level fell; litres in the attributes."""
    before, after = litres(row.get("fuelBeforeL"), "fuelBeforeL"), litres(row.get("fuelAfterL"), "fuelAfterL")
    if before == after:
        raise base.Reject("fuel: no change")
    end = parse_time(row.get("stopTime"), "stopTime")
    attributes = {"litres": after - before, "fuel_before_l": before, "fuel_after_l": after}
    attributes |= {"end": end.isoformat() if end else None, "address": row.get("fuelAddress")}
    attributes["distance_m"] = kilometres(row.get("routeLengthKM"), "routeLengthKM") * 1000
    return EventRecord(
        device_id=required_id(row, "objectID"),
        type="refuel" if after > before else "deviceFuelDrop",
        time=required_time(row.get("startTime"), "startTime"),
        vendor_id=str(row.get("ID") or ""),
        attributes={k: v for k, v in attributes.items() if v not in (None, "")},
    )


def litres(value: object, field: str) -> float:
    """A fuel level in litres: a number from 0 to a million; ``Reject`` otherwise."""
    amount = number(value)
    if amount is None or not (0 <= amount <= 1e6):
        raise base.Reject(f"{field}: not a fuel level")
    return amount


def parse_work_time(row: dict[str, Any]) -> dict[str, Any]:
    """A vehicle's work and repair time in the period (seconds)."""
    seconds = {key: bounded(row.get(key), key, CENTURY_S) for key in ("work", "repair", "own_repair")}
    alias = row.get("alias")
    return {
        "device_id": required_id(row, "id"),
        "device_name": alias if isinstance(alias, str) else "",
        "work_s": seconds["work"],
        "repair_s": seconds["repair"],
        "own_repair_s": seconds["own_repair"],
    }


def parse_work_period(row: dict[str, Any]) -> dict[str, Any]:
    """One work (or repair) period of a vehicle, with its driver."""
    start, end = required_time(row.get("start"), "start"), required_time(row.get("stop"), "stop")
    return span(required_id(row, "object_id"), start, end) | {
        "status": str(row.get("status") or ""),
        "driver": str(row.get("name") or ""),
    }


def parse_waybill(row: dict[str, Any]) -> dict[str, Any]:
    """An open waybill: the vehicle's job and its driver."""
    return {
        "device_id": required_id(row, "object_id"),
        "device_name": "",
        "job": str(row.get("jobName") or ""),
        "start": required_time(row.get("start"), "start"),
        "end": parse_time(row.get("stop"), "stop"),
        "driver": str(row.get("driverName") or ""),
        "driver_alias": str(row.get("alias") or ""),
    }
