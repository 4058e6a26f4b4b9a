"""Motion, trip candidates and per-fix cumulative quantities for the engine (the rules: docs/reports-engine.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from fleet.reports.engine.distance import (
    fuel_consumption_cumulative,
    gps_intervals,
    implied_speed_kmh,
    odometer_intervals,
    span_extent_m,
    valid_steps,
)
from fleet.reports.engine.params import Params
from fleet.tracking.track import Track

ODOMETER = "odometer"
GPS = "gps"


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
    speed: np.ndarray  # effective speed per fix, km/h (implied speed for ignition-only devices)
    moving: np.ndarray
    gap: np.ndarray  # per interval: a no-data gap
    gaps_before: np.ndarray  # per fix: gap intervals before it
    ign_on: np.ndarray
    ign_known: np.ndarray
    gps_m: np.ndarray  # per interval
    odo_m: np.ndarray  # per interval
    odo_bad_before: np.ndarray  # per fix: bad odometer steps before it
    odo_known: np.ndarray
    ignition_only: bool


def prepare(track: Track, params: Params) -> Prepared:
    n = len(track)
    t = track.t
    gap = np.diff(t) >= params.min_no_data_gap_s
    ign_known = np.isfinite(track.ignition)
    ign_on = ign_known & (track.ignition > 0.5)
    a, b, metres = valid_steps(t, track.lat, track.lon, track.valid)
    threshold = params.speed_threshold_kmh
    reported = np.nan_to_num(track.speed, nan=0.0)
    ignition_only = bool(params.use_ignition and ign_known.any() and not (reported > threshold).any())
    speed = np.where(ign_on, implied_speed_kmh(t, a, b, metres, n), 0.0) if ignition_only else reported
    moving = speed > threshold
    if params.use_ignition:
        moving &= ~(ign_known & ~ign_on)
    odo_m, odo_bad, odo_known = odometer_intervals(t, track.odometer, params.max_plausible_speed_kmh)
    return Prepared(
        n=n,
        t=t,
        speed=speed,
        moving=moving,
        gap=gap,
        gaps_before=np.r_[0, np.cumsum(gap)],
        ign_on=ign_on,
        ign_known=ign_known,
        gps_m=gps_intervals(n, a, b, metres, moving, gap),
        odo_m=odo_m,
        odo_bad_before=np.r_[0, np.cumsum(odo_bad)],
        odo_known=odo_known,
        ignition_only=ignition_only,
    )


def candidates(p: Prepared, params: Params):
    """Trip candidates as arrays (start fix, end fix), merged across short halts, split at gaps."""
    m, gap, n = p.moving, p.gap, p.n
    continues = m[:-1] & ~gap  # fix i is moving and the interval after it is not a gap
    starts = np.flatnonzero(m & ~np.r_[False, continues])
    run_ends = np.flatnonzero(m & ~np.r_[m[1:] & ~gap, False])
    ends = run_ends.copy()
    inner = run_ends < n - 1
    arrive = np.zeros(len(run_ends), dtype=bool)
    arrive[inner] = ~gap[run_ends[inner]]
    ends[arrive] += 1  # the first stationary fix after the run: where the vehicle arrived
    if len(starts) > 1:
        halt = p.t[starts[1:]] - p.t[ends[:-1]]
        no_gap = p.gaps_before[starts[1:]] == p.gaps_before[ends[:-1]]
        merge = (halt < params.min_parking_duration_s) & no_gap
        starts = starts[np.r_[True, ~merge]]
        ends = ends[np.r_[~merge, True]]
    return starts, ends


def distance_profile(p: Prepared, starts, ends, sources) -> np.ndarray:
    """Cumulative trip distance per fix: only intervals inside the given trips count."""
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


def extents(track: Track, params: Params, prepared: Prepared | None = None):
    """The kept trips over the whole track: (prepared, starts, ends, sources, open_start, open_end).
    ``prepared``: ``prepare(track, params)`` when the caller has it already."""
    p = prepared if prepared is not None else prepare(track, params)
    if p.n == 0:
        empty = np.empty(0, dtype=np.intp)
        return p, empty, empty, [], np.empty(0, dtype=bool), np.empty(0, dtype=bool)
    starts, ends = candidates(p, params)
    odo_ok = p.odo_known[starts] & p.odo_known[ends] & (p.odo_bad_before[ends] == p.odo_bad_before[starts])
    odo_cum = np.r_[0.0, np.cumsum(p.odo_m)]
    gps_cum = np.r_[0.0, np.cumsum(p.gps_m)]
    distance = np.where(odo_ok, odo_cum[ends] - odo_cum[starts], gps_cum[ends] - gps_cum[starts])
    duration = p.t[ends] - p.t[starts]
    open_start = (starts == 0) & p.moving[0]
    open_end = (ends == p.n - 1) & p.moving[p.n - 1]
    long_enough = duration >= params.min_trip_duration_s
    far_enough = (distance >= params.min_trip_distance_m) & (
        span_extent_m(track.lat, track.lon, track.valid, starts, ends) >= params.min_trip_extent_m
    )
    # require_both: far AND long (open-edge trips are exempt from "long"); else Traccar's far OR long.
    edge = open_start | open_end
    keep = far_enough & (long_enough | edge) if params.require_both else far_enough | long_enough
    sources = [ODOMETER if ok else GPS for ok in odo_ok[keep].tolist()]
    return p, starts[keep], ends[keep], sources, open_start[keep], open_end[keep]
