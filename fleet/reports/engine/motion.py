"""What every fix and every interval of a track is (the rules: docs/reports-engine.md).

Interval k is the time between fix k and fix k + 1. After cleaning (``clean.outliers``), the *located* fixes
(valid, finite, not outliers) are cut into:

* stays: the vehicle stayed within ``stop_radius_m`` of the stay's first fix for at least
  ``min_parking_duration_s`` (silences included), or its ignition was off that long;
* no-data steps: a silence of at least ``min_no_data_gap_s`` (or an implausible jump the following fixes
  confirm) across which the vehicle moved, outside any stay;
* moving runs: everything else. A run starts at the last fix of a stay (the step out of a stop belongs to
  the trip) and ends at the first fix of the next stay.

Stays are found with a vectorised pre-filter (a fix can start a stay only if the fix ``min_parking_duration_s``
later is within the radius) and a Python loop over the stays found (hundreds per device), never over fixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from fleet.core.geodesy import haversine_m
from fleet.reports.engine.clean import outliers, step_m
from fleet.reports.engine.distance import (
    fuel_consumption_cumulative,
    odometer_intervals,
    span_extent_m,
    valid_steps,
)
from fleet.reports.engine.params import Params
from fleet.tracking.track import Track

ODOMETER = "odometer"
GPS = "gps"
# Speeds derived from positions are measured over at least this long (the step into a fix, from the last fix
# this much earlier), so that GPS jitter between fixes a second apart does not read as speed.
SPEED_BASE_S = 10.0


def to_epoch(value) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: the engine works in UTC, pass aware datetimes")
        return value.timestamp()
    return float(value)


def to_utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), tz=UTC)


@dataclass
class Prepared:
    """Per-fix and per-interval arrays shared by detection and summaries."""

    n: int
    t: np.ndarray
    located: np.ndarray  # per fix: valid, finite coordinates, not an outlier
    outlier: np.ndarray  # per fix
    speed: np.ndarray  # per fix, km/h: the vendor's when plausible, else the step into the fix; 0 unknown
    ign_on: np.ndarray
    ign_known: np.ndarray
    gps_m: np.ndarray  # per interval: metres of the located step that ends after it (booked on its last one)
    odo_m: np.ndarray  # per interval
    odo_bad_before: np.ndarray  # per fix: bad odometer steps before it
    odo_known: np.ndarray
    stay: np.ndarray  # per interval: inside a stay
    no_data: np.ndarray  # per interval: a no-data step (not a stay), or outside the located fixes
    moving: np.ndarray  # per interval: neither
    stay_starts: np.ndarray  # fix indices of the stays, in order
    stay_ends: np.ndarray
    gap_starts: np.ndarray  # the no-data spans: fix before, fix after (located), straight-line metres
    gap_ends: np.ndarray
    gap_m: np.ndarray

    @property
    def moving_fix(self) -> np.ndarray:
        """Per fix: it ends or starts a moving interval."""
        return np.r_[False, self.moving] | np.r_[self.moving, False]


def prepare(track: Track, params: Params) -> Prepared:
    n = len(track)
    t = track.t
    outlier = outliers(track, params.max_plausible_speed_kmh) if n else np.zeros(0, dtype=bool)
    located = track.valid & np.isfinite(track.lat) & np.isfinite(track.lon) & ~outlier
    ign_known = np.isfinite(track.ignition)
    ign_on = ign_known & (track.ignition > 0.5)
    a, b, metres = valid_steps(t, track.lat, track.lon, located)
    dt = t[b] - t[a]
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = np.where(dt > 0, metres / dt * 3.6, 0.0)
    jump = implied > params.max_plausible_speed_kmh  # a jump the following fixes confirmed (clean.outliers)
    speed = np.zeros(n)  # the step into the fix; the first located fix has none
    speed[b] = _implied_kmh(t, track.lat, track.lon, np.r_[a[:1], b], params.max_plausible_speed_kmh)
    vendor = track.speed
    if np.any(vendor > params.speed_threshold_kmh):  # else no speed is reported (NaN, or 0 from ignition-only)
        plausible = np.isfinite(vendor) & (vendor >= 0) & (vendor <= params.max_plausible_speed_kmh) & ~outlier
        speed[plausible] = vendor[plausible]

    # Reached moving: the vendor's speed says so and the position moved at least a quarter of that.
    moved_into = np.zeros(n, dtype=bool)
    if np.any(vendor > params.speed_threshold_kmh):
        moved_into[b] = (vendor[b] > params.speed_threshold_kmh) & (metres >= 0.25 * vendor[b] / 3.6 * dt)
    silent = (dt >= params.min_no_data_gap_s) | jump
    carried = np.zeros(n, dtype=bool)  # reached across a silence that moved the vehicle: no stay spans it
    carried[b[silent & (metres >= params.stop_radius_m)]] = True
    stay_starts, stay_ends = stays(track, params, located, ign_known & ~ign_on, moved_into, carried)
    intervals = max(n - 1, 0)
    stay = inside_mask(n, stay_starts, stay_ends)
    gap_step = silent & ~stay[a] if len(a) else np.zeros(0, dtype=bool)
    no_data = inside_mask(n, a[gap_step], b[gap_step])
    first, last = np.flatnonzero(located)[[0, -1]] if located.any() else (n, n)
    no_data[: min(first, intervals)] = True  # before the first located fix, after the last: no position
    no_data[last:] = True
    no_data &= ~stay
    gps_m = np.zeros(intervals)
    if len(a):
        np.add.at(gps_m, b - 1, np.where(gap_step, 0.0, metres))
    odo_m, odo_bad, odo_known = odometer_intervals(t, track.odometer, params.max_plausible_speed_kmh)
    gap_starts, gap_ends, gap_m = _merged_gaps(a[gap_step], b[gap_step], metres[gap_step])
    return Prepared(
        n=n,
        t=t,
        located=located,
        outlier=outlier,
        speed=speed,
        ign_on=ign_on,
        ign_known=ign_known,
        gps_m=gps_m,
        odo_m=odo_m,
        odo_bad_before=np.r_[0, np.cumsum(odo_bad)],
        odo_known=odo_known,
        stay=stay,
        no_data=no_data,
        moving=~stay & ~no_data,
        stay_starts=stay_starts,
        stay_ends=stay_ends,
        gap_starts=gap_starts,
        gap_ends=gap_ends,
        gap_m=gap_m,
    )


def _implied_kmh(t, lat, lon, idx: np.ndarray, max_kmh: float) -> np.ndarray:
    """For each located fix after the first (``idx``: the located fixes in order), the speed implied by the
    step into it, measured from the last fix at least ``SPEED_BASE_S`` earlier (from the previous fix when that
    is older): a few metres of jitter a second apart are no speed. A speed beyond ``max_kmh`` (a confirmed
    jump) is 0: that step is no data."""
    if len(idx) < 2:
        return np.empty(0)
    tl = t[idx]
    k = np.arange(1, len(idx))
    origin = np.minimum(np.searchsorted(tl, tl[k] - SPEED_BASE_S, side="right") - 1, k - 1)
    origin = np.maximum(origin, 0)
    seconds = tl[k] - tl[origin]
    metres = haversine_m(lat[idx[origin]], lon[idx[origin]], lat[idx[k]], lon[idx[k]])
    with np.errstate(divide="ignore", invalid="ignore"):
        kmh = np.where(seconds > 0, metres / seconds * 3.6, 0.0)
    return np.where(kmh > max_kmh, 0.0, kmh)


def _merged_gaps(starts, ends, metres):
    """Consecutive no-data steps (one ends where the next begins) as one span, their distances added."""
    if len(starts) == 0:
        return starts, ends, metres
    new = np.r_[True, starts[1:] != ends[:-1]]
    group = np.cumsum(new) - 1
    return starts[new], ends[np.r_[new[1:], True]], np.bincount(group, weights=metres)


def stays(
    track: Track,
    params: Params,
    located: np.ndarray,
    ignition_off: np.ndarray,
    moved_into: np.ndarray,
    carried: np.ndarray,
):
    """(starts, ends): fix spans where the vehicle stayed within ``stop_radius_m`` of the span's first located
    fix for at least ``min_parking_duration_s``, joined with the spans where its ignition was reported off that
    long (with ``use_ignition``; such a span ends before a fix the vehicle was ``carried`` to: a car on a
    train has its ignition off too); overlapping spans merged, in order."""
    idx = np.flatnonzero(located)
    starts, ends = _position_stays(track.t[idx], track.lat[idx], track.lon[idx], params)
    starts, ends = _trimmed(track.t, params, idx[starts], idx[ends], moved_into)
    if params.use_ignition and ignition_off.any():
        off_starts, off_ends = _runs(ignition_off, carried)
        long = track.t[off_ends] - track.t[off_starts] >= params.min_parking_duration_s
        starts, ends = _union(np.r_[starts, off_starts[long]], np.r_[ends, off_ends[long]])
    return starts, ends


def _trimmed(t, params: Params, starts: np.ndarray, ends: np.ndarray, moved_into: np.ndarray):
    """Stays with their edges moved to where the vendor's speed (confirmed by the positions) says the vehicle
    stood: a stay begins at its first fix not left moving and ends at its last fix not reached moving. Only
    the edges move (a jitter fix inside cannot split a stay), and never below the minimal parking duration
    (then the stay keeps that much, taken evenly from both edges); without reported speeds nothing moves."""
    n = len(moved_into)
    if len(starts) == 0 or not moved_into.any():
        return starts, ends
    still_out = ~np.r_[moved_into[1:], False]
    positions = np.arange(n)
    next_still_out = np.minimum.accumulate(np.where(still_out, positions, n)[::-1])[::-1]
    last_still = np.maximum.accumulate(np.where(~moved_into, positions, -1))
    new_starts = np.minimum(next_still_out[starts], ends)
    new_ends = np.maximum(last_still[ends], new_starts)
    # A stay that speed would cut below the minimum keeps the minimum, taken evenly from both moving edges.
    minimum = params.min_parking_duration_s
    half = np.maximum(minimum - (t[new_ends] - t[new_starts]), 0.0) / 2
    new_starts = np.maximum(np.minimum(new_starts, np.searchsorted(t, t[new_starts] - half, side="right") - 1), starts)
    new_ends = np.minimum(np.maximum(new_ends, np.searchsorted(t, t[new_ends] + half, side="left")), ends)
    keep = t[new_ends] - t[new_starts] >= minimum
    return np.where(keep, new_starts, starts), np.where(keep, new_ends, ends)


def _position_stays(t, lat, lon, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Stays among located fixes (indices into these arrays), trackintel's sliding rule made exact: from an
    anchor fix, the stay lasts while every fix stays within the radius of the anchor."""
    m = len(t)
    empty = np.empty(0, dtype=np.intp)
    if m < 2:
        return empty, empty
    radius, minimum = params.stop_radius_m, max(params.min_parking_duration_s, 0.0)
    # A fix can anchor a stay only if the first fix ``minimum`` seconds later lies within the radius, and the
    # first fixes a quarter, half and three quarters of the way too (cheap tests that spare the loop most of
    # the fixes that cannot).
    later = np.maximum(np.searchsorted(t, t + minimum, side="left"), np.arange(m) + 1)
    anchors = np.flatnonzero(later < m)
    for share in (1.0, 0.5, 0.25, 0.75):
        probe = later[anchors] if share == 1.0 else np.searchsorted(t, t[anchors] + share * minimum, side="left")
        anchors = anchors[step_m(lat[anchors], lon[anchors], lat[probe], lon[probe]) <= radius]
    starts, ends = [], []
    k = 0
    while k < len(anchors):
        s = int(anchors[k])
        e = _last_within(lat, lon, s, int(later[s]), radius)
        if t[e] - t[s] >= minimum:
            starts.append(s)
            ends.append(e)
            k = int(np.searchsorted(anchors, e, side="right"))
        else:
            k += 1
    return np.array(starts, dtype=np.intp), np.array(ends, dtype=np.intp)


def _last_within(lat, lon, s: int, hint: int, radius: float) -> int:
    """The last fix j >= s such that every fix s..j lies within ``radius`` of fix s (read in growing chunks)."""
    m = len(lat)
    lo, size = s + 1, max(hint - s + 1, 64)
    while lo < m:
        hi = min(m, lo + size)
        outside = np.flatnonzero(step_m(lat[s], lon[s], lat[lo:hi], lon[lo:hi]) > radius)
        if len(outside):
            return lo + int(outside[0]) - 1
        lo, size = hi, size * 4
    return m - 1


def _runs(flags: np.ndarray, breaks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) index of each run of True; a run also ends before each index where ``breaks`` is set."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if breaks is None or not (breaks & flags).any():
        return starts, ends
    cuts = np.flatnonzero(breaks & flags & np.r_[False, flags[:-1]])  # a break inside a run starts a new one
    return np.sort(np.r_[starts, cuts]), np.sort(np.r_[ends, cuts - 1])


def _union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans of fixes merged where they overlap or touch (share a fix)."""
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.r_[True, starts[1:] > reach[:-1]]
    return starts[new], np.maximum.reduceat(ends, np.flatnonzero(new))


def movements(p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """(start fix, end fix) of each run of moving intervals: the trip candidates."""
    first, last = _runs(p.moving)
    return first, last + 1


def distance_profile(p: Prepared, starts, ends, sources) -> np.ndarray:
    """Cumulative distance per fix: only intervals inside the given spans count, each from its source."""
    per_interval = np.zeros(max(p.n - 1, 0))
    for s, e, source in zip(starts.tolist(), ends.tolist(), sources, strict=True):
        per_interval[s:e] = (p.odo_m if source == ODOMETER else p.gps_m)[s:e]
    return np.r_[0.0, np.cumsum(per_interval)]


def inside_mask(n: int, starts, ends) -> np.ndarray:
    """Per interval: inside one of the spans [start fix, end fix]."""
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, ends, -1)
    return np.cumsum(marks)[: max(n - 1, 0)] > 0


def cumulative_time(p: Prepared, flags) -> np.ndarray:
    """Per fix: seconds, from the first fix, spent in intervals whose flag is set (interpolate in time)."""
    dt = np.diff(p.t)
    return np.r_[0.0, np.cumsum(np.where(flags, dt, 0.0))]


def at(p: Prepared, cumulative: np.ndarray, when) -> np.ndarray:
    return np.interp(when, p.t, cumulative)


class Counters:
    """Engine-hours counter and fuel consumption, interpolated in time; None where not reported."""

    def __init__(self, track: Track, params: Params):
        hours_idx = np.flatnonzero(np.isfinite(track.hours))
        self.hours = (track.t[hours_idx], track.hours[hours_idx]) if len(hours_idx) >= 2 else None
        fuel = fuel_consumption_cumulative(track.fuel, params.refuel_min_l)
        self.fuel = (track.t[fuel[0]], fuel[1]) if fuel else None
        self.fuel_idx = fuel[0] if fuel else np.empty(0, dtype=np.intp)

    def engine_hours(self, a: float, b: float) -> float | None:
        if self.hours is None:
            return None
        times, values = self.hours
        return max(0.0, float(np.interp(b, times, values) - np.interp(a, times, values)))

    def fuel_spent(self, a: float, b: float, first_fix: int, last_fix: int) -> float | None:
        """Litres consumed between a and b, if the fuel level is known at two fixes of [first_fix, last_fix]."""
        if self.fuel is None:
            return None
        lo, hi = np.searchsorted(self.fuel_idx, [first_fix, last_fix], side="left")
        hi += int(hi < len(self.fuel_idx) and self.fuel_idx[hi] == last_fix)
        if hi - lo < 2:
            return None
        times, values = self.fuel
        return float(np.interp(b, times, values) - np.interp(a, times, values))


def sources(p: Prepared, starts, ends) -> tuple[np.ndarray, np.ndarray]:
    """Per span: the odometer is sane over it (known at both ends, no bad step between), and its distance
    (odometer when sane, else GPS)."""
    odo_ok = p.odo_known[starts] & p.odo_known[ends] & (p.odo_bad_before[ends] == p.odo_bad_before[starts])
    odo_cum = np.r_[0.0, np.cumsum(p.odo_m)]
    gps_cum = np.r_[0.0, np.cumsum(p.gps_m)]
    return odo_ok, np.where(odo_ok, odo_cum[ends] - odo_cum[starts], gps_cum[ends] - gps_cum[starts])


def extents(track: Track, params: Params, prepared: Prepared | None = None):
    """The kept trips over the whole track: (prepared, starts, ends, sources). A movement is a trip if it is
    far and long enough (``require_both``; a movement at an edge of the data is exempt from "long"), else
    if either suffices."""
    p = prepared if prepared is not None else prepare(track, params)
    starts, ends = movements(p)
    if len(starts) == 0:
        return p, starts, ends, []
    odo_ok, distance = sources(p, starts, ends)
    duration = p.t[ends] - p.t[starts]
    edge = (starts == 0) | (ends == p.n - 1)
    long_enough = duration >= params.min_trip_duration_s
    far_enough = (distance >= params.min_trip_distance_m) & (
        span_extent_m(track.lat, track.lon, p.located, starts, ends) >= params.min_trip_extent_m
    )
    keep = far_enough & (long_enough | edge) if params.require_both else far_enough | long_enough
    return p, starts[keep], ends[keep], [ODOMETER if ok else GPS for ok in odo_ok[keep].tolist()]


def stop_spans(p: Prepared, trip_starts, trip_ends) -> tuple[np.ndarray, np.ndarray]:
    """(start fix, end fix) of each stop: consecutive stays joined unless a kept trip or a no-data span lies
    between them (a movement too short to be a trip belongs to the stop around it)."""
    s, e = p.stay_starts, p.stay_ends
    if len(s) == 0:
        return s, e
    breaks = inside_mask(p.n, trip_starts, trip_ends) | (p.no_data & ~p.stay)
    crossed = np.r_[0, np.cumsum(breaks)]
    new = np.r_[True, crossed[s[1:]] > crossed[e[:-1]]]
    return s[new], e[np.r_[new[1:], True]]
