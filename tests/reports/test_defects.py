"""The eight defects of issue 12, each on a hand-built track with its answer worked out by hand (defect 1 across
the day-window loader is in test_ranges.py, on stored positions). Tracks drive due north along a meridian
(one metre is 1 / M_PER_DEG degrees of latitude), a fix a minute unless said otherwise, each fix reporting the
speed of the step into it."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fleet.core.geodesy import M_PER_DEG
from fleet.reports.engine import Params, Track, detect, detect_window, join_windows, no_data, summary
from tests import real_tracks

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
LAT0, LON0 = 60.0, 25.0
PARAMS = Params()
approx = pytest.approx


def at(hours=0, minutes=0, seconds=0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def track(points, speeds=True, **columns) -> Track:
    """points: (seconds after T0, metres north[, metres east]); speed: the step into each fix (km/h), or
    unknown (NaN) with ``speeds=False``."""
    t = np.array([p[0] for p in points], dtype=float) + T0.timestamp()
    north = np.array([p[1] for p in points], dtype=float)
    east = np.array([p[2] if len(p) > 2 else 0.0 for p in points], dtype=float)
    lat = LAT0 + north / M_PER_DEG
    lon = LON0 + east / (M_PER_DEG * math.cos(math.radians(LAT0)))
    plain = Track(t=t, lat=lat, lon=lon, speed=np.full(len(t), np.nan))
    speed = real_tracks.step_speeds(plain) if speeds else plain.speed
    return Track(t=t, lat=lat, lon=lon, speed=speed, **columns)


def parked(start_s, minutes, north, step=60):
    return [(start_s + step * i, north) for i in range(int(minutes * 60 // step))]


def driving(start_s, minutes, north, kmh=36.0, step=60):
    """Fixes every ``step`` s from start_s + step on (the first step leaves the fix before), ``kmh`` north."""
    n = int(minutes * 60 // step)
    return [(start_s + step * (i + 1), north + kmh / 3.6 * step * (i + 1)) for i in range(n)]


def test_defect_1_a_stop_across_a_silent_night_is_one_stop_when_the_windows_read_the_fixes_around():
    # Parked from 18:00, receiver asleep until 16:30 next day. Day windows cut at midnight; each window's track
    # reaches the fix before and the fix after it (as ranges.read_bounds loads it): stitched, one stop.
    points = driving(-1800, 30, 0) + parked(0, 30, 18_000) + parked(22.5 * 3600, 10, 18_000)
    points += driving(22.5 * 3600 + 540, 10, 18_000)
    tr = track(points)
    midnight = datetime(2026, 11, 21, tzinfo=UTC)
    days = [(at(-7), midnight), (midnight, midnight + timedelta(days=1))]
    result = join_windows(detect_window(tr, PARAMS, a, b) for a, b in days)
    (stop,) = result.stops
    assert (stop.start_time, stop.end_time) == (at(0), at(22.5, 9))
    assert not stop.clipped_start and not stop.clipped_end
    assert [r.stops for r in result.rows] == [1, 0]


def test_defect_2_a_fix_kilometres_off_a_burst_of_mis_timed_fixes_and_two_vehicles_under_one_id():
    # (a) One fix 5.8 km east one second after its predecessor, inside a drive: no 20,956 km/h.
    points = parked(0, 10, 0) + driving(540, 20, 0)
    points.insert(15, (points[14][0] + 1, points[14][1], 5_800.0))
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(0), at(1))
    (trip,) = trips
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(1))
    assert trip.max_speed == approx(36, abs=0.01) and row.max_speed == approx(36, abs=0.01)
    assert trip.distance_m == approx(12_000, abs=1) and row.outliers == 1
    # (b) A burst of 4 mis-timed fixes 34 km away while parked: no phantom 33.9 km trip.
    points = parked(0, 60, 0, step=10)
    for k in range(200, 204):
        points[k] = (points[k][0], 34_000.0 + 100 * k)
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(0), at(1))
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(1))
    assert trips == [] and len(stops) == 1 and row.distance_m == 0 and row.outliers == 4
    # (c) Two cars 20 km apart reporting alternately under one id: flagged (the reports say so), not 2,380 km
    # of zig-zag (119 steps of 20 km); at most the straight line between the two fixes left.
    t = np.arange(0, 3600, 30.0)
    points = [(s, 10 * k, 20_000.0 * (k % 2)) for k, s in enumerate(t)]
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(0), at(1))
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(1))
    assert row.outliers >= len(t) // 2 and row.distance_m < 21_000


def test_defect_3_the_step_into_each_trip_belongs_to_the_trip():
    # Parked 10 min, 30 steps of 600 m, parked: with the speed of the step into each fix (GPX import's), the
    # trip starts at the last parked fix and has all 30 steps; the same with no speed at all (implied).
    points = parked(0, 10, 0) + driving(540, 30, 0) + parked(540 + 31 * 60, 20, 18_000)
    for speeds in (True, False):
        (trip,), _ = detect(track(points, speeds=speeds), PARAMS, at(0), at(2))
        assert (trip.start_time, trip.end_time) == (at(0, 9), at(0, 39))
        assert trip.distance_m == approx(18_000, abs=0.01) and trip.max_speed == approx(36)


def test_defect_4_a_silence_inside_a_drive_with_little_movement_is_a_stop_not_driving():
    # 30 min driving, 57 min without a fix while the vehicle moved 60 m, 30 min driving.
    first = parked(0, 10, 0) + driving(540, 30, 0)
    back = 540 + 30 * 60 + 57 * 60
    points = first + [(back, 18_060.0)] + driving(back, 30, 18_060) + parked(back + 31 * 60, 20, 36_060)
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(0), at(3))
    assert [(tr_.start_time, tr_.end_time) for tr_ in trips] == [(at(0, 9), at(0, 39)), (at(1, 36), at(2, 6))]
    assert (stops[1].start_time, stops[1].end_time) == (at(0, 39), at(1, 36))
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(3))
    assert row.driving_s == 3600 and row.no_data_s == 3 * 3600 - (back + 50 * 60)  # after the last fix


def test_defect_5_one_jitter_fix_does_not_erase_a_stop():
    # An 8-minute halt (29:00-37:00) between two drives; its 33:00 fix jitters 40 m away (2.4 km/h) and back,
    # which used to split it into two halts shorter than the minimal parking.
    points = parked(0, 10, 0) + driving(540, 20, 0) + parked(30 * 60, 8, 12_000) + driving(37 * 60, 20, 12_000)
    points[33] = (points[33][0], 12_040.0)
    tr = track(points)
    assert tr.speed[33] == approx(2.4)
    trips, stops = detect(tr, PARAMS, at(0), at(2))
    assert len(trips) == 2 and (stops[1].start_time, stops[1].end_time) == (at(0, 29), at(0, 37))
    # At 5 s sampling, most fixes of a 6-minute halt above one knot (jitter of a few metres): one stop.
    rng = np.random.default_rng(5)
    points = parked(0, 10, 0, step=5) + driving(595, 10, 0, step=5)  # arrives at 19:55, 6 km on
    points += [(1200 + 5 * i, 6_000.0 + rng.uniform(-6, 6)) for i in range(72)] + driving(1555, 10, 6_000, step=5)
    tr = track(points)
    assert (tr.speed[240:312] > PARAMS.speed_threshold_kmh).mean() > 0.5
    trips, stops = detect(tr, PARAMS, at(0), at(1))
    assert len(trips) == 2 and len(stops) == 2 and 340 <= stops[1].duration_s <= 360  # the halt: 19:55-25:55


def test_defect_6_movement_across_a_data_gap_is_no_data_with_its_distance_not_a_stop():
    # Parked at A, 3.5 h without a fix, then parked 228 km north.
    gone = 30 * 60
    points = parked(0, 30, 0) + parked(gone + 3.5 * 3600, 30, 228_000)
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(0), at(5))
    assert trips == [] and [(s.start_time, s.end_time) for s in stops] == [
        (at(0), at(0, 29)),
        (at(4), at(4, 29)),
    ]
    (gap,) = no_data(tr, PARAMS, at(0), at(5))
    assert (gap.start_time, gap.end_time) == (at(0, 29), at(4)) and gap.distance_m == approx(228_000, abs=1)
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(5))
    assert row.no_data_distance_m == approx(228_000, abs=1) and row.distance_m == 0
    assert row.no_data_s == 5 * 3600 - 29 * 60 - 29 * 60
    # A car on the train: ignition off before and after makes no stop across the silence either.
    off = track(points, ignition=np.zeros(len(points)))
    assert [(s.start_time, s.end_time) for s in detect(off, PARAMS, at(0), at(5))[1]] == [
        (at(0), at(0, 29)),
        (at(4), at(4, 29)),
    ]
    assert len(no_data(off, PARAMS, at(0), at(5))) == 1


def test_defect_7_the_summary_counts_every_movement_and_a_day_without_data_is_no_data():
    # Three 2-minute hops of 900 m (each too short in time to be a trip), parked 10 min between them.
    points = parked(0, 10, 0)
    north = 0.0
    for _ in range(3):
        start = points[-1][0]
        points += driving(start, 2, north, kmh=27)
        north += 900
        points += parked(points[-1][0] + 60, 10, north)
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(0), at(1))
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(1))
    assert trips == [] and row.distance_m == approx(2_700, abs=0.01) and row.driving_s == 3 * 120
    # The same with a sane odometer that moved 2.4 km: the odometer is the distance.
    odometer = 1_000_000 + np.array([p[1] for p in points]) * 2_400 / 2_700
    tr = track(points, odometer=odometer)
    trips, stops = detect(tr, PARAMS, at(0), at(1))
    (row,) = summary(tr, trips, stops, PARAMS, at(0), at(1))
    assert row.distance_m == approx(2_400, abs=0.01)
    # The next day, without a fix: no data, not stopped.
    next_day = summary(tr, [], [], PARAMS, at(24), at(48))
    assert (next_day[0].no_data_s, next_day[0].stopped_s) == (86400, 0)


def test_defect_8_data_that_starts_or_ends_while_moving_inside_the_range_is_not_clipped():
    points = [(0, 0.0)] + driving(0, 20, 0) + parked(21 * 60, 30, 12_000) + driving(51 * 60, 20, 12_000)
    tr = track(points)
    trips, stops = detect(tr, PARAMS, at(-1), at(3))
    assert len(trips) == 2 and not any(t.clipped_start or t.clipped_end for t in trips)
    assert not any(s.clipped_start or s.clipped_end for s in stops)
    # The range cuts the second trip: now it is clipped, at its end only.
    trips, _ = detect(tr, PARAMS, at(-1), at(1))
    assert trips[-1].clipped_end and not trips[-1].clipped_start and not trips[0].clipped_start
