"""GPX files into a device's positions: the track points the hardened parser (``gpxparse``) reads become
``PositionRecord``s for the one ingest service, so importing a file again stores nothing new. How points are
checked and read: docs/positions-store.md (Ingest, GPX import).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from fleet.core.geodesy import bearing_deg, haversine_m
from fleet.tracking import ingest, validate
from fleet.tracking.gpxparse import GpxError, TrackPoint, parse
from fleet.tracking.records import PositionRecord

BATCH = 5000
NO_TIME = "no time"
TIME_OUT_OF_RANGE = "time out of range"
ELEVATION_M = (-500.0, 20_000.0)

Step = tuple[PositionRecord, PositionRecord] | None
Progress = Callable[[int, int], None]  # (points done, points in the file)


@dataclass
class ImportResult:
    read: int = 0  # track points in the file
    stored: int = 0
    duplicates: int = 0  # already stored (or repeated in the file)
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    elevations_dropped: Counter = field(default_factory=Counter)  # why -> kept points that lost their elevation
    zoneless: int = 0  # times written without a zone
    zone: str = "UTC"  # the zone they were read in

    def summary(self) -> str:
        text = f"{self.read} points read, {self.stored} stored, {self.duplicates} duplicates, {self.rejected} rejected"
        if self.reasons:
            text += f" ({_counts(self.reasons)})"
        if dropped := self.elevations_dropped.total():
            text += f"; {dropped} elevation{'s' * (dropped != 1)} dropped ({_counts(self.elevations_dropped)})"
        if self.zoneless:
            many = self.zoneless != 1
            text += f"; {self.zoneless} time{'s' * many} had no time zone: read as {self.zone}"
        return text


def _counts(counter: Counter) -> str:
    return ", ".join(f"{why}: {n}" for why, n in sorted(counter.items()))


def records(
    device_pk: int, segments: list[list[TrackPoint]], result: ImportResult, zone: tzinfo = UTC
) -> Iterator[PositionRecord]:
    """One record per usable track point, segment by segment; rejected points are counted in ``result``."""
    now = datetime.now(UTC)
    for segment in segments:
        usable = []
        for point in segment:
            record = _checked(str(device_pk), point, zone, now, result)
            if record is not None:
                usable.append((point, record))
        yield from _with_motion(usable)


def _checked(
    device_id: str, point: TrackPoint, zone: tzinfo, now: datetime, result: ImportResult
) -> PositionRecord | None:
    """The point as a record without speed and course, or None when it is rejected (counted with its reason)."""
    result.read += 1
    fix_time, reason = _fix_time(point.time, zone, result)
    if reason is None:
        record = PositionRecord(device_id, fix_time, point.latitude, point.longitude, attributes=_attributes(point))
        reason = validate.position(record, now, math.inf, Counter())  # the gate, before any step is derived
        if reason is None:
            record.altitude = _elevation(point.elevation, result)
            return record
    result.rejected += 1
    result.reasons[reason] += 1
    return None


def _fix_time(moment: datetime | None, zone: tzinfo, result: ImportResult) -> tuple[datetime | None, str | None]:
    if moment is None:  # absent, or not a time gpxpy can read
        return None, NO_TIME
    if moment.tzinfo is None:
        result.zoneless += 1
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC), None
    except (ValueError, OverflowError):  # an offset of a day or more, or a shift past year 1 or 9999
        return None, TIME_OUT_OF_RANGE


def _attributes(point: TrackPoint) -> dict:
    attributes = {}
    if point.hdop is not None:
        attributes["hdop"] = point.hdop
    if point.satellites is not None:
        attributes["satellites"] = point.satellites
    return attributes


def _elevation(value: float | None, result: ImportResult) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value):
        why = "not a finite number"
    elif not ELEVATION_M[0] <= value <= ELEVATION_M[1]:
        why = "out of range"
    else:
        return value
    result.elevations_dropped[why] += 1
    return None


def _with_motion(points: list[tuple[TrackPoint, PositionRecord]]) -> Iterator[PositionRecord]:
    """Speed and course from the file when it has them, else from the step into the point from the previous
    usable one (the first point of a segment: speed 0, no course)."""
    segment = [record for _, record in points]
    for i, (point, record) in enumerate(points):
        step = _step(segment, i)
        speed = _first_finite(point.extension_speed, point.speed, low=0.0)
        record.speed = speed * 3.6 if speed is not None else _step_speed_kmh(step)
        course = _first_finite(point.extension_course, point.course)
        record.course = course % 360.0 if course is not None else _bearing(step)
        yield record


def _step(segment: list[PositionRecord], i: int) -> Step:
    """The step into the point from the previous one; None for the first point of a segment (the step out of
    it belongs to what follows: a trip starts at the last stationary fix, docs/reports-engine.md)."""
    return (segment[i - 1], segment[i]) if i else None


def _first_finite(*values: float | None, low: float = -math.inf) -> float | None:
    return next((v for v in values if v is not None and math.isfinite(v) and v >= low), None)


def _step_speed_kmh(step: Step) -> float:
    if step is None:
        return 0.0
    a, b = step
    seconds = (b.fix_time - a.fix_time).total_seconds()
    return float(haversine_m(a.latitude, a.longitude, b.latitude, b.longitude)) / seconds * 3.6 if seconds > 0 else 0.0


def _bearing(step: Step) -> float | None:
    if step is None or (step[0].latitude, step[0].longitude) == (step[1].latitude, step[1].longitude):
        return None
    a, b = step
    return float(bearing_deg(a.latitude, a.longitude, b.latitude, b.longitude))


def import_gpx(device, data: bytes | str, zone: tzinfo = UTC) -> ImportResult:
    """Store a GPX file's track points as ``device``'s positions, reading times without a zone in ``zone``;
    raise GpxError for a file that cannot be read or has no point to store. The whole file is read (and
    refused past a limit) before anything is stored."""
    return import_segments(device, parse(data), zone)


def import_segments(
    device, segments: list[list[TrackPoint]], zone: tzinfo = UTC, progress: Progress | None = None
) -> ImportResult:
    """Store the track points of a parsed file (``parse``), batch by batch, calling ``progress(points done,
    points in the file)`` after each; raise GpxError when no point can be stored."""
    total = sum(map(len, segments))
    if progress is not None:
        progress(0, total)
    result = ImportResult(zone=str(zone))
    batch: list[PositionRecord] = []
    usable = 0
    for record in records(device.pk, segments, result, zone):
        usable += 1
        batch.append(record)
        if len(batch) >= BATCH:
            _store(device, batch, result)
            batch = []
            if progress is not None:
                progress(result.read, total)
    if not usable:
        raise GpxError(_nothing_to_store(result))
    _store(device, batch, result)
    if progress is not None:
        progress(total, total)
    return result


def _nothing_to_store(result: ImportResult) -> str:
    if result.reasons[NO_TIME] == result.read:
        return "no track point has a time"
    return f"every track point was rejected ({_counts(result.reasons)})"


def _store(device, batch: list[PositionRecord], result: ImportResult) -> None:
    if not batch:
        return
    stored = ingest.positions(device.organization_id, None, batch)
    result.stored += stored.created
    result.duplicates += stored.duplicates
    result.rejected += stored.rejected
    result.reasons.update(stored.reasons)
