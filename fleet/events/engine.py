"""The event engine: what happened to each device, read from its fixes in order and a small state carried from
one batch to the next. Pure (no Django): ``evaluate`` takes a batch of fixes of many devices, the zone index
and each device's state, and returns the events found and the new states. The rules are in docs/events.md.

A device's state is a JSON-able dict: its last fix (``t``, ``lat``, ``lon``), the zones it is in or about to
enter / leave (``zones``: key -> ``{"in", "p", "pid"}``, ``p`` the time a pending change began), its ignition,
its overspeed and idle runs, whether its battery is low and whether it was reported offline."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fleet.events.zones import GEOFENCE, POI, TASK, Zone, ZoneIndex

ENTER = {GEOFENCE: "geofenceEnter", POI: "poiArrival", TASK: "taskArrival"}
LEAVE = {GEOFENCE: "geofenceExit", POI: "poiDeparture", TASK: "taskDeparture"}
OVERSPEED, IGNITION_ON, IGNITION_OFF, IDLE = "deviceOverspeed", "ignitionOn", "ignitionOff", "deviceIdle"
ONLINE, OFFLINE, ALARM, LOW_BATTERY = "deviceOnline", "deviceOffline", "alarm", "lowBattery"
TASK_LATE = "taskLate"  # found by the late check (fleet/events/progress.py), not from fixes
MAINTENANCE_DUE = "maintenanceDue"  # found by the service check (fleet/events/maintenance.py), not from fixes
NOT_FROM_FIXES = frozenset({TASK_LATE, MAINTENANCE_DUE})  # a replay of fixes neither finds nor removes them
TYPES = sorted(
    {*ENTER.values(), *LEAVE.values(), OVERSPEED, IGNITION_ON, IGNITION_OFF, IDLE, ONLINE, OFFLINE, ALARM}
    | NOT_FROM_FIXES
)


@dataclass(frozen=True)
class Rules:
    """One device's thresholds (the organisation's, and the device's own speed limit)."""

    stale_s: float = 900.0  # no fix for this long: offline
    moving_kmh: float = 1.852  # below this a vehicle with its ignition on is idling
    speed_limit_kmh: float | None = None  # the device's own limit; a zone's lower limit wins inside it
    overspeed_min_s: float = 10.0  # over the limit at least this long (first to last fix over it)
    idle_max_s: float = 600.0
    low_battery: float = 20.0  # per cent: below it, a lowBattery alarm...
    battery_ok: float = 25.0  # ...and another only after it was back at or above this


@dataclass
class Fixes:
    """A batch of fixes as arrays, sorted by (device, t); t in epoch seconds, NaN where unknown."""

    device: np.ndarray
    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray
    accuracy: np.ndarray
    ignition: np.ndarray  # 1.0 on, 0.0 off, NaN unknown
    battery: np.ndarray
    pid: np.ndarray  # the stored position's id (0 if none)

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class Found:
    """An event the engine found: its time is when it began (the first fix of a dwell, of an overspeed run)."""

    device: int
    type: str
    t: float
    key: str = ""
    zone: Zone | None = None
    pid: int = 0
    attributes: dict = field(default_factory=dict)


def evaluate(
    index: ZoneIndex, fixes: Fixes, states: dict[int, dict], rules: Callable[[int], Rules]
) -> tuple[list[Found], dict[int, dict]]:
    """Events of every device of the batch, and each device's state after it (the states given are updated in
    place: the caller keeps them or throws them away with the batch's transaction)."""
    n = len(fixes)
    if not n:
        return [], {}
    fix, zone, where = index.locate(fixes.lat, fixes.lon, fixes.accuracy)
    near = _per_fix(n, fix, zone, where)
    touching = np.sort(fix[where != 1].astype(np.int64) * len(index) + zone[where != 1])  # (fix, zone) keys
    starts = np.flatnonzero(np.r_[True, fixes.device[1:] != fixes.device[:-1]])
    ends = np.r_[starts[1:], n]
    # segments: each fix and the one before it (the device's last known fix for its first of the batch)
    prev_lat, prev_lon, prev_t = np.roll(fixes.lat, 1), np.roll(fixes.lon, 1), np.roll(fixes.t, 1)
    prev_acc = np.roll(fixes.accuracy, 1)
    has_prev = np.ones(n, dtype=bool)
    for s in starts:
        last = states.get(int(fixes.device[s])) or {}
        has_prev[s] = "lat" in last
        prev_lat[s], prev_lon[s], prev_t[s] = last.get("lat", 0.0), last.get("lon", 0.0), last.get("t", 0.0)
        prev_acc[s] = as_float(last.get("acc"))
    seg = np.flatnonzero(has_prev & ((prev_lat != fixes.lat) | (prev_lon != fixes.lon)))
    at_start = _state_ends_touching(index, seg, starts, prev_lat, prev_lon, prev_acc)
    crossing = _crossings(index, seg, prev_lat, prev_lon, fixes, touching, at_start)
    names = [name for name in _Columns.__dataclass_fields__ if name != "prev_t"]
    columns = _Columns(*(getattr(fixes, name).tolist() for name in names), prev_t.tolist())
    found: list[Found] = []
    new_states = {}
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        device = columns.device[s]
        state = states.get(device)
        if state is None:
            state = {}
        state.setdefault("zones", {})
        found += _step(index, device, state, columns, s, e, near, crossing, rules(device))
        new_states[device] = state
    return found, new_states


@dataclass
class _Columns:
    """The batch's arrays as Python lists (cheaper to read one item at a time)."""

    device: list
    t: list
    lat: list
    lon: list
    accuracy: list
    speed: list
    ignition: list
    battery: list
    pid: list
    prev_t: list


def as_float(value) -> float:
    """A number (a flag as 0 / 1) as a float, NaN for anything else (missing, a word)."""
    return float(value) if isinstance(value, int | float) else np.nan


def _state_ends_touching(index, seg, starts, prev_lat, prev_lon, prev_acc) -> np.ndarray:
    """Sorted keys ``fix * zones + zone``: for each device's first fix of the batch, the zones its state's last
    fix (the previous batch's) was inside or near. A segment from there is then no crossing, as it would not be
    with both fixes in one batch: where a batch is cut must not change the events (a pending dwell that the
    next fix outside ends, a fix within its accuracy of the edge)."""
    first = np.intersect1d(seg, starts)
    if not len(first) or not len(index):
        return np.empty(0, dtype=np.int64)
    k, zone, where = index.locate(prev_lat[first], prev_lon[first], prev_acc[first])
    return np.sort(first[k[where != 1]].astype(np.int64) * len(index) + zone[where != 1])


def _per_fix(n: int, fix: np.ndarray, zone: np.ndarray, where: np.ndarray) -> list[dict[int, int] | None]:
    """For each fix, {zone: where} of the zones near it (None for a fix with none near)."""
    near: list[dict[int, int] | None] = [None] * n
    if len(fix):
        firsts = np.flatnonzero(np.r_[True, fix[1:] != fix[:-1]])
        bounds = np.r_[firsts, len(fix)].tolist()
        zones, wheres, owners = zone.tolist(), where.tolist(), fix[firsts].tolist()
        for k, f in enumerate(owners):
            a, b = bounds[k], bounds[k + 1]
            near[f] = dict(zip(zones[a:b], wheres[a:b], strict=True))
    return near


def _crossings(index, seg, prev_lat, prev_lon, fixes, touching, at_start) -> dict[int, list[tuple[int, float, float]]]:
    """fix index -> [(zone, enter fraction, leave fraction)] for segments that pass through a zone with
    neither end inside nor near it (``touching``: sorted keys fix * zones + zone of the fixes inside or near)."""
    out: dict[int, list[tuple[int, float, float]]] = {}
    if not len(seg):
        return out
    n_zones = len(index)
    same_device = np.r_[False, fixes.device[1:] == fixes.device[:-1]]

    def near_an_end(k: np.ndarray, z: np.ndarray) -> np.ndarray:
        s = seg[k]
        here = _member(touching, s.astype(np.int64) * n_zones + z)
        before = same_device[s] & _member(touching, (s.astype(np.int64) - 1) * n_zones + z)
        first = ~same_device[s] & _member(at_start, s.astype(np.int64) * n_zones + z)  # the state's last fix
        return here | before | first

    k, zones = index.crossings(prev_lat[seg], prev_lon[seg], fixes.lat[seg], fixes.lon[seg], near_an_end)
    if not len(k):
        return out
    s_idx = seg[k]
    f0, f1, ok = index.passages(zones, prev_lat[s_idx], prev_lon[s_idx], fixes.lat[s_idx], fixes.lon[s_idx])
    for s, z, a, b in zip(s_idx[ok].tolist(), zones[ok].tolist(), f0[ok].tolist(), f1[ok].tolist(), strict=True):
        out.setdefault(s, []).append((z, a, b))
    return out


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _step(index, device, state, cols: _Columns, s, e, near, crossing, rules: Rules) -> list[Found]:
    found: list[Found] = []
    zones = state["zones"]
    last = None
    last_t, off = state.get("t"), state.get("off", False)
    ts, speeds, ign, batt, pids = cols.t, cols.speed, cols.ignition, cols.battery, cols.pid
    all_zones, by_key, stale_s = index.zones, index.by_key, rules.stale_s
    for i in range(s, e):
        t = ts[i]
        if last_t is not None:
            if t <= last_t:
                continue  # not newer than what the state has seen (the caller replays late fixes)
            if t - last_t > stale_s:
                if not off:
                    found.append(Found(device, OFFLINE, last_t + stale_s, attributes={"last_fix": last_t}))
                found.append(Found(device, ONLINE, t, pid=pids[i], attributes={"gap_s": round(t - last_t)}))
                off = False
        if off:
            found.append(Found(device, ONLINE, t, pid=pids[i]))
            off = False
        if crossing and i in crossing:
            for z, f0, f1 in crossing[i]:
                _cross(found, device, all_zones[z], zones, cols.prev_t[i], t, f0, f1)
        limit = rules.speed_limit_kmh
        here = near[i]
        if here or zones:
            seen = set()
            for z, w in (here or {}).items():
                zone = all_zones[z]
                if w == -1 and zone.calendar is not None and not zone.active(t):
                    w = 1  # a geofence is there only while its calendar is active
                if (w == -1 or zone.key in zones) and zone.applies(device):
                    seen.add(zone.key)
                    lower = zone.speed_limit_kmh and (limit is None or zone.speed_limit_kmh < limit)
                    if w == -1 and lower:
                        limit = zone.speed_limit_kmh
                    if w != 0:
                        _zone(found, device, zone, zones, w == -1, t, pids[i])
            for key in [k for k in zones if k not in seen]:  # far from the fix: outside
                z = by_key.get(key)
                if z is None:  # the zone is gone (deleted, or a task closed): forget it without an event
                    del zones[key]
                elif all_zones[z].applies(device):
                    _zone(found, device, all_zones[z], zones, False, t, pids[i])
        speed = speeds[i]
        if limit is not None or "over" in state:
            _overspeed(found, device, state, t, pids[i], speed, limit, rules)
        if ign[i] == ign[i]:  # not NaN
            _ignition_and_idle(found, device, state, t, pids[i], speed, ign[i], rules)
        if batt[i] == batt[i]:
            _battery(found, device, state, t, pids[i], batt[i], rules)
        last_t, last = t, i
    if last is not None:
        state["t"], state["lat"], state["lon"] = last_t, cols.lat[last], cols.lon[last]
        acc = cols.accuracy[last]
        state["acc"] = acc if acc == acc else None  # (NaN: unknown) where the next batch's segment starts
    state["off"] = off
    return found


def _zone(found, device, zone: Zone, zones: dict, inside: bool, t: float, pid: int) -> None:
    entry = zones.get(zone.key) or {"in": False, "p": None, "pid": 0}
    if inside == entry["in"]:
        entry["p"] = None
    else:
        if entry["p"] is None:
            entry["p"], entry["pid"] = t, pid
        if t - entry["p"] >= zone.dwell_s:
            entry["in"] = inside
            began = entry["p"]
            entry["p"] = None
            kind = ENTER if inside else LEAVE
            attrs = {"confirmed": t} if began != t else {}
            found.append(Found(device, kind[zone.kind], began, zone.key, zone, entry["pid"], attrs))
    if entry["in"] or entry["p"] is not None:
        zones[zone.key] = entry
    else:
        zones.pop(zone.key, None)


def _cross(found, device, zone: Zone, zones: dict, t0: float, t1: float, f0: float, f1: float) -> None:
    """A segment that passed through the zone with no fix inside: enter and leave at the interpolated times,
    when the time inside is at least the zone's dwell."""
    if not zone.applies(device) or (zones.get(zone.key) or {}).get("in"):
        return
    enter, leave = round(t0 + f0 * (t1 - t0), 3), round(t0 + f1 * (t1 - t0), 3)  # stored to the millisecond
    if leave <= enter or leave - enter < zone.dwell_s or not (zone.active(enter) and zone.active(leave)):
        return  # a graze shorter than a millisecond would enter and leave at one stored instant: no visit
    attrs = {"crossing": True}
    found.append(Found(device, ENTER[zone.kind], enter, zone.key, zone, 0, attrs))
    found.append(Found(device, LEAVE[zone.kind], leave, zone.key, zone, 0, dict(attrs)))


def limit_at(index: ZoneIndex, device: int, lat: float, lon: float, acc, t: float, rules: Rules) -> float | None:
    """The speed limit ``_step`` applies to a fix of the device there and then: its own, lowered by a zone the
    fix is inside that applies to it (while the zone's calendar is active)."""
    limit = rules.speed_limit_kmh
    _fix, zones, where = index.locate(np.array([lat]), np.array([lon]), np.array([as_float(acc)]))
    for z, w in zip(zones.tolist(), where.tolist(), strict=True):
        zone = index.zones[z]
        inside = w == -1 and zone.applies(device) and (zone.calendar is None or zone.active(t))
        if inside and zone.speed_limit_kmh and (limit is None or zone.speed_limit_kmh < limit):
            limit = zone.speed_limit_kmh
    return limit


def runs_at(index: ZoneIndex, device: int, state: dict, speed: float, rules: Rules) -> None:
    """A replay's start state (its last fix: ``state``'s t, lat, lon, acc and ignition; ``speed``) gets the
    overspeed and idle runs that fix was in, each as already reported (its event is timed at the run's start,
    before the replay's, and kept), and none that it was not in: a run beginning at the replay's first fix is a
    new one (the full-size soak: 24 overspeed events lost when a replay began just after a fix under the limit
    and carried a run all the same)."""
    state.pop("over", None)
    state.pop("idle", None)
    if "t" not in state or not math.isfinite(speed):
        return
    t = state["t"]
    limit = limit_at(index, device, state["lat"], state["lon"], state.get("acc"), t, rules)
    if limit is not None and speed > limit:
        state["over"] = {"t": t, "pid": 0, "max": speed, "fired": True, "limit": limit}
    if state.get("ign") and speed < rules.moving_kmh:
        state["idle"] = {"t": t, "pid": 0, "fired": True}


def _overspeed(found, device, state, t, pid, speed, limit, rules: Rules) -> None:
    run = state.get("over")
    if limit is None or not math.isfinite(speed) or speed <= limit:
        state.pop("over", None)
        return
    if run is None:
        run = state["over"] = {"t": t, "pid": pid, "max": speed, "fired": False, "limit": limit}
    run["max"] = max(run["max"], speed)
    if not run["fired"] and t - run["t"] >= rules.overspeed_min_s:
        run["fired"] = True
        attrs = {"speed": round(run["max"], 1), "limit": run["limit"]}
        found.append(Found(device, OVERSPEED, run["t"], pid=run["pid"], attributes=attrs))


def _ignition_and_idle(found, device, state, t, pid, speed, ignition, rules: Rules) -> None:
    on = ignition >= 0.5
    before = state.get("ign")
    if before is not None and before != on:
        found.append(Found(device, IGNITION_ON if on else IGNITION_OFF, t, pid=pid))
    state["ign"] = on
    idle = state.get("idle")
    if not on or not math.isfinite(speed) or speed >= rules.moving_kmh:
        state.pop("idle", None)
        return
    if idle is None:
        idle = state["idle"] = {"t": t, "pid": pid, "fired": False}
    if not idle["fired"] and t - idle["t"] >= rules.idle_max_s:
        idle["fired"] = True
        found.append(Found(device, IDLE, idle["t"], pid=idle["pid"], attributes={"after_s": rules.idle_max_s}))


def _battery(found, device, state, t, pid, battery, rules: Rules) -> None:
    if not state.get("batt") and battery < rules.low_battery:
        state["batt"] = True
        found.append(Found(device, ALARM, t, LOW_BATTERY, pid=pid, attributes={"alarm": LOW_BATTERY, "level": battery}))
    elif state.get("batt") and battery >= rules.battery_ok:
        state["batt"] = False
