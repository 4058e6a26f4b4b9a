"""A device's route for the replay page and the live trail: compact rows and the stops on it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from fleet.reports import engine
from fleet.reports.loader import ignition_value
from fleet.reports.track import Params, Track
from fleet.tracking.models import Device, Position

MAX_POSITIONS = 50_000
MAX_RANGE = timedelta(days=31)

# [fix epoch s, lat, lon, speed km/h, course|null, valid, ignition|null]
Row = list


@dataclass
class Range:
    start: datetime
    end: datetime


def parse_range(params, tz: str = "UTC", default: timedelta = timedelta(hours=1)) -> Range | None:
    """The range asked for: ``preset`` (hour, today, yesterday in the time zone ``tz``) or ``from``/``to``
    ISO 8601 (naive times are in ``tz``; missing ends default to the last hour). None if invalid."""
    zone = ZoneInfo(tz)
    if params.get("preset"):
        return preset_range(params["preset"], zone)
    try:
        end = _parse(params.get("to"), zone) or timezone.now()
        start = _parse(params.get("from"), zone) or end - default
    except ValueError:
        return None
    if start >= end or end - start > MAX_RANGE:
        return None
    return Range(start, end)


def preset_range(name: str, zone: ZoneInfo) -> Range | None:
    now = timezone.now()
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "hour":
        return Range(now - timedelta(hours=1), now)
    if name == "today":
        return Range(midnight, now)
    if name == "yesterday":
        return Range(midnight - timedelta(days=1), midnight)  # wall-clock arithmetic: right across DST
    return None


def _parse(value: str | None, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value.strip().replace(" ", "+"))  # a "+" in a query string arrives as a space
    if parsed is None:
        raise ValueError(value)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=zone)


def rows(device: Device, span: Range) -> list[Row]:
    fields = ("fix_time", "latitude", "longitude", "speed", "course", "valid", "attributes")
    qs = Position.objects.filter(device=device, fix_time__gte=span.start, fix_time__lte=span.end)
    return [
        [t.timestamp(), lat, lon, speed, course, valid, (attrs or {}).get("ignition")]
        for t, lat, lon, speed, course, valid, attrs in qs.order_by("fix_time").values_list(*fields)[:MAX_POSITIONS]
    ]


def stops(track: Sequence[Row], params: Params, span: Range) -> list[dict]:
    """The stops on the route, found by the reports engine (the same detector and the organisation's
    parameters as the stops report). ``first`` / ``last`` index the rows where each stop begins and ends."""
    if not track:
        return []
    rows = list(zip(*track, strict=True))
    arrays = Track(
        t=np.array(rows[0], dtype=np.float64),
        lat=np.array(rows[1], dtype=np.float64),
        lon=np.array(rows[2], dtype=np.float64),
        speed=np.array([np.nan if v is None else v for v in rows[3]], dtype=np.float64),
        ignition=np.array([ignition_value(v) for v in rows[6]], dtype=np.float64),
        valid=np.array(rows[5], dtype=bool),
    )
    _, found = engine.detect(arrays, params, span.start, span.end)
    return [
        {
            "start": s.start_time.timestamp(),
            "end": s.end_time.timestamp(),
            "duration_s": s.duration_s,
            "lat": s.lat,
            "lon": s.lon,
            "first": s.start_index,
            "last": s.end_index,
        }  # fmt: skip
        for s in found
        if arrays.valid[s.start_index : s.end_index + 1].any()  # a stop with no valid fix has no place to mark
    ]
