"""GPX files into a device's positions: track points become ``PositionRecord``s for the one ingest service,
so importing a file again stores nothing new. How times, speeds and courses are read: docs/positions-store.md
(Ingest, GPX import).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import gpxpy
import gpxpy.gpx

from fleet.core.geodesy import bearing_deg, haversine_m
from fleet.tracking import ingest
from fleet.tracking.records import PositionRecord

BATCH = 5000
NO_TIME = "no time"

_ENCODING = re.compile(rb"""^<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


class GpxError(ValueError):
    """The file is not a GPX track we can read; the message says why, for the user."""


@dataclass
class ImportResult:
    read: int = 0  # track points in the file
    stored: int = 0
    duplicates: int = 0  # already stored (or repeated in the file)
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        text = f"{self.read} points read, {self.stored} stored, {self.duplicates} duplicates, {self.rejected} rejected"
        if self.reasons:
            text += " (" + ", ".join(f"{why}: {n}" for why, n in sorted(self.reasons.items())) + ")"
        return text


def decode(data: bytes | str) -> str:
    """The file as text, in the encoding its XML declaration names (UTF-8 by default)."""
    if isinstance(data, str):
        return data
    declared = _ENCODING.match(data.lstrip(b"\xef\xbb\xbf")[:200])
    name = declared.group(1).decode() if declared else "UTF-8"
    codec = "utf-8-sig" if name.lower().replace("_", "-") in ("utf-8", "utf8") else name
    try:
        return data.decode(codec)
    except LookupError as exc:
        raise GpxError(f"unknown text encoding {name!r}") from exc
    except UnicodeDecodeError as exc:
        raise GpxError(f"not {name} text (byte {exc.start})") from exc


def parse(data: bytes | str) -> gpxpy.gpx.GPX:
    try:
        gpx = gpxpy.parse(decode(data))
    except gpxpy.gpx.GPXXMLSyntaxException as exc:
        raise GpxError(f"not a GPX file ({str(exc).removeprefix('Error parsing XML: ')})") from exc
    except gpxpy.gpx.GPXException as exc:
        raise GpxError(f"invalid GPX: {exc}") from exc
    if not any(segment.points for track in gpx.tracks for segment in track.segments):
        raise GpxError("the file has no track points")
    return gpx


def records(device_pk: int, gpx: gpxpy.gpx.GPX, result: ImportResult) -> Iterator[PositionRecord]:
    """One record per timed track point; points without time are counted in ``result``."""
    for track in gpx.tracks:
        for segment in track.segments:
            timed = []
            for point in segment.points:
                result.read += 1
                if point.time is None:
                    result.rejected += 1
                    result.reasons[NO_TIME] += 1
                else:
                    timed.append(point)
            yield from _segment_records(str(device_pk), timed)


def _segment_records(device_id: str, points: list[gpxpy.gpx.GPXTrackPoint]) -> Iterator[PositionRecord]:
    for i, point in enumerate(points):
        j, k = (i - 1, i) if i else (0, 1)  # the step to the previous point, or to the next for the first
        step = (points[j], points[k]) if k < len(points) else None
        speed, course = _extension(point, "speed"), _extension(point, "course")
        if speed is None:
            speed = point.speed
        attributes = {}
        if point.horizontal_dilution is not None:
            attributes["hdop"] = point.horizontal_dilution
        if point.satellites is not None:
            attributes["satellites"] = point.satellites
        yield PositionRecord(
            device_id=device_id,
            fix_time=_utc(point.time),
            latitude=point.latitude,
            longitude=point.longitude,
            speed=speed * 3.6 if speed is not None else _step_speed_kmh(step),
            course=course if course is not None else point.course if point.course is not None else _bearing(step),
            altitude=point.elevation,
            attributes=attributes,
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _extension(point: gpxpy.gpx.GPXTrackPoint, name: str) -> float | None:
    """A numeric extension element by local name, at any depth (``gpxtpx:speed``, ``speed``, ...)."""
    for root in point.extensions:
        for element in root.iter():
            tag = element.tag if isinstance(element.tag, str) else ""
            if tag.rpartition("}")[2].lower() == name and element.text:
                try:
                    value = float(element.text)
                except ValueError:
                    return None
                return value if math.isfinite(value) else None
    return None


def _step_speed_kmh(step) -> float:
    if step is None:
        return 0.0
    a, b = step
    seconds = (b.time - a.time).total_seconds()
    return float(haversine_m(a.latitude, a.longitude, b.latitude, b.longitude)) / seconds * 3.6 if seconds > 0 else 0.0


def _bearing(step) -> float | None:
    if step is None or (step[0].latitude, step[0].longitude) == (step[1].latitude, step[1].longitude):
        return None
    a, b = step
    return float(bearing_deg(a.latitude, a.longitude, b.latitude, b.longitude))


def import_gpx(device, data: bytes | str) -> ImportResult:
    """Store a GPX file's track points as ``device``'s positions; raise GpxError for an unreadable file."""
    gpx = parse(data)
    result = ImportResult()
    batch: list[PositionRecord] = []
    for record in records(device.pk, gpx, result):
        batch.append(record)
        if len(batch) >= BATCH:
            _store(device, batch, result)
            batch = []
    _store(device, batch, result)
    return result


def _store(device, batch: list[PositionRecord], result: ImportResult) -> None:
    if not batch:
        return
    stored = ingest.positions(device.organization_id, None, batch)
    result.stored += stored.created
    result.duplicates += stored.duplicates
    result.rejected += stored.rejected
    result.reasons.update(stored.reasons)
