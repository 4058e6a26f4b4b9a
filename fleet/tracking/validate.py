"""The validation gate every canonical record passes before it is stored: ingest runs it on positions, the
model services on devices, groups, drivers, beacons, events, geofences and POIs. A check normalises what it
can in place (a course into [0, 360), a name cut to its column) and returns None, or the reason the record
is rejected. ``Tally`` counts what happened to a resource's rows. The rules: docs/architecture.md (Validation).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fleet.tracking.attributes import json_safe

FUTURE_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_MAX_SPEED_KMH = 300.0
ALTITUDE_RANGE_M = (-500.0, 20_000.0)
NULL_ISLAND_NEAR_M = 100_000.0  # a valid (0, 0) fix is believed from a device last seen this close to it


@dataclass
class Tally:
    """What happened to one resource's rows: ``received == created + updated + duplicates + rejected``.
    ``duplicates`` are rows already stored as they are; ``notes`` count fields dropped from kept rows."""

    received: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)

    def reject(self, reason: str, example: object = "", n: int = 1) -> None:
        self.rejected += n
        self.reasons[reason] += n
        if example not in ("", None):
            self.examples.setdefault(reason, str(example)[:100])

    def note(self, text: str, n: int = 1) -> None:
        self.notes[text] += n

    def add(self, other: Tally) -> None:
        self.received += other.received
        self.created += other.created
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.reasons.update(other.reasons)
        self.notes.update(other.notes)
        for reason, example in other.examples.items():
            self.examples.setdefault(reason, example)

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("received", "created", "updated", "duplicates", "rejected")}
        return out | {"reasons": dict(self.reasons), "examples": dict(self.examples), "notes": dict(self.notes)}


def in_time_window(moment: object, now: datetime, name: str = "time") -> str | None:
    """None for an aware time after 2000 and at most 5 minutes ahead of ``now``, else the reason."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        return f"{name} missing or naive"
    if moment < EARLIEST:
        return f"{name} before 2000"
    if moment > now + FUTURE_SKEW:
        return f"{name} in the future"
    return None


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------------------------------- positions


def position(record, now: datetime, max_speed_kmh: float, notes: Counter) -> str | None:
    """Check a PositionRecord; drop (and note) optional fields that cannot be true. (0, 0) is left to the
    caller, which knows where the device was (``is_null_island``)."""
    lat, lon = record.latitude, record.longitude
    if not (_finite(lat) and _finite(lon)):
        return "not a finite number"
    if not -90.0 <= lat <= 90.0:
        return "latitude out of range"
    if not -180.0 <= lon <= 180.0:
        return "longitude out of range"
    if reason := in_time_window(record.fix_time, now, "fix time"):
        return reason
    speed = record.speed
    if speed is None:
        record.speed = 0.0
    elif not _finite(speed) or speed < 0 or speed > max_speed_kmh:
        return "speed implausible"
    normalise_optional(record, notes)
    return None


def normalise_optional(record, notes: Counter) -> None:
    """Course into [0, 360); altitude, accuracy and attributes dropped where they cannot be true."""
    course = record.course
    if course is not None:
        if _finite(course):
            course %= 360.0
            record.course = 0.0 if course >= 360.0 else course  # -1e-43 % 360 rounds to 360
        else:
            record.course = None
            notes["course not a number: dropped"] += 1
    altitude = record.altitude
    if altitude is not None and not (_finite(altitude) and ALTITUDE_RANGE_M[0] <= altitude <= ALTITUDE_RANGE_M[1]):
        record.altitude = None
        notes["altitude out of range: dropped"] += 1
    accuracy = record.accuracy
    if accuracy is not None and not (_finite(accuracy) and accuracy >= 0):
        record.accuracy = None
        notes["accuracy not a positive number: dropped"] += 1
    if not isinstance(record.valid, bool):
        record.valid = bool(record.valid)


def is_null_island(record) -> bool:
    return record.latitude == 0 and record.longitude == 0


# -------------------------------------------------------------------------------------- other records


def _name(value: object, fallback: str, size: int) -> str:
    text = " ".join(str(value).replace("\x00", "").split()) if value is not None else ""
    return (text or fallback)[:size].rstrip()


def _text(value: object, size: int) -> str:
    """Text cut to its column, without the NUL characters PostgreSQL refuses in text."""
    return ("" if value is None else str(value).replace("\x00", "").strip())[:size]


def _time_or_none(moment: object, now: datetime) -> datetime | None:
    """A sane time, or None: before 2000, more than a day ahead, or not an aware datetime."""
    if isinstance(moment, datetime) and moment.tzinfo is not None and EARLIEST <= moment <= now + timedelta(days=1):
        return moment
    return None


def _vendor_id(record) -> str | None:
    vendor_id = _text(record.vendor_id, 100)
    if not vendor_id:
        return None
    record.vendor_id = vendor_id
    return vendor_id


def device(record, now: datetime) -> str | None:
    if (vendor_id := _vendor_id(record)) is None:
        return "no id"
    record.name = _name(record.name, vendor_id, 200)
    for name, size in (("unique_id", 100), ("category", 50), ("phone", 50), ("model", 100), ("plate", 50)):
        setattr(record, name, _text(getattr(record, name), size))
    record.last_update = _time_or_none(record.last_update, now)
    record.attributes = json_safe(record.attributes)
    return None


def group(record, now: datetime) -> str | None:
    if (vendor_id := _vendor_id(record)) is None:
        return "no id"
    record.name = _name(record.name, vendor_id, 200)
    record.attributes = json_safe(record.attributes)
    return None


def driver(record, now: datetime) -> str | None:
    if (vendor_id := _vendor_id(record)) is None:
        return "no id"
    record.name = _name(record.name, vendor_id, 200)
    record.unique_id, record.phone = _text(record.unique_id, 100), _text(record.phone, 50)
    record.device_id = _text(record.device_id, 100) or None
    record.attributes = json_safe(record.attributes)
    return None


def beacon(record, now: datetime) -> str | None:
    if _vendor_id(record) is None:
        return "no id"
    record.name, record.uuid = _text(record.name, 200), _text(record.uuid, 36)
    if not all(isinstance(v, int) and 0 <= v <= 65535 for v in (record.major, record.minor)):
        return "major / minor out of range"
    if record.latitude is not None or record.longitude is not None:
        lat, lon = record.latitude, record.longitude
        if not (_finite(lat) and _finite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            record.latitude = record.longitude = None
    if record.battery_level is not None and not (_finite(record.battery_level) and 0 <= record.battery_level <= 100):
        record.battery_level = None
    record.last_seen = _time_or_none(record.last_seen, now)
    record.attributes = json_safe(record.attributes)
    return None


def event(record, now: datetime) -> str | None:
    if not _text(record.device_id, 100):
        return "no deviceId"
    if reason := in_time_window(record.time, now):
        return reason
    record.type = _text(record.type, 50) or "unknown"
    record.vendor_id = _text(record.vendor_id, 100)
    record.attributes = json_safe(record.attributes)
    return None


def geofence(record) -> str | None:
    """Check a GeofenceRecord: its WKT must give the shape its kind names, inside the coordinate ranges,
    valid (repaired when that leaves one shape), with a positive radius or width."""
    from fleet.geo.validation import checked_wkt

    if _vendor_id(record) is None:
        return "no id"
    record.name = _name(record.name, record.vendor_id, 200)
    record.description = _text(record.description, 10_000)
    if record.kind == "circle" and not (_finite(record.radius_m) and record.radius_m > 0):
        return "radius: not a positive number"
    if record.kind == "corridor" and not (_finite(record.width_m) and record.width_m > 0):
        return "width: not a positive number"
    wkt, reason = checked_wkt(record.kind, record.wkt)
    if reason:
        return reason
    record.wkt = wkt
    record.attributes = json_safe(record.attributes)
    return None


TASK_STATUSES = frozenset(
    {"created", "assigned", "en_route", "arrived", "in_progress", "completed", "failed", "rejected", "cancelled"}
)


def task(record, now: datetime) -> str | None:
    """A TaskRecord: an id, an order reference, a destination in range and a known status; planned times kept
    only when sane."""
    if _vendor_id(record) is None:
        return "no id"
    record.order_ref = _text(record.order_ref, 100)
    if not record.order_ref:
        return "no order_ref"
    lat, lon = record.latitude, record.longitude
    if not (_finite(lat) and _finite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return "destination out of range"
    if record.status not in TASK_STATUSES:
        return "status: unknown"
    record.title = _name(record.title, "", 200)
    record.address = _text(record.address, 300)
    record.planned_start = _time_or_none(record.planned_start, now)
    record.planned_stop = _time_or_none(record.planned_stop, now)
    record.attributes = json_safe(record.attributes)
    return None


TASK_FILE_KINDS = frozenset(
    {"image", "cmr", "delivery_note", "order", "other", "receiver_signature", "sender_signature", "carrier_signature"}
)


def task_file(record, now: datetime) -> str | None:
    """A TaskFileRecord: an id, its task's id and a name; an unknown type is "other", a bad time dropped."""
    if _vendor_id(record) is None:
        return "no id"
    record.task_id = _text(record.task_id, 100)
    if not record.task_id:
        return "no task id"
    record.name = _name(record.name, record.vendor_id, 255)
    record.mime, record.sender = _text(record.mime, 100), _text(record.sender, 100)
    record.kind = record.kind if record.kind in TASK_FILE_KINDS else "other"
    record.uploaded = _time_or_none(record.uploaded, now)
    return None


def poi(record) -> str | None:
    if _vendor_id(record) is None:
        return "no id"
    lat, lon = record.latitude, record.longitude
    if not (_finite(lat) and _finite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return "point out of range"
    if not (_finite(record.radius_m) and record.radius_m > 0):
        return "radius: not a positive number"
    record.name = _name(record.name, record.vendor_id, 200)
    record.address = _text(record.address, 300)
    record.attributes = json_safe(record.attributes)
    return None


__all__ = ["Tally", "device", "driver", "event", "geofence", "group", "poi", "position"]
