"""A device's route for the replay page and the live trail: compact rows and the stops on it."""

from collections.abc import Sequence

import numpy as np

from fleet.reports import engine
from fleet.reports.periods import Range
from fleet.tracking import store
from fleet.tracking.models import Device

MAX_POSITIONS = 50_000

# [fix epoch s, lat, lon, speed km/h, course|null, valid, ignition|null]
Row = list


def rows(device: Device, span: Range) -> list[Row]:
    fields = ("fix_time", "latitude", "longitude", "speed", "course", "valid", "attributes")
    fixes = store.rows(device.pk, span.start, span.end, fields, include_end=True, limit=MAX_POSITIONS)
    return [
        [t.timestamp(), lat, lon, speed, course, valid, (attrs or {}).get("ignition")]
        for t, lat, lon, speed, course, valid, attrs in fixes
    ]


def stops(track: Sequence[Row], params: engine.Params, span: Range) -> list[dict]:
    """The stops on the route, found by the reports engine (the same detector and the organisation's
    parameters as the stops report). ``first`` / ``last`` index the rows where each stop begins and ends."""
    if not track:
        return []
    rows = list(zip(*track, strict=True))
    arrays = engine.Track(
        t=np.array(rows[0], dtype=np.float64),
        lat=np.array(rows[1], dtype=np.float64),
        lon=np.array(rows[2], dtype=np.float64),
        speed=np.array([np.nan if v is None else v for v in rows[3]], dtype=np.float64),
        ignition=np.array([np.nan if v is None else float(v) for v in rows[6]], dtype=np.float64),
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
        }
        for s in found
        if arrays.valid[s.start_index : s.end_index + 1].any()  # a stop with no valid fix has no place to mark
    ]
