"""Positions from the database into the engine's numpy tracks, in chunks.

``load_track`` reads one device's fixes in time order with ``values_list(...).iterator(chunk_size)``, turning
each chunk into arrays at once, so a query never materialises model instances and peak memory is the arrays
plus one chunk of tuples.

Long ranges (a month, a fleet) go window by window with ``iter_tracks``: each window's track is loaded
with a ``margin`` on both sides, detection runs over the whole loaded track and clips to the window
(``engine.detect(track, params, win_start, win_end)``), so a trip crossing a window boundary comes back as
two clipped halves that agree on the boundary instant; ``engine.stitch`` joins them. Summaries are per
window and add up (``engine.combine_summaries``). Only one window of one device is in memory at a time.
``detect_range`` does all of that. The margin should exceed the longest trip or stop whose exact extent
matters (trips are kept or dropped on their full extent); the default, 6 h, covers real trips; a stop
longer than the margin still comes out right because its halves are stitched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

import numpy as np

from fleet.reports.engine import (
    Stop,
    SummaryRow,
    Trip,
    combine_summaries,
    day_windows,
    detect,
    stitch,
    summary,
)
from fleet.reports.track import Params, Track

DEFAULT_CHUNK = 20_000
DEFAULT_MARGIN = timedelta(hours=6)
FIELDS = ("fix_time", "latitude", "longitude", "speed", "valid", "attributes")


def _number(value) -> float:
    """An attribute as float, NaN when absent or not a number."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _ignition(value) -> float:
    """The ``ignition`` attribute (bool, 0/1 or "true"/"false") as 1.0 / 0.0, NaN when absent."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        value = value.strip().lower()
        return 1.0 if value in ("true", "1", "on", "yes") else 0.0 if value in ("false", "0", "off", "no") else math.nan
    return 1.0 if value else 0.0


def _chunk_track(rows: list[tuple]) -> Track:
    times, lats, lons, speeds, valids, attrs = zip(*rows, strict=True)
    return Track(
        t=np.fromiter((ts.timestamp() for ts in times), dtype=np.float64, count=len(rows)),
        lat=np.array(lats, dtype=np.float64),
        lon=np.array(lons, dtype=np.float64),
        speed=np.array([math.nan if s is None else s for s in speeds], dtype=np.float64),
        ignition=np.array([_ignition((a or {}).get("ignition")) for a in attrs]),
        odometer=np.array([_number((a or {}).get("odometer_m")) for a in attrs]),
        fuel=np.array([_number((a or {}).get("fuel_l")) for a in attrs]),
        hours=np.array([_number((a or {}).get("engine_hours_s")) for a in attrs]),
        valid=np.array(valids, dtype=bool),
    )


def iter_chunks(device_id: int, start: datetime, end: datetime, chunk: int = DEFAULT_CHUNK) -> Iterator[Track]:
    """The device's fixes with start <= fix_time < end, in time order, as tracks of at most ``chunk`` fixes."""
    from fleet.tracking.models import Position

    rows = (
        Position.objects.filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end)
        .order_by("fix_time")
        .values_list(*FIELDS)
        .iterator(chunk_size=chunk)
    )
    while batch := list(islice(rows, chunk)):
        yield _chunk_track(batch)


def load_track(device_id: int, start: datetime, end: datetime, chunk: int = DEFAULT_CHUNK) -> Track:
    """One device's fixes with start <= fix_time < end as a single track."""
    return Track.concat(list(iter_chunks(device_id, start, end, chunk)))


def iter_tracks(
    device_id: int,
    start: datetime,
    end: datetime,
    window: timedelta = timedelta(days=1),
    margin: timedelta = DEFAULT_MARGIN,
    tz=None,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[tuple[datetime, datetime, Track]]:
    """(window start, window end, track loaded with ``margin`` either side) for consecutive windows.

    With ``tz`` the windows are that timezone's local days (23 / 25 h on DST days) and ``window`` is
    ignored; without it they are ``window`` long from ``start``.
    """
    if tz is not None:
        bounds = [
            (datetime.fromtimestamp(a, start.tzinfo), datetime.fromtimestamp(b, start.tzinfo))
            for a, b, _ in day_windows(start, end, tz)
        ]
    else:
        bounds, cursor = [], start
        while cursor < end:
            bounds.append((cursor, min(cursor + window, end)))
            cursor += window
    for win_start, win_end in bounds:
        yield win_start, win_end, load_track(device_id, win_start - margin, win_end + margin, chunk)


def detect_range(
    device_id: int,
    params: Params,
    start: datetime,
    end: datetime,
    tz=None,
    window: timedelta = timedelta(days=1),
    margin: timedelta = DEFAULT_MARGIN,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[list[Trip], list[Stop], list[SummaryRow]]:
    """Trips, stops and summary rows (one per window: per local day with ``tz``) over a long range, one
    window in memory at a time. ``engine.combine_summaries(rows)`` gives the whole range's row."""
    trips: list[Trip] = []
    stops: list[Stop] = []
    rows: list[SummaryRow] = []
    for win_start, win_end, track in iter_tracks(device_id, start, end, window, margin, tz, chunk):
        win_trips, win_stops = detect(track, params, win_start, win_end)
        win_rows = summary(track, win_trips, win_stops, params, win_start, win_end, split_days_tz=tz)
        # A trip (stop) continuing from the previous window was counted there already.
        if _continues(trips, win_trips):
            win_rows[0].trips -= 1
        if _continues(stops, win_stops):
            win_rows[0].stops -= 1
        rows.extend(win_rows)
        trips.extend(win_trips)
        stops.extend(win_stops)
    return stitch(trips), stitch(stops), rows


def _continues(before: list, now: list) -> bool:
    return bool(
        before and now and before[-1].clipped_end and now[0].clipped_start and before[-1].end_time == now[0].start_time
    )


__all__ = ["combine_summaries", "detect_range", "iter_chunks", "iter_tracks", "load_track"]
