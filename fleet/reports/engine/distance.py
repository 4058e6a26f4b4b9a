"""Per-interval distances for a track, vectorised.

Interval k is the time between fix k and fix k+1 (a track of n fixes has n-1 intervals). Every function here
returns one value per interval, so a span of fixes [s, e] covers intervals s .. e-1 and its total is a
difference of cumulative sums: no per-position Python loop.
"""

from __future__ import annotations

import numpy as np

from fleet.core.geodesy import haversine_m

ODOMETER_SLACK_M = 50.0
ODOMETER_BACKWARD_TOLERANCE_M = 1.0


def average_kmh(metres: float, seconds: float) -> float:
    """Average speed in km/h over a distance and a time; 0 without time."""
    return metres / seconds * 3.6 if seconds > 0 else 0.0


def valid_steps(t, lat, lon, valid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps between consecutive *valid* fixes (invalid fixes are skipped, not joined).

    Returns (from_index, to_index, metres), one entry per step.
    """
    idx = np.flatnonzero(valid & np.isfinite(lat) & np.isfinite(lon))
    if len(idx) < 2:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, np.empty(0)
    a, b = idx[:-1], idx[1:]
    return a, b, haversine_m(lat[a], lon[a], lat[b], lon[b])


def odometer_intervals(t, odometer, max_plausible_kmh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Odometer metres per interval, where it is known.

    Returns (metres per interval, bad per interval, known per fix). A reading <= 0 counts as unknown (as in
    Traccar, where 0 means "not reported"). A step between consecutive known readings is *bad* if the
    odometer goes backwards (beyond 1 m of rounding) or advances faster than ``max_plausible_kmh`` allows
    (plus 50 m slack); it is booked on the last interval before the later reading.
    """
    n = len(t)
    metres = np.zeros(max(n - 1, 0))
    bad = np.zeros(max(n - 1, 0), dtype=bool)
    known = np.isfinite(odometer) & (odometer > 0)
    idx = np.flatnonzero(known)
    if len(idx) >= 2:
        a, b = idx[:-1], idx[1:]
        step = odometer[b] - odometer[a]
        limit = max_plausible_kmh / 3.6 * (t[b] - t[a]) + ODOMETER_SLACK_M
        metres[b - 1] = np.maximum(step, 0.0)
        bad[b - 1] = (step < -ODOMETER_BACKWARD_TOLERANCE_M) | (step > limit)
    return metres, bad, known


def fuel_consumption_cumulative(fuel, refuel_min_l: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Cumulative litres consumed at each known fuel reading, refuels (rises >= refuel_min_l) excluded.

    Small rises (sensor noise) count as negative consumption so noise cancels out. Returns (fix indices,
    cumulative litres) to interpolate in time, or None when fewer than two readings are known.
    """
    idx = np.flatnonzero(np.isfinite(fuel))
    if len(idx) < 2:
        return None
    drops = -np.diff(fuel[idx])
    drops[drops <= -refuel_min_l] = 0.0
    return idx, np.r_[0.0, np.cumsum(drops)]


def span_extent_m(lat, lon, valid, starts, ends) -> np.ndarray:
    """For each span of fixes [starts[k], ends[k]] (disjoint, in order): the greatest straight-line distance
    of any valid fix from the span's first fix. Parked GPS wander stays within a few tens of metres however
    long it lasts; a trip takes the vehicle away. Vectorised over all fixes of all spans."""
    if len(starts) == 0:
        return np.empty(0)
    lengths = ends - starts + 1
    offsets = np.cumsum(lengths) - lengths
    owner = np.repeat(np.arange(len(starts)), lengths)
    idx = np.arange(lengths.sum()) - np.repeat(offsets, lengths) + np.repeat(starts, lengths)
    origin = starts[owner]
    d = haversine_m(lat[origin], lon[origin], lat[idx], lon[idx])
    d[~(valid[idx] & valid[origin] & np.isfinite(d))] = 0.0
    return np.maximum.reduceat(d, offsets)
