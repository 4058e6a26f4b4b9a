"""Cleaning a track before detection: fixes whose position is implausible (docs/reports-engine.md, Cleaning).

A receiver sometimes reports a fix kilometres off for a second, replays a burst of fixes with wrong times, or
two devices report under one id. Such fixes would become phantom trips at thousands of km/h, so the engine
ignores them: ``outliers`` flags them in one vectorised pass (no per-fix Python loop).
"""

from __future__ import annotations

import numpy as np

from fleet.core.geodesy import M_PER_DEG
from fleet.tracking.track import Track

# Position noise allowed on top of the plausible speed: two fixes a second apart (or with the same time) may
# lie this far apart without either being implausible.
SLACK_M = 50.0
# A jump is believed (the vehicle really is there: a receiver's cold start, a ferry, a tow) when at least
# this many fixes after it continue plausibly from it; a shorter run of fixes between two jumps is an outlier.
CONFIRM_FIXES = 5


def step_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Approximate metres between points (equirectangular, longitudes wrapped): exact enough to compare a
    step with a plausible speed, and cheaper than haversine on half a million fixes."""
    dlon = (np.asarray(lon2) - np.asarray(lon1) + 180.0) % 360.0 - 180.0
    x = dlon * np.cos(np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2))
    return np.hypot(np.asarray(lat2) - np.asarray(lat1), x) * M_PER_DEG


def _implausible(t, lat, lon, a, b, max_mps: float) -> np.ndarray:
    """Per pair of fixes (a[k], b[k]): farther apart than the plausible speed and the slack allow."""
    return step_m(lat[a], lon[a], lat[b], lon[b]) > max_mps * np.abs(t[b] - t[a]) + SLACK_M


def _consecutive_implausible(t, lat, lon, max_mps: float) -> np.ndarray:
    """``_implausible`` for every step between consecutive fixes, with fewer temporaries (the hot path)."""
    dlat = np.diff(lat)
    dlon = np.diff(lon)
    wrapped = np.abs(dlon) > 180.0
    if wrapped.any():
        dlon[wrapped] -= np.sign(dlon[wrapped]) * 360.0
    dlon *= np.cos(np.radians(lat[:-1]))
    limit = np.diff(t)
    np.abs(limit, out=limit)
    limit *= max_mps / M_PER_DEG
    limit += SLACK_M / M_PER_DEG
    dlat *= dlat
    dlon *= dlon
    dlat += dlon
    limit *= limit
    return dlat > limit


def outliers(track: Track, max_kmh: float) -> np.ndarray:
    """Per fix: True if it is an outlier, a position the vehicle cannot have been at.

    Only valid fixes with finite coordinates are considered (the others are not outliers, just ignored). A
    step between consecutive considered fixes is *implausible* when it is longer than ``max_kmh`` allows in
    its time plus ``SLACK_M``. Two passes:

    1. spikes: each implausible step blames one of its two fixes, of those whose neighbours are plausible
       from one another (leaving it out repairs the track) the one whose removal shortens the path most;
    2. bursts: the remaining fixes are cut into runs at implausible steps; a run of fewer than
       ``CONFIRM_FIXES`` fixes is an outlier unless no run is that long (then the longest run is believed,
       the first of equals). A long run after a jump confirms the jump: its fixes are kept.

    Two vehicles interleaved under one id make most steps implausible: a large share of their fixes is
    flagged, which the reports show as a warning.
    """
    if max_kmh <= 0:
        raise ValueError(f"max_kmh must be positive, got {max_kmh!r}")
    n = len(track)
    flagged = np.zeros(n, dtype=bool)
    considered = np.flatnonzero(track.valid & np.isfinite(track.lat) & np.isfinite(track.lon))
    if len(considered) < 2:
        return flagged
    t, lat, lon, max_mps = track.t, track.lat, track.lon, max_kmh / 3.6
    idx = considered
    every = len(idx) == n  # the usual case: no copies
    bad = _consecutive_implausible(*((t, lat, lon) if every else (t[idx], lat[idx], lon[idx])), max_mps)
    if not bad.any():
        return flagged

    # 1. spikes: each implausible step blames the end whose removal shortens the path most
    steps = np.flatnonzero(bad)
    ends = np.unique(np.r_[steps, steps + 1])
    inner = ends[(ends > 0) & (ends < len(idx) - 1)]  # the first and last fix have one neighbour
    before, here, after = idx[inner - 1], idx[inner], idx[inner + 1]
    saved = (
        step_m(lat[before], lon[before], lat[here], lon[here])
        + step_m(lat[here], lon[here], lat[after], lon[after])
        - step_m(lat[before], lon[before], lat[after], lon[after])
    )
    saved[_implausible(t, lat, lon, before, after, max_mps)] = -np.inf  # leaving it out does not repair
    gain = np.full(len(idx), -np.inf)
    gain[inner] = saved
    left, right = gain[steps], gain[steps + 1]
    spikes = np.unique(np.where(right >= left, steps + 1, steps)[np.maximum(left, right) > -np.inf])
    flagged[idx[spikes]] = True

    # 2. bursts, on what pass 1 kept: only the steps that bridge a removed spike are new
    kept = np.delete(np.arange(len(idx)), spikes)
    idx = idx[kept]
    bad = bad[kept[:-1]]
    bridging = np.flatnonzero(kept[1:] != kept[:-1] + 1)
    bad[bridging] = _implausible(t, lat, lon, idx[bridging], idx[bridging + 1], max_mps)
    if bad.any():
        run_starts = np.r_[0, np.flatnonzero(bad) + 1]
        run_lengths = np.diff(np.r_[run_starts, len(idx)])
        believed = run_lengths >= CONFIRM_FIXES
        if not believed.any():
            believed[int(np.argmax(run_lengths))] = True
        flagged[idx[np.repeat(~believed, run_lengths)]] = True
    return flagged
