"""The event engine in the ingest path: events stored once with their geofence and position, states carried
between batches, late fixes replayed so the stored events equal those computed from all fixes in order, zones
rebuilt when a geofence changes, and nothing crossing organisations."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import Polygon

from fleet.events import engine, places, run
from fleet.events.models import EngineState
from fleet.geo.models import Geofence
from fleet.tracking import ingest
from fleet.tracking.models import Event
from fleet.tracking.records import PositionRecord
from tests.conftest import make_account, make_device
from tests.events.helpers import at

pytestmark = pytest.mark.django_db
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def square(org, name="Yard", x0=0, y0=0, x1=100, y1=100, **kw) -> Geofence:
    corners = [at(x0, y0), at(x1, y0), at(x1, y1), at(x0, y1), at(x0, y0)]
    fence = Geofence(
        organization=org, name=name, kind="polygon", geometry=Polygon([(lon, lat) for lat, lon in corners]), **kw
    )
    fence.full_clean()
    fence.save()
    return fence


def records(device, xs, first=0, step_s=10, **attrs):
    out = []
    for k, x in enumerate(xs):
        lat, lon = at(x, 50)
        fix = START + timedelta(seconds=(first + k) * step_s)
        out.append(PositionRecord(str(device.pk), fix, lat, lon, speed=30.0, attributes=dict(attrs)))
    return out


def stored(device):
    return [
        (e.type, int((e.time - START).total_seconds()), e.key)
        for e in Event.objects.filter(device=device).order_by("time", "type")
    ]


@pytest.fixture(autouse=True)
def fresh_zones():
    places.forget()
    yield
    places.forget()


def test_events_are_stored_with_their_geofence_and_position_and_the_state_carries_over(org_a):
    van = make_device(org_a)
    yard = square(org_a)
    ingest.positions(org_a.pk, None, records(van, [-100, -50, 10]))
    ingest.positions(org_a.pk, None, records(van, [60, 150, 200], first=3))
    assert stored(van) == [("geofenceEnter", 20, f"geofence:{yard.pk}"), ("geofenceExit", 40, f"geofence:{yard.pk}")]
    enter = Event.objects.get(device=van, type="geofenceEnter")
    assert enter.source == "fleet" and enter.geofence == yard and enter.attributes["zone"] == "Yard"
    assert enter.position.fix_time == START + timedelta(seconds=20)
    assert EngineState.objects.get(device=van).state["t"] == (START + timedelta(seconds=50)).timestamp()


def test_the_same_positions_again_store_no_event_twice(org_a):
    van = make_device(org_a)
    square(org_a)
    batch = records(van, [-100, 10, 150])
    ingest.positions(org_a.pk, None, batch)
    ingest.positions(org_a.pk, None, records(van, [-100, 10, 150]))  # duplicates: nothing stored, nothing run
    run.process(org_a.pk, [])  # an empty batch does nothing
    assert len(stored(van)) == 2


def test_a_late_fix_is_replayed_and_the_events_equal_those_of_all_fixes_in_order(org_a):
    van = make_device(org_a)
    yard = square(org_a, x0=0, x1=20)  # 20 m wide: the drive passes it between two fixes
    xs = [-120, -80, -40, 10, 60, 100, 140]  # x=10 (third fix, 30 s) is the only one inside
    on_time = [r for k, r in enumerate(records(van, xs)) if k != 3]
    ingest.positions(org_a.pk, None, on_time[:3])
    ingest.positions(org_a.pk, None, on_time[3:])
    key = f"geofence:{yard.pk}"
    # without the fix inside, the drive crossed the yard between 20 s (x=-40) and 40 s (x=60): 28 s and 32 s
    assert stored(van) == [("geofenceEnter", 28, key), ("geofenceExit", 32, key)]
    ingest.positions(org_a.pk, None, [records(van, xs)[3]])  # the buffered fix arrives
    assert stored(van) == [("geofenceEnter", 30, key), ("geofenceExit", 40, key)]
    index = places.index_for(org_a.pk)
    batch = run.fixes_of_stored([ingest.Stored(0, van.pk, r) for r in records(van, xs)])
    offline, _ = engine.evaluate(index, batch, {}, lambda d: engine.Rules())
    assert [(f.type, round(f.t - START.timestamp()), f.key) for f in offline] == stored(van)


def test_many_devices_late_in_one_batch_are_replayed_together_and_equal_all_fixes_in_order(
    org_a, django_assert_max_num_queries
):
    """A stream's gap filled by one poll makes every device of the batch late: their replays are read and
    evaluated together (a constant number of statements on PostgreSQL), each device's events still equal to
    those of its fixes in order, its state and the other devices' events untouched."""
    square(org_a, x0=0, x1=20)
    xs = [-120, -80, -40, 10, 60, 100, 140]
    vans = [make_device(org_a, name=f"Van {k}") for k in range(12)]
    for van in vans:  # each drove across without the fix inside, which comes late
        on_time = [r for k, r in enumerate(records(van, xs)) if k != 3]
        ingest.positions(org_a.pk, None, on_time)
    before = {van.pk: EngineState.objects.get(device=van).state["t"] for van in vans}
    late = [records(van, xs)[3] for van in vans]
    from django.db import connection

    bound = 25 if connection.vendor == "postgresql" else 25 + 4 * len(vans)  # SQLite: 4 reads per device
    with django_assert_max_num_queries(bound):
        ingest.positions(org_a.pk, None, late)
    index = places.index_for(org_a.pk)
    for van in vans:
        batch = run.fixes_of_stored([ingest.Stored(0, van.pk, r) for r in records(van, xs)])
        offline, _ = engine.evaluate(index, batch, {}, lambda d: engine.Rules())
        assert [(f.type, round(f.t - START.timestamp()), f.key) for f in offline] == stored(van)
        assert [t for t, _s, _k in stored(van)] == ["geofenceEnter", "geofenceExit"]
        assert EngineState.objects.get(device=van).state["t"] == before[van.pk]  # the newest fix is still the last


def test_a_geofence_drawn_after_a_batch_is_used_by_the_next(org_a):
    van = make_device(org_a)
    square(org_a, name="Far", x0=5000, x1=5100)
    ingest.positions(org_a.pk, None, records(van, [-100]))
    places.index_for(org_a.pk)  # built and cached without the new yard
    yard = square(org_a)
    ingest.positions(org_a.pk, None, records(van, [50], first=1))
    assert stored(van) == [("geofenceEnter", 10, f"geofence:{yard.pk}")]


def test_a_geofence_applies_only_to_its_devices_and_never_across_organisations(org_a, org_b):
    van, truck = make_device(org_a, "Van"), make_device(org_a, "Truck")
    other = make_device(org_b, "Other")
    yard = square(org_a)
    yard.devices.add(truck)
    square(org_b, name="B yard", x0=-1000, x1=1000)
    ingest.positions(org_a.pk, None, records(van, [-100, 50]) + records(truck, [-100, 50]))
    assert stored(van) == [] and stored(truck) == [("geofenceEnter", 10, f"geofence:{yard.pk}")]
    ingest.positions(org_b.pk, None, records(other, [-2000, 50]))
    assert Event.objects.filter(device=other).values_list("geofence__organization", flat=True).get() == org_b.pk
    # and to the devices of its groups
    from fleet.tracking.models import DeviceGroup

    vans = DeviceGroup.objects.create(organization=org_a, name="Vans")
    bus = make_device(org_a, "Bus", group=vans)
    yard.groups.add(vans)
    ingest.positions(org_a.pk, None, records(bus, [-100, 50], first=3) + records(van, [150, 50], first=3))
    assert stored(bus) == [("geofenceEnter", 40, f"geofence:{yard.pk}")] and stored(van) == []


def test_listeners_hear_of_new_events_after_the_commit(org_a, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    square(org_a)
    heard = []

    def listener(org, events):
        heard.append((org, [e.type for e in events]))

    run.listen(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ingest.positions(org_a.pk, None, records(van, [-100, 50, 150]))
    finally:
        run._listeners.remove(listener)  # the apps' own listeners stay
    assert heard == [(org_a.pk, ["geofenceEnter", "geofenceExit"])]


def test_a_failing_engine_never_fails_the_batch(org_a, monkeypatch, caplog):
    van = make_device(org_a)
    monkeypatch.setattr(run, "process", lambda *a: 1 / 0)
    result = ingest.positions(org_a.pk, None, records(van, [-100, 50]))
    assert result.created == 2 and "deferred position subscriber failed on 2 positions" in caplog.text
    from fleet.tracking.models import IngestBacklog

    assert IngestBacklog.objects.count() == 1  # left to the sweep


@pytest.mark.parametrize("cut", [[4], [1, 2], [2], []], ids=["after-near", "after-each", "after-inside", "one-batch"])
def test_where_batches_are_cut_never_changes_the_events(org_a, cut):
    """A pending dwell ended by the next fix outside, and a fix within its accuracy of an edge, give the same
    events whether the fixes come in one batch or cut anywhere: a batch's first segment starts at its state's
    last fix, which is inside or near the zone as the fix before would be within one batch (the soak's offline
    recomputation found a crossing stored only because a poll had cut the batch there)."""
    van = make_device(org_a)
    square(org_a, name="Dock", x0=0, x1=100, dwell_s=15)  # a stay shorter than 15 s is no visit
    square(org_a, name="Gate", x0=300, x1=310)
    # 0 s outside, 30 s inside the dock (alone: gone by the next fix), 60 s out, then 90 s 5 m short of the
    # gate with 20 m accuracy (cannot tell), 120 s past it
    batch = records(van, [-100, 10, 150], step_s=30) + records(van, [295, 400], first=3, step_s=30)
    batch[3] = PositionRecord(
        batch[3].device_id, batch[3].fix_time, batch[3].latitude, batch[3].longitude, speed=30.0, accuracy=20.0
    )
    parts, start = [], 0
    for end in [*cut, len(batch)]:
        parts.append(batch[start:end])
        start = end
    for part in parts:
        if part:
            ingest.positions(org_a.pk, None, part)
    index = places.index_for(org_a.pk)
    fixes = run.fixes_of_stored([ingest.Stored(0, van.pk, r) for r in batch])
    offline, _ = engine.evaluate(index, fixes, {}, lambda d: engine.Rules())
    assert [(f.type, round(f.t - START.timestamp()), f.key) for f in offline] == stored(van) == []


class Killed(BaseException):
    """Stands for the process dying mid-batch: nothing catches it on the way out."""


@pytest.mark.parametrize("dies_in", ["push", "engine"])
def test_a_stored_batch_is_evaluated_even_if_its_process_dies_before(org_a, monkeypatch, dies_in):
    """The engine runs after the positions' commit and the live push: a process killed in between (at the push,
    or while it evaluates, its writes rolled back) leaves the fixes stored, unevaluated, and the batch's backlog
    row; the sweep evaluates them, so no fix is skipped (its segment skipped would be a crossing found from the
    fixes around it that the drive never made). The device's next batch, already evaluated before the sweep
    came, changes nothing: the events are those of all the fixes in order."""
    from fleet.tracking.models import IngestBacklog

    van = make_device(org_a)
    yard = square(org_a)
    where, real = (ingest, ingest._notify) if dies_in == "push" else (run, run.process)

    def dies(*args):
        real(*args)  # the push sent / the events written, then the process dies
        raise Killed

    monkeypatch.setattr(where, "_notify" if dies_in == "push" else "process", dies)
    with pytest.raises(Killed):
        ingest.positions(org_a.pk, None, records(van, [-100, 10, 150]))
    monkeypatch.undo()
    assert van.positions.count() == 3 and not Event.objects.filter(device=van).exists()
    assert IngestBacklog.objects.count() == 1
    assert ingest.recover_backlog(older_than_s=3600) == 0  # a live batch's row is not the sweep's yet
    ingest.positions(org_a.pk, None, records(van, [300], first=3))  # the next batch: evaluated from the state
    assert ingest.recover_backlog(older_than_s=0) == 1
    assert not IngestBacklog.objects.exists()
    key = f"geofence:{yard.pk}"
    assert stored(van) == [("geofenceEnter", 10, key), ("geofenceExit", 20, key)]
    assert ingest.recover_backlog(older_than_s=0) == 0


def test_the_push_does_not_wait_for_the_evaluation(org_a):
    """The live push (an ordinary subscriber) runs before the engine: when it has the fixes, their events are not
    found yet and the batch's backlog row is there; once ingest returns, the events are stored and the row gone."""
    from fleet.tracking.models import IngestBacklog

    van = make_device(org_a)
    square(org_a)
    at_push = []

    def pushed(org, batch):
        at_push.append((len(batch), Event.objects.filter(device=van).count(), IngestBacklog.objects.count()))

    ingest.subscribe(pushed)
    try:
        ingest.positions(org_a.pk, None, records(van, [-100, 10, 150]))
    finally:
        ingest._subscribers.remove(pushed)
    assert at_push == [(3, 0, 1)]
    assert len(stored(van)) == 2 and not IngestBacklog.objects.exists()


def test_a_vendor_event_and_ours_for_the_same_happening_are_stored_once(org_a):
    from fleet.tracking import services
    from fleet.tracking.records import EventRecord

    account = make_account(org_a, "DT")
    make_device(org_a, "Van", account, vendor_id="7")
    yard = square(org_a)

    def fixes(*pairs):  # (seconds, x metres)
        return [PositionRecord("7", START + timedelta(seconds=s), *at(x, 50), speed=30.0) for s, x in pairs]

    def said(*events):  # (vendor id, type, seconds, geofence)
        records = [EventRecord("7", k, START + timedelta(seconds=s), v, g) for v, k, s, g in events]
        return services.store_events(org_a.pk, account.pk, records, {"g": yard.pk})

    ingest.positions(org_a.pk, account.pk, fixes((0, -100), (10, 50)))  # ours: geofenceEnter at 10 s
    assert Event.objects.get().source == "fleet"
    tally = said(("v1", "geofenceEnter", 12, "g"), ("v2", "ignitionOn", 12, None), ("v3", "geofenceEnter", 90, "g"))
    assert tally.created == 3  # the vendor's entry 2 s after ours takes its place; the one 80 s later is another
    said(("v4", "geofenceExit", 55, "g"))  # the vendor first...
    ingest.positions(org_a.pk, account.pk, fixes((60, 200)))  # ...ours 5 s later: not stored
    assert sorted(Event.objects.values_list("type", "source", "time")) == [
        ("geofenceEnter", "vendor", START + timedelta(seconds=12)),
        ("geofenceEnter", "vendor", START + timedelta(seconds=90)),
        ("geofenceExit", "vendor", START + timedelta(seconds=55)),
        ("ignitionOn", "vendor", START + timedelta(seconds=12)),
    ]


def test_a_late_fix_in_a_long_gap_replaces_the_events_of_the_segment_it_splits(org_a):
    """The crossing of the gap's segment is timed long before the late fix: the replay reaches back to it."""
    van = make_device(org_a)
    yard = square(org_a, x0=0, x1=20)
    key = f"geofence:{yard.pk}"
    west, late, east = records(van, [-100], step_s=4), records(van, [-50], 600, 4), records(van, [100], 720, 4)
    ingest.positions(org_a.pk, None, west)
    ingest.positions(org_a.pk, None, east)  # 48 minutes later, across the yard
    assert [e for e in stored(van) if e[2] == key] == [("geofenceEnter", 1440, key), ("geofenceExit", 1728, key)]
    ingest.positions(org_a.pk, None, late)  # buffered: still west of the yard at 2400 s
    assert [e for e in stored(van) if e[2] == key] == [("geofenceEnter", 2560, key), ("geofenceExit", 2624, key)]
    batch = run.fixes_of_stored([ingest.Stored(0, van.pk, r) for r in west + late + east])
    offline, _ = engine.evaluate(places.index_for(org_a.pk), batch, {}, lambda d: engine.Rules())
    assert [(f.type, round(f.t - START.timestamp()), f.key) for f in offline] == stored(van)


def test_a_replay_starting_inside_a_crossed_segment_starts_from_the_fix_before_it(org_a):
    """The replay's margin before a late fix ends between two fixes whose segment crosses a zone, after the
    crossing's enter and before its exit (the hour's soak: iTrack exits stored at the next fix instead of the
    crossing). The replay begins just after the last fix before the margin, with the zones its events say the
    device was in at that fix, so it finds the crossing again instead of an exit at the next fix."""
    van = make_device(org_a)
    yard = square(org_a, x0=0, x1=100)
    key = f"geofence:{yard.pk}"
    west, east, further = records(van, [-100], 0, 1000), records(van, [200], 1, 1000), records(van, [300], 2, 1000)
    for batch in (west, east, further):
        ingest.positions(org_a.pk, None, batch)
    zone = [("geofenceEnter", 333, key), ("geofenceExit", 666, key)]  # crossed between 0 and 1000 s
    assert [e for e in stored(van) if e[2] == key] == zone
    late = records(van, [250], 15, 100)  # at 1500 s: its margin reaches back to 600 s, inside the crossing
    assert 333 < 1500 - run.REPLAY_MARGIN_S < 666
    ingest.positions(org_a.pk, None, late)
    assert [e for e in stored(van) if e[2] == key] == zone
    batch = run.fixes_of_stored([ingest.Stored(0, van.pk, r) for r in west + east + late + further])
    offline, _ = engine.evaluate(places.index_for(org_a.pk), batch, {}, lambda d: engine.Rules())
    assert sorted((f.type, int(f.t - START.timestamp()), f.key) for f in offline) == sorted(stored(van))


def test_a_replay_starting_just_after_a_fix_under_the_limit_reports_the_run_after_it(org_a):
    """The last fix before a replay's start was under the zone's speed limit and the next one over it: the
    overspeed run begins inside the replay and is reported again, not carried as one reported already (the
    full-size soak: 24 overspeed events deleted by replays). A run the start fix was in stays reported once."""
    van = make_device(org_a)
    square(org_a, x0=-10000, x1=10000, speed_limit_kmh=30)

    def fix(t, speed):
        lat, lon = at(t / 10, 50)
        return PositionRecord(str(van.pk), START + timedelta(seconds=t), lat, lon, speed)

    speeds = {t: 50.0 if 610 <= t <= 700 or 1200 <= t <= 1300 else 20.0 for t in range(0, 2500, 10)}
    late_at = 1505  # its margin begins at 605 s: the replay starts just after the fix at 600 s (20 km/h)
    ingest.positions(org_a.pk, None, [fix(t, v) for t, v in speeds.items() if t < 1500])
    ingest.positions(org_a.pk, None, [fix(t, v) for t, v in speeds.items() if t >= 1500])
    over = [e for e in stored(van) if e[0] == "deviceOverspeed"]
    assert over == [("deviceOverspeed", 610, ""), ("deviceOverspeed", 1200, "")]
    ingest.positions(org_a.pk, None, [fix(late_at, 20.0)])
    assert [e for e in stored(van) if e[0] == "deviceOverspeed"] == over
    ingest.positions(org_a.pk, None, [fix(1215 + run.REPLAY_MARGIN_S, 20.0)])  # from 1210 s: inside the run
    assert [e for e in stored(van) if e[0] == "deviceOverspeed"] == over


def test_an_event_timed_between_two_milliseconds_is_stored_once(org_a):
    """Stored times are rounded to the millisecond: the check for events already stored compares those."""
    van = make_device(org_a)
    found = [engine.Found(van.pk, engine.IGNITION_ON, START.timestamp() + 0.1234)]
    assert len(run.store(org_a.pk, found, [])) == 1
    assert run.store(org_a.pk, found, []) == []
    assert Event.objects.filter(device=van).count() == 1


def test_a_fix_the_vendor_marks_invalid_is_not_evaluated_as_a_replay_would_not(org_a):
    van = make_device(org_a)
    yard = square(org_a)
    batch = records(van, [-100, 10, 150])
    batch[1].valid = False  # no GPS lock: its place is not believed
    ingest.positions(org_a.pk, None, batch)
    key = f"geofence:{yard.pk}"
    assert stored(van) == [("geofenceEnter", 8, key), ("geofenceExit", 16, key)]  # crossed between the others
    ingest.positions(org_a.pk, None, records(van, [-200], first=-1))  # a late fix: the replay finds the same
    assert [e for e in stored(van) if e[2] == key] == [("geofenceEnter", 8, key), ("geofenceExit", 16, key)]


def test_the_engine_runs_while_the_shared_cache_is_down(org_a, monkeypatch):
    """A Redis restart: the zones' version cannot be read, the batch is evaluated all the same."""
    from fleet.events import kept

    van = make_device(org_a)
    yard = square(org_a)
    ingest.positions(org_a.pk, None, records(van, [-100]))

    def down(*args, **kwargs):
        raise ConnectionError("Redis is restarting")

    monkeypatch.setattr(kept.cache, "get", down)
    ingest.positions(org_a.pk, None, records(van, [10, 150], first=1))
    assert stored(van) == [("geofenceEnter", 10, f"geofence:{yard.pk}"), ("geofenceExit", 20, f"geofence:{yard.pk}")]
    places.forget()  # and with no index built yet
    ingest.positions(org_a.pk, None, records(van, [10], first=3))
    assert stored(van)[-1] == ("geofenceEnter", 30, f"geofence:{yard.pk}")


def _alternating(device, times, off_from, late=()):
    """Fixes a minute apart whose ignition is said on every other one only (on before ``off_from``, off from it),
    a low battery (15 %) on the first, 22 % on the other odd ones up to ``off_from`` and 18 % after, and
    ``late`` left out (sent later)."""
    out = []
    for k, t in enumerate(times):
        if t in late:
            continue
        attributes = {"ignition": t < off_from} if k % 2 == 0 else {}
        if k == 0:
            attributes["battery_level"] = 15
        elif k % 2:  # 22 %: between the two thresholds, the low flag stays as it was; 18 %: low, still
            attributes["battery_level"] = 22 if t <= off_from else 18
        lat, lon = at(-1000, 50)
        out.append(PositionRecord(str(device.pk), START + timedelta(seconds=t), lat, lon, 30.0, attributes=attributes))
    return out


def test_a_replay_starts_with_the_ignition_and_battery_the_fixes_before_it_carried(org_a):
    """A late fix's replay begins just after a fix that says no ignition and a battery level between the two
    thresholds: the ignition and the low-battery flag it starts with are those of the last fixes that said them
    (as evaluating every fix in order carries them), so the ignitionOff found before is found again, not
    deleted, and the 18 % after it raise no second lowBattery. It began with the last fix's own attributes: no
    ignition (the ignitionOff deleted) and 22 % read as not low (a second alarm)."""
    times = [60 * k for k in range(46)]
    late = 1560 + run.REPLAY_MARGIN_S - 30  # its replay starts 30 s before the first fix that says off
    times.insert(times.index(2400) + 1, late)
    in_order, replayed = make_device(org_a, "in order"), make_device(org_a, "late")
    ingest.positions(org_a.pk, None, _alternating(in_order, times, off_from=1500))
    ingest.positions(org_a.pk, None, _alternating(replayed, times, off_from=1500, late={late}))
    assert stored(replayed) == stored(in_order)
    ingest.positions(
        org_a.pk,
        None,
        [r for r in _alternating(replayed, times, off_from=1500) if r.fix_time == START + timedelta(seconds=late)],
    )
    assert stored(in_order) == [("alarm", 0, "lowBattery"), ("ignitionOff", 1560, "")]
    assert stored(replayed) == stored(in_order)
