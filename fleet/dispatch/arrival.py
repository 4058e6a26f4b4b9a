"""When a vehicle arrived at its task's destination, read from its positions: the first stay of at least a
few consecutive fixes within the destination's radius, still going on at or after the planned start. Used
by the task performance report; the rules are in docs/reports-engine.md (Task performance)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from fleet.core.geodesy import haversine_m
from fleet.tracking import store

MIN_FIXES = 2  # consecutive fixes inside: one stray fix is no arrival
EARLY_S = 2 * 3600.0  # a vehicle already waiting at the planned start: how far back its stay is looked for
SEARCH_S = 12 * 3600.0  # how long after the planned stop (or start) an arrival is looked for


def first_arrival(
    t: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    dest: tuple[float, float],
    radius_m: float,
    after: float,
    min_fixes: int = MIN_FIXES,
) -> float | None:
    """Start time of the first stay of >= ``min_fixes`` consecutive fixes within ``radius_m`` of ``dest``
    (lat, lon) that lasts until ``after`` or begins later; None if there is none."""
    inside = haversine_m(dest[0], dest[1], lat, lon) <= radius_m
    edges = np.diff(np.r_[0, inside.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    ok = (ends - starts + 1 >= min_fixes) & (t[ends] >= after) if len(t) else np.empty(0, dtype=bool)
    return float(t[starts[ok][0]]) if ok.any() else None


def arrival_from_positions(task, options: dict, now: datetime) -> datetime | None:
    """When the task's vehicle reached its destination, from the stored positions (see the module rules)."""
    planned = task.planned_start
    if task.device_id is None or planned is None:
        return None
    base = task.planned_stop or planned
    until = task.work_finished or base + timedelta(seconds=float(options.get("search_s", SEARCH_S)))
    until = min(until, now)
    begin = planned - timedelta(seconds=float(options.get("early_s", EARLY_S)))
    if until <= begin:
        return None
    track = store.window(task.device_id, begin, until + timedelta(microseconds=1))
    ok = track.valid & np.isfinite(track.lat) & np.isfinite(track.lon)
    dest = (task.destination.y, task.destination.x)  # GEOS: x = longitude
    found = first_arrival(
        track.t[ok],
        track.lat[ok],
        track.lon[ok],
        dest,
        float(task.destination_radius_m),
        planned.timestamp(),
        int(options.get("min_fixes", MIN_FIXES)),
    )
    return datetime.fromtimestamp(found, tz=planned.tzinfo) if found is not None else None
