"""Hand-computed cases of the event engine (pure: no database). Zones are built in metres around a point in
Helsinki; a fix every 10 s unless said otherwise; event times are seconds after the first fix."""

import json

import numpy as np
import pytest

from fleet.events import engine
from fleet.events.zones import POI, TASK
from fleet.geo import calendar
from tests.events.helpers import T0, circle, corridor, fixes, kinds, run, square

# A square 100 m x 100 m from (0, 0) to (100, 100).
BOX = square(1, 0, 0, 100, 100)
# A drive from 200 m west, through the square's middle, to 200 m east, 50 m a fix.
ACROSS = [(x, 50) for x in range(-200, 301, 50)]


def test_polygon_enter_and_exit_at_the_first_fix_inside_and_outside():
    found, _ = run([BOX], fixes(ACROSS))
    # fixes at x = -200, -150, ... 300: x=0 (t=40) and x=100 (t=60) are on the edges: a point on the edge is
    # inside (as for circles and corridors); x=150 (t=70) is out
    assert kinds(found) == [("geofenceEnter", 40.0), ("geofenceExit", 70.0)]
    assert all(f.key == "geofence:1" and f.zone is BOX for f in found)
    assert found[0].pid == 5  # the position that entered


def test_circle_and_corridor():
    ring = circle(2, 0, 0, 30)
    road = corridor(3, [(-100, -5), (100, 5)], width=20)  # 10 m either side of a slightly tilted line
    path = [(-150, 0), (-90, 0), (-20, 0), (0, 0), (40, 0), (90, 4), (150, 0), (150, 40)]
    found, _ = run([ring, road], fixes(path))
    assert [(f.type, f.key, round(f.t - T0)) for f in sorted(found, key=lambda f: (f.t, f.key))] == [
        ("geofenceEnter", "geofence:3", 10),  # (-90, 0) is 0.5 m off the line
        ("geofenceEnter", "geofence:2", 20),  # 20 m from the centre
        ("geofenceExit", "geofence:2", 40),  # 40 m
        ("geofenceExit", "geofence:3", 60),  # (150, 0) is past the corridor's end
    ]


JITTER = [(-200, 50), (-3, 50), (2, 50), (-2, 50), (3, 50), (-1, 50), (4, 50), (30, 50), (40, 50), (60, 50)]


def test_boundary_jitter_flaps_without_a_dwell():
    found, _ = run([BOX], fixes(JITTER))
    assert kinds(found) == [
        ("geofenceEnter", 20.0),
        ("geofenceExit", 30.0),
        ("geofenceEnter", 40.0),
        ("geofenceExit", 50.0),
        ("geofenceEnter", 60.0),
    ]


def test_a_dwell_enters_once_at_the_first_fix_of_the_stay_and_ignores_drift():
    fence = square(1, 0, 0, 100, 100, dwell_s=30)
    found, state = run([fence], fixes(JITTER))
    # inside from t=60 (x=-1 is out: t=50; x=4 at t=60, 30 at 70, 40 at 80, 60 at 90): 30 s inside at t=90
    assert kinds(found) == [("geofenceEnter", 60.0)]
    assert found[0].attributes == {"confirmed": T0 + 90}
    assert state[1]["zones"]["geofence:1"]["in"] is True
    # leaving: out at 100, 110, 120, 130 -> exit confirmed at 130, timed at 100
    later = fixes([(150, 50)] * 4, t0=T0 + 100)
    found, state = run([fence], later, state)
    assert kinds(found) == [("geofenceExit", 100.0)]
    assert "geofence:1" not in state[1]["zones"]


def test_an_accurate_exit_needs_the_fix_outside_by_more_than_its_accuracy():
    path = [(50, 50), (50, 50), (105, 50), (130, 50), (50, 50)]
    found, _ = run([BOX], fixes(path, accuracy=[5, 5, 20, 20, 5]))
    # 105: 5 m out with 20 m accuracy: cannot tell, stays in; 130: 30 m out > 20 m: exit; back in at t=40
    assert kinds(found) == [("geofenceEnter", 0.0), ("geofenceExit", 30.0), ("geofenceEnter", 40.0)]
    found, _ = run([BOX], fixes(path))  # without accuracies, 105 is outside
    assert kinds(found) == [("geofenceEnter", 0.0), ("geofenceExit", 20.0), ("geofenceEnter", 40.0)]


def test_a_crossing_with_no_fix_inside_enters_and_leaves_at_interpolated_times():
    thin = square(1, 0, 0, 20, 100)  # 20 m wide
    found, _ = run([thin], fixes([(-50, 50), (70, 50)], step_s=60))
    # 120 m in 60 s: enters at x=0 (50 m: 25 s) and leaves at x=20 (70 m: 35 s)
    assert kinds(found) == [("geofenceEnter", 25.0), ("geofenceExit", 35.0)]
    assert all(f.attributes == {"crossing": True} for f in found)
    # a dwell of 30 s: 10 s inside is no visit
    found, _ = run([square(1, 0, 0, 20, 100, dwell_s=30)], fixes([(-50, 50), (70, 50)], step_s=60))
    assert found == []


def test_a_crossing_is_also_found_between_two_batches():
    thin = square(1, 0, 0, 20, 100)
    _, state = run([thin], fixes([(-50, 50)]))
    found, _ = run([thin], fixes([(70, 50)], t0=T0 + 60), state)
    assert kinds(found) == [("geofenceEnter", 25.0), ("geofenceExit", 35.0)]


def test_a_fix_on_a_circles_edge_is_inside_or_outside_by_the_same_measure_as_the_segments_through_it():
    """The soak's recomputation found a vehicle on a 917 m circle's edge given an enter and an exit at one
    instant, twice: the fix was outside by the great-circle distance but inside by the local frame the passages
    are worked out in, so the segments to and from it each "crossed" the circle for a few millimetres. One
    measure for both: the fix is inside, the vehicle enters there and leaves at the next fix."""
    import math

    from fleet.core.geodesy import haversine_m
    from tests.events.helpers import at

    r, d, bearing = 917.4, 917.38, math.radians(120)  # 2 cm inside the circle in the local frame
    edge = (d * math.sin(bearing), d * math.cos(bearing))
    far = (1100 * math.sin(bearing), 1100 * math.cos(bearing))
    assert haversine_m(*at(0, 0), *at(*edge)) > r  # the great-circle distance alone would say outside
    ring = circle(1, 0, 0, r)
    found, _ = run([ring], fixes([far, edge, far], step_s=1))
    assert kinds(found) == [("geofenceEnter", 1.0), ("geofenceExit", 2.0)]
    assert not any(f.attributes.get("crossing") for f in found)
    # fix by fix, the same
    _, state = run([ring], fixes([far], step_s=1))
    first, state = run([ring], fixes([edge], t0=T0 + 1), state)
    second, _ = run([ring], fixes([far], t0=T0 + 2), state)
    assert kinds(first + second) == kinds(found)


def test_a_passage_shorter_than_a_millisecond_is_no_visit():
    """A segment that grazes a zone gives no enter and exit at one stored instant (times are kept to the
    millisecond: two such passages at one fix would be one event stored and two found)."""
    ring = circle(1, 0, 0, 100)
    graze = [(-300, 99.99999), (300, 99.99999)]  # a chord of 9 cm, covered in 0.15 ms
    found, _ = run([ring], fixes(graze, step_s=1))
    assert found == []
    found, _ = run([ring], fixes([(-300, 90), (300, 90)], step_s=1))  # 87 m of chord: a passage
    assert [f.type for f in found] == ["geofenceEnter", "geofenceExit"]


def test_a_geofence_is_there_only_while_its_calendar_is_active():
    active = calendar.parse(_ics(T0 + 45, 3600))  # from 45 s after the first fix, for an hour
    fence = square(1, 0, 0, 100, 100, calendar=active)
    found, state = run([fence], fixes(ACROSS))
    # the fix at 40 s is inside before the geofence is active: the entry is at 50 s, the first fix inside it then
    assert kinds(found) == [("geofenceEnter", 50.0), ("geofenceExit", 70.0)]
    assert state[1]["zones"] == {}
    ended = calendar.parse(_ics(T0 - 3600, 3655))  # active until 55 s: the vehicle is inside when it ends
    found, _ = run([square(1, 0, 0, 100, 100, calendar=ended)], fixes(ACROSS))
    assert kinds(found) == [("geofenceEnter", 40.0), ("geofenceExit", 60.0)]
    found, _ = run([square(1, 0, 0, 100, 100, calendar=calendar.parse(_ics(T0 + 3600, 60)))], fixes(ACROSS))
    assert found == []


def _ics(t: float, length_s: int) -> str:
    from datetime import UTC, datetime

    begin = datetime.fromtimestamp(t, UTC)
    return f"DTSTART:{begin:%Y%m%dT%H%M%S}Z\nDURATION:PT{length_s}S"


def test_pois_and_tasks_have_their_own_event_types_and_a_task_applies_to_its_vehicle_only():
    shop = circle(7, 50, 50, 40, kind=POI)
    job = circle(9, 50, 50, 40, kind=TASK, devices=frozenset({2}))
    found, _ = run([shop, job], fixes(ACROSS, device=1))
    assert {f.type for f in found} == {"poiArrival", "poiDeparture"}
    found, _ = run([shop, job], fixes(ACROSS, device=2))
    assert {f.type for f in found} == {"poiArrival", "poiDeparture", "taskArrival", "taskDeparture"}


def test_overspeed_needs_its_minimal_duration_and_a_zone_limit_wins_inside():
    rules = engine.Rules(speed_limit_kmh=80, overspeed_min_s=15)
    speeds = [70, 90, 95, 70, 90, 91, 99, 60]
    found, _ = run([], fixes([(0, 0)] * 8, speed=speeds), rules=rules)
    # 90, 95 for 10 s: too short; 90, 91, 99 from 40 s to 60 s: one event at 40 s with the run's top speed
    assert kinds(found) == [("deviceOverspeed", 40.0)]
    assert found[0].attributes == {"speed": 99.0, "limit": 80}
    school = square(1, -10, -10, 10, 10, speed_limit_kmh=30)
    found, _ = run([school], fixes([(0, 0)] * 3, speed=[50, 50, 50]), rules=rules)
    assert [f.type for f in found if f.type == "deviceOverspeed"] == ["deviceOverspeed"]


def test_ignition_idle_and_low_battery():
    rules = engine.Rules(idle_max_s=30)
    ign = [np.nan, 0, 1, 1, 1, 1, 1, 0]
    speed = [0, 0, 0, 0, 0, 0, 40, 0]
    battery = [50, 30, 19, 18, 22, 26, 19, 19]
    found, _ = run([], fixes([(0, 0)] * 8, ignition=ign, speed=speed, battery=battery), rules=rules)
    assert kinds(found) == [
        ("alarm", 20.0),  # 19 % < 20 %
        ("deviceIdle", 20.0),  # ignition on, standing, from 20 s; reported when 30 s had passed (at 50 s)
        ("ignitionOn", 20.0),
        ("alarm", 60.0),  # back at 26 % (>= 25 %) at 50 s, low again at 60 s
        ("ignitionOff", 70.0),
    ]


def test_a_gap_longer_than_the_stale_time_reports_offline_then_online():
    rules = engine.Rules(stale_s=300)
    found, state = run([], fixes([(0, 0), (0, 0)], times=[T0, T0 + 1000]), rules=rules)
    assert kinds(found) == [("deviceOffline", 300.0), ("deviceOnline", 1000.0)]
    state[1]["off"] = True  # reported offline by the periodic check meanwhile
    found, _ = run([], fixes([(0, 0)], t0=T0 + 1010), state, rules=rules)
    assert kinds(found) == [("deviceOnline", 1010.0)]


@pytest.mark.parametrize("cut", [1, 3, 5, 7, 9])
def test_any_split_into_batches_through_a_json_state_finds_the_same_events(cut):
    zones = [square(1, 0, 0, 100, 100, dwell_s=25), circle(2, 200, 50, 60), square(3, 260, 0, 270, 100)]
    path = [(x, 50) for x in range(-100, 400, 37)]
    speed = [60 + 5 * (k % 7) for k in range(len(path))]
    whole, _ = run(zones, fixes(path, speed=speed), rules=engine.Rules(speed_limit_kmh=80, overspeed_min_s=0))
    first, state = run(
        zones, fixes(path[:cut], speed=speed[:cut]), rules=engine.Rules(speed_limit_kmh=80, overspeed_min_s=0)
    )
    state = {1: json.loads(json.dumps(state[1]))}  # a restart: the state as stored
    rest = fixes(path[cut:], t0=T0 + 10 * cut, speed=speed[cut:])
    second, _ = run(zones, rest, state, rules=engine.Rules(speed_limit_kmh=80, overspeed_min_s=0))
    assert kinds(first + second) == kinds(whole)
    assert len(whole) >= 6


def test_fixes_not_newer_than_the_state_are_left_to_the_replay():
    _, state = run([BOX], fixes(ACROSS[:6]))
    before = json.loads(json.dumps(state[1]))
    found, after = run([BOX], fixes(ACROSS[:6]), state)
    assert found == [] and after[1] == before


def test_many_devices_in_one_batch_do_not_mix():
    a = fixes(ACROSS, device=1)
    b = fixes([(x + 1000, 50) for x, _ in ACROSS], device=2)
    batch = engine.Fixes(*(np.r_[getattr(a, f), getattr(b, f)] for f in engine.Fixes.__dataclass_fields__))
    found, states = run([BOX], batch)
    assert {f.device for f in found} == {1} and set(states) == {1, 2}
