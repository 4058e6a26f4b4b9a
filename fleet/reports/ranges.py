"""Trips, stops and summaries over long ranges: window by window (a local day each), one window in memory,
each loaded with a margin either side (and at least back to the fix before it and on to the fix after it)
and stitched to the next (docs/reports-engine.md, Long ranges).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from fleet.reports.engine import Params, Track, WindowResult, day_windows, detect_window, join_windows
from fleet.tracking.store import DEFAULT_CHUNK, WindowReader, around

DEFAULT_MARGIN = timedelta(hours=6)


def window_bounds(start: datetime, end: datetime, window: timedelta, tz=None) -> list[tuple[datetime, datetime]]:
    """Consecutive windows of [start, end): the local days of ``tz`` (23 / 25 h on DST days), or ``window``
    long from ``start`` without one."""
    if tz is not None:
        return [
            (datetime.fromtimestamp(a, start.tzinfo), datetime.fromtimestamp(b, start.tzinfo))
            for a, b, _ in day_windows(start, end, tz)
        ]
    bounds, cursor = [], start
    while cursor < end:
        bounds.append((cursor, min(cursor + window, end)))
        cursor += window
    return bounds


def iter_tracks(
    device_id: int,
    start: datetime,
    end: datetime,
    window: timedelta = timedelta(days=1),
    margin: timedelta = DEFAULT_MARGIN,
    tz=None,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[tuple[datetime, datetime, Track]]:
    """(window start, window end, track loaded with ``margin`` either side) for consecutive windows."""
    reader = WindowReader(device_id, chunk)
    for win_start, win_end in window_bounds(start, end, window, tz):
        yield win_start, win_end, reader.load(win_start - margin, win_end + margin)


def detect_range(
    device_id: int,
    params: Params,
    start: datetime,
    end: datetime,
    tz=None,
    window: timedelta = timedelta(days=1),
    margin: timedelta = DEFAULT_MARGIN,
    chunk: int = DEFAULT_CHUNK,
) -> WindowResult:
    """Trips, stops and summary rows (one per window: per local day with ``tz``) over a long range.
    ``engine.combine_summaries(rows)`` gives the whole range's row."""
    reader = WindowReader(device_id, chunk)
    return join_windows(
        compute_window(reader, params, win_start, win_end, tz, margin)
        for win_start, win_end in window_bounds(start, end, window, tz)
    )


def compute_window(
    reader: WindowReader, params: Params, win_start: datetime, win_end: datetime, tz=None, margin=DEFAULT_MARGIN
) -> WindowResult:
    """One window: its track loaded with ``margin`` either side and the fixes around (``read_bounds``),
    detected, clipped and summed."""
    track = reader.load(*read_bounds(reader.device_id, win_start, win_end, margin))
    return detect_window(track, params, win_start, win_end, tz)


def read_bounds(
    device_id: int, win_start: datetime, win_end: datetime, margin: timedelta = DEFAULT_MARGIN
) -> tuple[datetime, datetime]:
    """What a window reads: ``margin`` either side, widened to the last fix before and the first fix after
    (``store.around``), so a stop or trip across the window's edges is detected on the data around it."""
    (bounds,) = around(device_id, [(win_start - margin, win_end + margin)])
    return bounds
