"""The event engine in the ingest path: after every stored batch, the batch's devices are locked (their
``EngineState`` rows, in device order), their new fixes evaluated in fix order, the events stored once and the
states saved, in one transaction; the events then go to whoever subscribed (notification rules, the live map).

A device whose batch holds a fix older than the last one its state has seen (a buffered upload, a slow vendor)
is replayed instead: from just after its last stored fix at or before ``REPLAY_MARGIN_S`` plus the longest dwell
before that fix (``replay_start``), from the zones its own events say it was in then, over every stored fix
since; the events it finds replace the engine's events of that span, so a late fix never leaves a false enter or
exit behind (docs/events.md)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter

import numpy as np
import orjson
from django.conf import settings
from django.db import connection, transaction

from fleet.events import engine, places
from fleet.events.engine import Fixes, Found, Rules
from fleet.events.models import EngineState
from fleet.tracking import services
from fleet.tracking import state as device_states
from fleet.tracking.models import Device, Event, Position

log = logging.getLogger(__name__)
REPLAY_MARGIN_S = 900.0
ZONE_TYPES = {*engine.ENTER.values(), *engine.LEAVE.values()}

Listener = Callable[[int, list[Event]], None]
_listeners: list[Listener] = []


def listen(fn: Listener) -> None:
    """Register ``fn(organization_id, events)``, called after the commit with the events the engine stored."""
    if fn not in _listeners:
        _listeners.append(fn)


def enabled() -> bool:
    return bool(settings.EVENTS_ENGINE)


def on_positions(organization_id: int, stored: list) -> None:
    """The ingest subscriber, deferred (``stored``: ``ingest.Stored`` sorted by fix time): it runs after the live
    push, in its own transaction; an error is ingest's to log (the batch's backlog row stays, ``recover`` runs
    later)."""
    if enabled() and stored:
        _told(organization_id, process(organization_id, stored))


def recover(organization_id: int, since: dict[int, float]) -> None:
    """Ingest's recovery of a stored batch whose evaluation never ran (its process died): each device replayed
    from its first fix in the batch (``since``: device pk -> epoch seconds) over every stored fix since, as a
    late fix is, so the events are those of all its fixes in order whatever ran meanwhile."""
    if enabled() and since:
        _told(organization_id, evaluate(organization_id, since, [], replay=True))


def _told(organization_id: int, events: list[Event]) -> None:
    if events:
        transaction.on_commit(lambda: tell(organization_id, events))


def tell(organization_id: int, events: list[Event]) -> None:
    for fn in _listeners:
        try:
            fn(organization_id, events)
        except Exception:
            log.exception("event listener %s failed", getattr(fn, "__qualname__", fn))


def process(organization_id: int, stored: list) -> list[Event]:
    stored = [s for s in stored if s.record.valid]  # as a replay reads them: a fix without a GPS lock is not one
    first: dict[int, float] = {}
    for s in stored:
        first.setdefault(s.device_id, s.record.fix_time.timestamp())
    return evaluate(organization_id, first, stored)


def evaluate(organization_id: int, first: dict[int, float], stored: list, replay: bool = False) -> list[Event]:
    """Evaluate the devices of ``first`` (device -> its first fix to evaluate): ``stored`` (the new fixes) on
    from each device's state, or, for a device whose state has seen a fix as late (or every device, with
    ``replay``), a replay from that fix over the stored ones. Returns the events stored."""
    if not first:
        return []
    index = places.index_for(organization_id)
    rules = rules_for(organization_id, set(first))
    with transaction.atomic(savepoint=False):  # inside ingest's deferred transaction, or the sweep's savepoint
        devices = sorted(first)
        rows = locked(devices)
        states = {d: rows[d].state for d in devices}
        late = set(devices) if replay else {d for d in devices if _seen(states[d], first[d])}
        fresh = [s for s in stored if s.device_id not in late]
        found, new_states = engine.evaluate(index, fixes_of_stored(fresh), states, rules.get)
        replaced: list[tuple[int, float]] = []
        if late:
            dwell = max((z.dwell_s for z in index.zones), default=0.0)
            more, replayed, starts = replay_many(index, {d: first[d] for d in sorted(late)}, dwell, rules.get)
            found += more
            new_states.update(replayed)
            replaced = sorted(starts.items())
        created = store(organization_id, found, replaced)
        save_states(rows, new_states)
    return created


def _seen(state: dict, t: float) -> bool:
    return state.get("t") is not None and t <= state["t"]


def locked(devices: list[int]) -> dict[int, EngineState]:
    """The devices' states, locked (in device order) until the transaction ends. A device without one gets its
    row first, so two workers with a new device's first batches wait for each other too."""
    rows = {
        r.device_id: r for r in EngineState.objects.select_for_update().filter(device_id__in=devices).order_by("pk")
    }
    if missing := [d for d in devices if d not in rows]:
        EngineState.objects.bulk_create([EngineState(device_id=d) for d in missing], ignore_conflicts=True)
        rows.update(
            (r.device_id, r)
            for r in EngineState.objects.select_for_update().filter(device_id__in=missing).order_by("pk")
        )
    return rows


def rules_for(organization_id: int, devices: set[int]) -> dict[int, Rules]:
    org = device_states.rules_for(organization_id)
    limits = dict(Device.objects.filter(pk__in=devices).values_list("pk", "attributes__speed_limit_kmh"))
    out = {}
    for device in devices:
        limit = limits.get(device)
        limit = float(limit) if isinstance(limit, int | float) and limit > 0 else None
        out[device] = Rules(stale_s=org.stale_after_s, moving_kmh=org.speed_threshold_kmh, speed_limit_kmh=limit)
    return out


def fixes_of_stored(stored: list) -> Fixes:
    """Arrays of the stored positions (given in fix-time order), sorted by (device, fix time)."""
    device, t, lat, lon, speed, accuracy, ignition, battery, pid = ([] for _ in range(9))
    for s in sorted(stored, key=_device_of):  # stable: each device's fixes stay in time order
        r = s.record
        device.append(s.device_id)
        t.append(r.fix_time.timestamp())
        lat.append(r.latitude)
        lon.append(r.longitude)
        speed.append(r.speed)
        accuracy.append(r.accuracy)
        ignition.append(r.attributes.get("ignition"))
        battery.append(r.attributes.get("battery_level"))
        pid.append(s.id)
    return Fixes(
        device=np.array(device, dtype=np.int64),
        t=np.array(t, dtype=float),
        lat=np.array(lat, dtype=float),
        lon=np.array(lon, dtype=float),
        speed=np.array(speed, dtype=float),
        accuracy=_floats(accuracy),
        ignition=_floats(ignition),
        battery=_floats(battery),
        pid=np.array(pid, dtype=np.int64),
    )


_device_of = attrgetter("device_id")


def _floats(values) -> np.ndarray:
    """Numbers (flags as 0 / 1) as floats, NaN for anything else (missing, a word)."""
    return np.array([v if v.__class__ is float else engine.as_float(v) for v in values], dtype=float)


def replay_start(device: int, first: float, dwell_s: float) -> float:
    """Where the replay for a late fix at ``first`` begins: just after the device's last valid stored fix at or
    before ``REPLAY_MARGIN_S`` plus the longest dwell before it (that margin's start if it has none). A
    crossing's time lies between the two fixes of its segment, so the events of the segment the late fix splits
    can be far older than the fix itself: the replay reaches back to that segment's start to replace them. And
    it starts at a fix, so that its start state (the zones its events put it in by then, its position) is the
    one the engine had there: from a time inside a segment it would begin with a crossing's enter and re-evaluate
    the segment from its first fix as if inside already, finding the exit at the next fix, not the crossing."""
    since = first - REPLAY_MARGIN_S - dwell_s
    before = (
        Position.objects.filter(device_id=device, fix_time__lte=datetime.fromtimestamp(since, UTC), valid=True)
        .order_by("-fix_time")
        .values_list("fix_time", flat=True)
        .first()
    )
    return _start(since, before)


def _start(since: float, before: datetime | None) -> float:
    """The replay's start, given the device's last valid stored fix at or before ``since`` (None: none)."""
    return before.timestamp() + AFTER_FIX_S if before is not None else since


AFTER_FIX_S = 0.001  # a replay starts this long after its fix: events stored at that fix's time are before it


def replay_many(
    index, late: dict[int, float], dwell_s: float, rules: Callable[[int], Rules]
) -> tuple[list[Found], dict[int, dict], dict[int, float]]:
    """The replays of a batch's late devices (``late``: device -> its first late fix; ``dwell_s``: the longest
    dwell of the organisation's zones), evaluated together (the engine takes each device apart). Their starts, start
    states and stored fixes are read in a constant number of statements on PostgreSQL, whatever the number of
    devices (a stream's gap filled by a poll makes thousands late at once); one device at a time elsewhere.
    Returns the events, each device's state after its fixes, and each replay's start."""
    if connection.vendor == "postgresql":
        starts = _pg_replay_starts(late, dwell_s)
        begin, rows = _pg_replay_reads(starts)
    else:
        starts = {d: replay_start(d, t, dwell_s) for d, t in late.items()}
        begin, rows = {}, []
        for device, since in starts.items():
            begin[device], more = _replay_reads(device, datetime.fromtimestamp(since, UTC))
            rows += more
    states = {device: _state_from(*begin.get(device, ([], None))) for device in starts}
    for device, state in states.items():
        speed = _number(state.pop("v", None))
        engine.runs_at(index, device, state, math.nan if speed is None else speed, rules(device))
    rows = [r for r in rows if r[8]]
    fixes = Fixes(
        device=np.array([r[0] for r in rows], dtype=np.int64),
        t=np.array([r[2].timestamp() for r in rows], dtype=float),
        lat=np.array([r[3] for r in rows], dtype=float),
        lon=np.array([r[4] for r in rows], dtype=float),
        speed=np.array([r[5] for r in rows], dtype=float),
        accuracy=_floats(r[6] for r in rows),
        ignition=_floats((r[7] or {}).get("ignition") for r in rows),
        battery=_floats((r[7] or {}).get("battery_level") for r in rows),
        pid=np.array([r[1] for r in rows], dtype=np.int64),
    )
    found, after = engine.evaluate(index, fixes, states, rules)
    return found, {device: after.get(device, states[device]) for device in starts}, starts


def _replay_reads(device: int, start: datetime) -> tuple[tuple[list, tuple | None], list[tuple]]:
    """One device's replay reads: its zone events before ``start`` (per key, newest first), its last valid fix
    before it (``_carried``), and its fixes from it on as (device, id, fix_time, lat, lon, speed, accuracy,
    attributes, valid)."""
    events = list(
        Event.objects.filter(device_id=device, source=Event.Source.FLEET, type__in=ZONE_TYPES, time__lt=start)
        .order_by("key", "-time")
        .values_list("key", "type")
    )
    recent = list(
        Position.objects.filter(device_id=device, fix_time__lt=start, valid=True)
        .order_by("-fix_time")
        .values_list("fix_time", "latitude", "longitude", "speed", "attributes", "accuracy")[:CARRIED_FIXES]
    )
    last = _carried(recent)
    rows = [
        (device, *r)
        for r in Position.objects.filter(device_id=device, fix_time__gte=start)
        .order_by("fix_time")
        .values_list("id", "fix_time", "latitude", "longitude", "speed", "accuracy", "attributes", "valid")
    ]
    return (events, last), rows


POSITIONS, EVENTS = Position._meta.db_table, Event._meta.db_table
PG_STARTS = f"""
SELECT v.d, (SELECT p.fix_time FROM {POSITIONS} p WHERE p.device_id = v.d AND p.fix_time <= v.t AND p.valid
             ORDER BY p.fix_time DESC LIMIT 1)
FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(d, t)
"""
PG_ZONE_EVENTS = f"""
SELECT DISTINCT ON (e.device_id, e.key) e.device_id, e.key, e.type
FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(d, s)
JOIN {EVENTS} e ON e.device_id = v.d AND e.time < v.s
WHERE e.source = %s AND e.type = ANY(%s)
ORDER BY e.device_id, e.key, e.time DESC
"""
PG_LAST = f"""
SELECT v.d, l.fix_time, l.latitude, l.longitude, l.speed, l.attributes::text, l.accuracy
FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(d, s)
JOIN LATERAL (SELECT fix_time, latitude, longitude, speed, attributes, accuracy FROM {POSITIONS} p
              WHERE p.device_id = v.d AND p.fix_time < v.s AND p.valid ORDER BY p.fix_time DESC LIMIT %s) l ON true
ORDER BY v.d, l.fix_time DESC
"""
PG_FIXES = f"""
SELECT v.d, f.id, f.fix_time, f.latitude, f.longitude, f.speed, f.accuracy, f.attributes::text, f.valid
FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(d, s)
JOIN LATERAL (SELECT id, fix_time, latitude, longitude, speed, accuracy, attributes, valid FROM {POSITIONS} p
              WHERE p.device_id = v.d AND p.fix_time >= v.s ORDER BY p.fix_time) f ON true
ORDER BY v.d, f.fix_time
"""


def _pg_replay_starts(late: dict[int, float], dwell_s: float) -> dict[int, float]:
    """``replay_start`` of every late device in one statement (each probe pruned to its partitions as it runs)."""
    since = {device: first - REPLAY_MARGIN_S - dwell_s for device, first in late.items()}
    devices = list(since)
    with connection.cursor() as cursor:
        cursor.execute(PG_STARTS, [devices, [datetime.fromtimestamp(since[d], UTC) for d in devices]])
        before = dict(cursor.fetchall())
    return {device: _start(since[device], before.get(device)) for device in devices}


def _pg_replay_reads(starts: dict[int, float]) -> tuple[dict[int, tuple[list, tuple | None]], list[tuple]]:
    """``_replay_reads`` of every device in three statements."""
    devices = sorted(starts)
    args = [devices, [datetime.fromtimestamp(starts[d], UTC) for d in devices]]
    begin: dict[int, tuple[list, tuple | None]] = {d: ([], None) for d in devices}
    with connection.cursor() as cursor:
        cursor.execute(PG_ZONE_EVENTS, [*args, Event.Source.FLEET.value, sorted(ZONE_TYPES)])
        for device, key, kind in cursor.fetchall():
            begin[device][0].append((key, kind))
        cursor.execute(PG_LAST, [*args, CARRIED_FIXES])
        recent: dict[int, list[tuple]] = {}
        for device, *last in cursor.fetchall():
            last[4] = orjson.loads(last[4]) if last[4] else None
            recent.setdefault(device, []).append(tuple(last))
        for device, fixes in recent.items():
            begin[device] = (begin[device][0], _carried(fixes))
        cursor.execute(PG_FIXES, args)
        rows = [(*r[:7], orjson.loads(r[7]) if r[7] else None, r[8]) for r in cursor.fetchall()]
    return begin, rows


# A replay's start state carries the ignition and the low-battery flag from the device's last fixes that said
# them (the engine keeps both over fixes that do not: a vendor that reports ignition on every other fix), looked
# for among this many fixes before the start.
CARRIED_FIXES = 50


def _carried(recent: list[tuple]) -> tuple | None:
    """The last fix of ``recent`` (valid fixes before a replay's start, newest first: time, lat, lon, speed,
    attributes, accuracy), its attributes' ignition and battery level replaced by what the engine's state
    carried at it: the newest ignition of them, and the newest battery level that sets the low-battery flag
    either way (below ``Rules.low_battery`` or at least ``Rules.battery_ok``; a level between leaves it), so
    a replay starts where evaluating every fix in order would be."""
    if not recent:
        return None
    t, lat, lon, speed, attributes, accuracy = recent[0]
    attributes = dict(attributes or {})
    ignition = next((a["ignition"] for *_, a, _acc in recent if _number((a or {}).get("ignition")) is not None), None)
    attributes["ignition"] = ignition
    levels = (_number((a or {}).get("battery_level")) for *_, a, _acc in recent)
    decisive = (v for v in levels if v is not None and (v < Rules.low_battery or v >= Rules.battery_ok))
    attributes["battery_level"] = next(decisive, None)
    return t, lat, lon, speed, attributes, accuracy


def _number(value) -> float | None:
    """A fix's attribute as the engine reads it (``engine.as_float``: True is 1), None where it reads NaN."""
    number = engine.as_float(value)
    return None if number != number else number


def _state_from(events: list[tuple[str, str]], last: tuple | None) -> dict:
    """The state a replay begins with: the zones the device's own events put it in (``events``: its zone events
    before the start, per key newest first), and its last fix before the start (its ignition and battery; its
    overspeed and idle runs are ``engine.runs_at``'s)."""
    zones = {}
    for key, kind in events:
        if key not in zones:
            zones[key] = kind in engine.ENTER.values()
    state: dict = {"zones": {k: {"in": True, "p": None, "pid": 0} for k, inside in zones.items() if inside}}
    if last:
        t, lat, lon, speed, attributes, accuracy = last
        attributes = attributes or {}
        state.update(t=t.timestamp(), lat=lat, lon=lon, acc=accuracy)
        if (ignition := _number(attributes.get("ignition"))) is not None:
            state["ign"] = ignition >= 0.5
        level = attributes.get("battery_level")
        state["batt"] = isinstance(level, int | float) and level < Rules.low_battery
        state["v"] = speed  # for engine.runs_at, which replay_many calls with the zones and rules
    return state


def store(organization_id: int, found: list[Found], replaced: list[tuple[int, float]]) -> list[Event]:
    """Insert the events found (once each: device, type, time, key), after removing the engine's events of the
    replayed spans that the replay did not find again. Returns the events that are new."""
    keep = {(f.device, f.type, _when(f.t), f.key) for f in found}
    if replaced:  # one read for every replayed span: the events from the earliest start, each kept to its own
        since = {device: datetime.fromtimestamp(t, UTC) for device, t in replaced}
        old = (
            Event.objects.filter(device_id__in=since, source=Event.Source.FLEET, time__gte=min(since.values()))
            .exclude(type__in=engine.NOT_FROM_FIXES)
            .values_list("pk", "device_id", "type", "time", "key")
        )
        gone = [
            pk for pk, device, kind, time, key in old if time >= since[device] and (device, kind, time, key) not in keep
        ]
        if gone:
            Event.objects.filter(pk__in=gone).delete()
    if not found:
        return []
    existing = set()
    for device, kind, time, key in Event.objects.filter(  # the times as stored: rounded to the millisecond
        device_id__in={f.device for f in found},
        time__gte=_when(min(f.t for f in found)),
        time__lte=_when(max(f.t for f in found)),
    ).values_list("device_id", "type", "time", "key"):
        existing.add((device, kind, time, key))
    fresh = []
    for f in found:
        when = _when(f.t)
        if (f.device, f.type, when, f.key) not in existing:
            existing.add((f.device, f.type, when, f.key))
            fresh.append((f, when))
    geofence = [f.zone.pk if f.zone is not None and f.zone.kind == "geofence" else None for f, _ in fresh]
    said = services.echoes([(f.device, f.type, g, w) for (f, w), g in zip(fresh, geofence, strict=True)], "vendor")
    rows = []
    for k, (f, when) in enumerate(fresh):
        if k in said:  # the vendor reported it already
            continue
        zone = f.zone
        attributes = dict(f.attributes)
        if zone is not None:
            attributes.setdefault("zone", zone.name)
        rows.append(
            Event(
                organization_id=organization_id,
                device_id=f.device,
                type=f.type,
                time=when,
                key=f.key,
                position_id=f.pid or None,
                geofence_id=zone.pk if zone is not None and zone.kind == "geofence" else None,
                task_id=zone.pk if zone is not None and zone.kind == "task" else None,
                attributes=attributes,
                source=Event.Source.FLEET,
            )
        )
    if not rows:
        return []
    if connection.features.can_return_rows_from_bulk_insert:
        return Event.objects.bulk_create(rows, batch_size=500)
    return [Event.objects.create(**_fields(row)) for row in rows]


def _fields(row: Event) -> dict:
    return {f.attname: getattr(row, f.attname) for f in Event._meta.concrete_fields if f.attname != "id"}


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), UTC)


def save_states(rows: dict[int, EngineState], states: dict[int, dict]) -> None:
    """One INSERT … ON CONFLICT DO UPDATE for all (the rows exist and are locked: it updates them)."""
    saved = [EngineState(device_id=device, state=state) for device, state in states.items()]
    EngineState.objects.bulk_create(
        saved, update_conflicts=True, unique_fields=["device"], update_fields=["state", "updated"], batch_size=1000
    )
