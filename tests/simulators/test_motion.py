"""The simulators' motion model: deterministic, on real streets, physically plausible."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from fleet.simulators import roads
from fleet.simulators.indoor import IndoorFix, IndoorFleet
from fleet.simulators.motion import Fix, Fleet, luhn_digit

START = datetime(2025, 3, 3, 7, 59, 30, 250_000, tzinfo=UTC)
HOURS = timedelta(hours=2)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(60, seed=11, start=START)


@pytest.fixture(scope="module")
def fixes(fleet: Fleet) -> list[Fix]:
    return fleet.advance(START + HOURS)


@pytest.fixture(scope="module")
def tracks(fixes: list[Fix]) -> dict[int, list[Fix]]:
    by_device: dict[int, list[Fix]] = defaultdict(list)
    for fix in fixes:
        by_device[fix.device].append(fix)
    return by_device


def metres(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Project to local metres (x east, y north) around central Helsinki."""
    g = roads.load_graph()
    return np.column_stack(
        [(np.asarray(lon) - 24.94) * g.m_per_deg_lon, (np.asarray(lat) - 60.17) * roads.M_PER_DEG_LAT]
    )


def distances_to_edges(points: np.ndarray) -> np.ndarray:
    """Distance (m) from each point to every directed edge, shape (points, edges)."""
    g = roads.load_graph()
    a, b = metres(g.lat[g.edge_u], g.lon[g.edge_u]), metres(g.lat[g.edge_v], g.lon[g.edge_v])
    ab = b - a
    ap = points[:, None, :] - a[None, :, :]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0.0, 1.0)
    return np.hypot(*(ap - t[..., None] * ab).transpose(2, 0, 1))


def moving(fixes: list[Fix]) -> list[Fix]:
    return [f for f in fixes if f.valid and f.ignition and f.speed_kmh > 3.0]


def parked_runs(track: list[Fix]) -> list[list[Fix]]:
    runs: list[list[Fix]] = [[]]
    for fix in track:
        if fix.ignition:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(fix)
    return [run for run in runs if run]


# -- the contract ------------------------------------------------------------------


def test_fixes_carry_the_agreed_fields(fixes: list[Fix]) -> None:
    names = [f.name for f in dataclasses.fields(Fix)]
    assert names == [
        "device",
        "time",
        "lat",
        "lon",
        "altitude",
        "speed_kmh",
        "course",
        "valid",
        "ignition",
        "odometer_m",
        "battery_level",
        "power_v",
        "fuel_l",
        "accuracy",
        "satellites",
    ]
    fix = fixes[0]
    assert isinstance(fix.satellites, int) and isinstance(fix.valid, bool) and isinstance(fix.lat, float)


def test_the_same_seed_gives_the_same_fixes(fixes: list[Fix]) -> None:
    assert Fleet(60, seed=11, start=START).advance(START + HOURS) == fixes


def test_another_process_computes_the_same_fixes(fixes: list[Fix]) -> None:
    script = (
        "import hashlib, sys; from datetime import datetime, timedelta, UTC; "
        "from fleet.simulators.motion import Fleet; "
        "start = datetime.fromisoformat(sys.argv[1]); "
        "fixes = Fleet(60, seed=11, start=start).advance(start + timedelta(hours=2)); "
        "print(hashlib.sha256(repr(fixes).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", script, START.isoformat()], env=env, capture_output=True, check=True)
    assert out.stdout.decode().strip() == hashlib.sha256(repr(fixes).encode()).hexdigest()


def test_another_seed_gives_other_fixes(fixes: list[Fix]) -> None:
    assert Fleet(60, seed=12, start=START).advance(START + HOURS) != fixes


def test_advancing_in_chunks_gives_the_same_fixes_as_one_call(fixes: list[Fix]) -> None:
    fleet = Fleet(60, seed=11, start=START)
    chunked: list[Fix] = []
    at = START
    for step in [0.4, 0.7, 1, 9, 10, 61, 300, 2, 1799.5, 3600, 1400]:
        at += timedelta(seconds=step)
        chunked += fleet.advance(at)
    chunked += fleet.advance(START + HOURS)
    assert chunked == fixes


def test_advancing_to_an_earlier_time_returns_nothing() -> None:
    fleet = Fleet(5, seed=1, start=START)
    assert fleet.advance(START + timedelta(minutes=30))
    assert fleet.advance(START + timedelta(minutes=10)) == []
    assert fleet.advance(START + timedelta(minutes=30)) == []
    assert fleet.now == START + timedelta(minutes=30)


def test_fixes_are_sorted_by_time_then_device_within_the_window(fixes: list[Fix]) -> None:
    assert [(f.time, f.device) for f in fixes] == sorted((f.time, f.device) for f in fixes)
    assert fixes[0].time > START and fixes[-1].time <= START + HOURS
    assert all(f.time.microsecond == 0 and f.time.utcoffset() == timedelta(0) for f in fixes)


def test_each_device_reports_at_strictly_increasing_times(tracks: dict[int, list[Fix]]) -> None:
    for track in tracks.values():
        times = [f.time for f in track]
        assert all(a < b for a, b in pairwise(times))


def test_latest_gives_each_vehicles_last_fix(fleet: Fleet, tracks: dict[int, list[Fix]]) -> None:
    assert fleet.latest() == [tracks[i][-1] if i in tracks else None for i in range(len(fleet.vehicles))]
    assert Fleet(3, seed=1, start=START).latest() == [None, None, None]


def test_vehicles_have_unique_imeis_names_and_plates(fleet: Fleet) -> None:
    vehicles = Fleet(500, seed=11, start=START).vehicles
    assert vehicles[:60] == fleet.vehicles
    for field in ("unique_id", "name", "plate", "phone"):
        assert len({getattr(v, field) for v in vehicles}) == len(vehicles)
    for v in vehicles:
        assert len(v.unique_id) == 15 and v.unique_id.isdigit() and luhn_digit(v.unique_id[:-1]) == v.unique_id[-1]
        assert v.category in ("car", "van", "truck") and v.name.startswith(v.category.title())
    assert {v.category for v in vehicles} == {"car", "van", "truck"}


# -- on real streets ---------------------------------------------------------------


def test_every_place_can_reach_every_other_along_connected_edges() -> None:
    g, places = roads.load_graph(), roads.places()
    assert len(places) >= 35 and len({p.node for p in places}) == len(places)
    for a in places[:8]:
        for b in places:
            if a.node != b.node:
                r = roads.route(a.node, b.node)
                assert r.nodes[0] == a.node and r.nodes[-1] == b.node
                assert np.array_equal(g.edge_v[r.edges[:-1]], g.edge_u[r.edges[1:]])


def test_moving_vehicles_stay_on_the_road_graph(fixes: list[Fix]) -> None:
    sample = moving(fixes)[::3]
    points = metres([f.lat for f in sample], [f.lon for f in sample])
    assert len(sample) > 500
    assert distances_to_edges(points).min(axis=1).max() < 30.0


def test_vehicles_keep_to_the_speed_limit_of_their_street(fixes: list[Fix]) -> None:
    sample = moving(fixes)[::3]
    near = distances_to_edges(metres([f.lat for f in sample], [f.lon for f in sample])) < 30.0
    limits = np.where(near, roads.load_graph().edge_speed_kmh[None, :], 0.0).max(axis=1)
    speeds = np.array([f.speed_kmh for f in sample])
    assert np.all(speeds <= limits * 1.15)
    assert np.median(speeds / limits) > 0.5  # and they do get going


def test_accelerations_and_braking_are_plausible(tracks: dict[int, list[Fix]]) -> None:
    rates = [
        (b.speed_kmh - a.speed_kmh) / 3.6 / (b.time - a.time).total_seconds()
        for track in tracks.values()
        for a, b in pairwise(track)
        if a.ignition and b.ignition and a.valid and b.valid and (b.time - a.time).total_seconds() <= 12
    ]
    assert max(rates) <= 3.0 and min(rates) >= -3.5
    assert max(rates) > 1.0 and min(rates) < -1.0


def test_course_follows_the_direction_of_travel(tracks: dict[int, list[Fix]]) -> None:
    errors = []
    for track in tracks.values():
        for a, b in pairwise(track):
            dt = (b.time - a.time).total_seconds()
            if a.valid and b.valid and a.speed_kmh > 25 and b.speed_kmh > 25 and dt <= 12:
                bearing = roads.bearings(np.array(a.lat), np.array(a.lon), np.array(b.lat), np.array(b.lon))
                errors.append(abs((float(bearing) - b.course + 180) % 360 - 180))
    assert len(errors) > 100 and np.median(errors) < 20


def test_a_fix_can_be_reverse_geocoded_to_its_street() -> None:
    g = roads.load_graph()
    edge = int(np.flatnonzero(g.edge_name >= 0)[0])
    lat = (g.lat[g.edge_u[edge]] + g.lat[g.edge_v[edge]]) / 2
    lon = (g.lon[g.edge_u[edge]] + g.lon[g.edge_v[edge]]) / 2
    assert roads.street_at(lat, lon) == roads.street_name(edge) != ""


def test_altitude_is_smooth_and_between_0_and_60_metres(fixes: list[Fix]) -> None:
    altitudes = np.array([f.altitude for f in fixes])
    assert altitudes.min() >= 0.0 and altitudes.max() <= 60.0 and altitudes.std() > 3.0


# -- realistic behaviour -----------------------------------------------------------


def test_parked_vehicles_jitter_a_few_metres_around_their_spot(tracks: dict[int, list[Fix]]) -> None:
    runs = [run for track in tracks.values() for run in parked_runs(track)]
    assert len(runs) > 60
    for run in runs:
        valid = [f for f in run if f.valid]
        points = metres([f.lat for f in valid], [f.lon for f in valid])
        assert np.hypot(*(points - np.median(points, axis=0)).T).max() < 15.0
        assert all(f.speed_kmh < 1.0 for f in run)


def test_parked_trackers_report_six_times_less_often(tracks: dict[int, list[Fix]]) -> None:
    parked, driving = [], []
    for track in tracks.values():
        for a, b in pairwise(track):
            gap = (b.time - a.time).total_seconds()
            (driving if a.ignition and b.ignition else parked if not (a.ignition or b.ignition) else []).append(gap)
    assert np.median(parked) == 60 and np.median(driving) == 10
    assert min(driving) >= 8 and max(parked) <= 62


def test_vehicles_idle_at_traffic_stops_with_the_engine_on(tracks: dict[int, list[Fix]]) -> None:
    idling = [
        b
        for track in tracks.values()
        for a, b, c in zip(track, track[1:], track[2:], strict=False)
        if a.ignition and b.ignition and c.ignition and a.speed_kmh > 10 and b.speed_kmh == 0 and c.valid
    ]
    assert len(idling) > 10


def test_odometer_never_decreases_and_grows_with_driving(tracks: dict[int, list[Fix]]) -> None:
    for track in tracks.values():
        odometer = [f.odometer_m for f in track]
        assert all(a <= b for a, b in pairwise(odometer))
    assert sum(t[-1].odometer_m - t[0].odometer_m for t in tracks.values()) > 60 * 2_000


def test_fuel_drops_while_driving_and_supply_voltage_follows_ignition(tracks: dict[int, list[Fix]]) -> None:
    for track in tracks.values():
        for a, b in pairwise(track):
            if a.ignition and b.ignition:
                assert b.fuel_l <= a.fuel_l
    fixes = [f for track in tracks.values() for f in track]
    assert all(13.2 <= f.power_v <= 14.4 for f in fixes if f.ignition and f.speed_kmh > 0)
    assert all(12.0 <= f.power_v <= 12.7 for f in fixes if not f.ignition)
    assert all(0.0 <= f.battery_level <= 100.0 for f in fixes)


def test_about_half_a_percent_of_fixes_are_invalid_and_repeat_the_last_position() -> None:
    fleet = Fleet(200, seed=5, start=START)
    fixes = fleet.advance(START + timedelta(hours=1))
    share = sum(not f.valid for f in fixes) / len(fixes)
    assert 0.002 < share < 0.01
    last: dict[int, Fix] = {}
    for fix in fixes:
        if not fix.valid and fix.device in last:
            assert (fix.lat, fix.lon, fix.speed_kmh) == (last[fix.device].lat, last[fix.device].lon, 0.0)
            assert fix.satellites < 4
        last[fix.device] = fix


def test_some_drives_lose_reception_for_minutes() -> None:
    fixes = Fleet(300, seed=8, start=START).advance(START + timedelta(hours=1))
    previous: dict[int, Fix] = {}
    gaps = 0
    for fix in fixes:
        before = previous.get(fix.device)
        if before and before.ignition and fix.ignition and (fix.time - before.time).total_seconds() >= 60:
            gaps += 1
        previous[fix.device] = fix
    assert gaps >= 3


# -- indoor ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def indoor() -> IndoorFleet:
    return IndoorFleet(25, seed=3, start=START)


@pytest.fixture(scope="module")
def indoor_fixes(indoor: IndoorFleet) -> list[IndoorFix]:
    return indoor.advance(START + HOURS)


def test_the_warehouse_has_thirty_beacons_on_two_floors_sharing_one_uuid(indoor: IndoorFleet) -> None:
    beacons = indoor.beacons
    assert len(beacons) == 30 and {b.floor for b in beacons} == {0, 1}
    assert len({b.uuid for b in beacons}) == 1 and len(beacons[0].uuid) == 32
    assert len({(b.major, b.minor) for b in beacons}) == 30 and len({b.id for b in beacons}) == 30
    assert {"Dock 1", "Aisle B3", "Operation Management"} <= {b.name for b in beacons}


def test_indoor_fleet_is_deterministic_whatever_the_chunking(indoor_fixes: list[IndoorFix]) -> None:
    fleet = IndoorFleet(25, seed=3, start=START)
    chunked = [f for minutes in range(7, 121, 7) for f in fleet.advance(START + timedelta(minutes=minutes))]
    assert chunked + fleet.advance(START + HOURS) == indoor_fixes


def test_indoor_rows_are_sorted_and_unique_by_time_device_and_beacon(indoor_fixes: list[IndoorFix]) -> None:
    keys = [(f.time, f.device, f.beacon_id) for f in indoor_fixes]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_some_reports_hear_two_beacons_at_the_same_time(indoor_fixes: list[IndoorFix]) -> None:
    shared = Counter((f.time, f.device) for f in indoor_fixes)
    assert sum(count == 2 for count in shared.values()) > 20
    assert max(shared.values()) == 2


def test_indoor_fixes_are_near_the_beacon_they_heard_on_its_floor(
    indoor: IndoorFleet, indoor_fixes: list[IndoorFix]
) -> None:
    beacons = {b.id: b for b in indoor.beacons}
    lat = np.array([f.lat - beacons[f.beacon_id].lat for f in indoor_fixes]) * roads.M_PER_DEG_LAT
    lon = (
        np.array([f.lon - beacons[f.beacon_id].lon for f in indoor_fixes])
        * roads.M_PER_DEG_LAT
        * np.cos(np.radians(49.9))
    )
    assert np.hypot(lat, lon).max() < 20.0
    assert all(f.floor == beacons[f.beacon_id].floor for f in indoor_fixes)


def test_rssi_stays_between_minus_95_and_minus_40_and_weakens_with_distance(
    indoor: IndoorFleet, indoor_fixes: list[IndoorFix]
) -> None:
    beacons = {b.id: b for b in indoor.beacons}
    rssi = np.array([f.rssi for f in indoor_fixes])
    assert rssi.min() >= -95 and rssi.max() <= -40
    distance = np.array(
        [abs(f.lat - beacons[f.beacon_id].lat) + abs(f.lon - beacons[f.beacon_id].lon) for f in indoor_fixes]
    )
    assert np.corrcoef(distance, rssi)[0, 1] < -0.5


def test_trackables_move_at_walking_or_forklift_speed_and_dwell_at_beacons(
    indoor: IndoorFleet, indoor_fixes: list[IndoorFix]
) -> None:
    speeds = np.array([f.speed_kmh for f in indoor_fixes])
    assert speeds.max() <= 12 * 1.2 and (speeds == 0).mean() > 0.3 and (speeds > 2).sum() > 100
    categories = {v.category for v in indoor.vehicles}
    assert categories == {"forklift", "pallet", "person"}
    for v in indoor.vehicles:
        if v.category != "person":
            assert all(f.floor == 0 for f in indoor_fixes if f.device == v.index)


def test_indoor_odometers_never_decrease_and_times_only_repeat_across_beacons(
    indoor_fixes: list[IndoorFix],
) -> None:
    last: dict[int, IndoorFix] = {}
    for fix in indoor_fixes:
        before = last.get(fix.device)
        if before:
            assert fix.odometer_m >= before.odometer_m and fix.time >= before.time
            if fix.time == before.time:
                assert fix.beacon_id > before.beacon_id and (fix.lat, fix.lon) == (before.lat, before.lon)
        last[fix.device] = fix
