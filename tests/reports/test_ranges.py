"""Reading positions into engine tracks, in chunks and windows, and detection over long ranges."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.reports.engine import Params, combine_summaries, detect, summary
from fleet.reports.ranges import detect_range, iter_tracks
from fleet.tracking import store
from fleet.tracking.models import Position
from tests.conftest import T0, make_device, make_position

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def test_load_track_reads_one_device_in_time_order_with_attributes(org_a):
    van, other = make_device(org_a, "Van 1"), make_device(org_a, "Van 2")
    make_position(van, 2, speed=40.0, attributes={"ignition": True, "odometer_m": 1200.5, "fuel_l": 30})
    make_position(van, 0, speed=0.0, valid=False, attributes={"ignition": False, "engine_hours_s": 3600})
    make_position(van, 1, latitude=60.2, longitude=25.0, attributes={"ignition": "true", "odometer_m": "bad"})
    make_position(van, 3, attributes={})
    make_position(other, 1)

    track = store.window(van.id, T0, T0 + timedelta(minutes=3))  # half-open: the fix at minute 3 is out

    assert len(track) == 3
    assert list(track.t - T0.timestamp()) == [0, 60, 120]
    assert list(track.lat) == [60.17, 60.2, 60.17] and list(track.lon) == [24.94, 25.0, 24.94]
    assert list(track.speed) == [0.0, 0.0, 40.0]
    assert list(track.valid) == [False, True, True]
    assert list(track.ignition) == [0.0, 1.0, 1.0]
    assert np.isnan(track.odometer[:2]).all() and track.odometer[2] == 1200.5
    assert np.isnan(track.fuel[:2]).all() and track.fuel[2] == 30
    assert track.hours[0] == 3600 and np.isnan(track.hours[1:]).all()


def test_chunked_reading_gives_the_same_track(org_a):
    van = make_device(org_a)
    for minute in range(10):
        make_position(van, minute, speed=float(minute), attributes={"odometer_m": 1000 + minute})
    chunks = list(store.read(van.id, T0, T0 + timedelta(hours=1), chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    whole = store.window(van.id, T0, T0 + timedelta(hours=1), chunk=3)
    assert list(whole.speed) == list(range(10)) and list(whole.odometer) == [1000 + m for m in range(10)]
    assert np.all(np.diff(whole.t) == 60)


def test_iter_tracks_loads_each_window_with_a_margin(org_a):
    van = make_device(org_a)
    for hour in range(0, 48, 2):
        Position.objects.create(device=van, fix_time=DAY + timedelta(hours=hour), latitude=60, longitude=25)
    windows = list(iter_tracks(van.id, DAY, DAY + timedelta(days=2), margin=timedelta(hours=3)))
    assert [(a, b) for a, b, _ in windows] == [
        (DAY, DAY + timedelta(days=1)),
        (DAY + timedelta(days=1), DAY + timedelta(days=2)),
    ]
    first, second = windows[0][2], windows[1][2]
    assert first.t[0] == DAY.timestamp() and first.t[-1] == (DAY + timedelta(hours=26)).timestamp()
    assert second.t[0] == (DAY + timedelta(hours=22)).timestamp()
    local = list(iter_tracks(van.id, DAY, DAY + timedelta(days=1), tz="Europe/Helsinki"))
    assert [(a.hour, b.hour) for a, b, _ in local] == [(0, 22), (22, 0)]  # Helsinki midnight is 22:00 UTC


def drive_across_midnight(van):
    """Parked every 10 min, then 23:40-00:20 UTC a drive at 36 km/h (fixes every minute), then parked."""
    fixes, lat = [], 60.0
    clock = DAY + timedelta(hours=20)
    while clock < DAY + timedelta(hours=23, minutes=40):
        fixes.append((clock, lat, 0.0))
        clock += timedelta(minutes=10)
    for _ in range(40):
        fixes.append((clock, lat, 36.0))
        lat += 600 / M_PER_DEG
        clock += timedelta(minutes=1)
    while clock < DAY + timedelta(hours=28):
        fixes.append((clock, lat, 0.0))
        clock += timedelta(minutes=10)
    Position.objects.bulk_create(
        Position(device=van, fix_time=ts, latitude=la, longitude=25.0, speed=v, attributes={"ignition": v > 0})
        for ts, la, v in fixes
    )


def test_detect_range_stitches_a_trip_cut_by_a_window_and_counts_it_once(org_a):
    van = make_device(org_a)
    drive_across_midnight(van)
    params = Params.for_org(org_a)
    start, end = DAY, DAY + timedelta(days=2)

    trips, stops, rows, _gaps = detect_range(van.id, params, start, end, chunk=7)

    (trip,) = trips
    assert trip.start_time == DAY + timedelta(hours=23, minutes=40)
    assert trip.end_time == DAY + timedelta(hours=24, minutes=20)
    assert trip.distance_m == pytest.approx(24_000, abs=0.01)
    assert not trip.clipped_start and not trip.clipped_end
    assert [r.trips for r in rows] == [1, 0]
    assert [r.driving_s for r in rows] == [1200, 1200]

    # The same as detection over the whole range in one piece.
    track = store.window(van.id, start, end)
    whole_trips, whole_stops = detect(track, params, start, end)
    (whole,) = summary(track, whole_trips, whole_stops, params, start, end)
    assert whole_trips[0].distance_m == pytest.approx(trip.distance_m)
    assert [(s.start_time, s.end_time) for s in whole_stops] == [(s.start_time, s.end_time) for s in stops]
    total = combine_summaries(rows)
    assert total.distance_m == pytest.approx(whole.distance_m)
    assert (total.driving_s, total.trips, total.stops) == (whole.driving_s, whole.trips, whole.stops)
    assert total.stopped_s == pytest.approx(whole.stopped_s)


def test_defect_1_a_stop_across_a_silent_night_is_one_stop_whatever_the_margin(org_a):
    # A taxi parks at its depot at 18:00, its receiver asleep until 16:30 the next day (22.5 h, no fix in any
    # 6 h margin), a drive either side. Each day reads back to the fix before it and on to the fix after it.
    van = make_device(org_a)
    step, drive = 600 / M_PER_DEG, DAY + timedelta(hours=17)
    # 17:00-17:30 a drive (a fix a minute, each reporting the step into it), parked from 17:30 until 18:00
    fixes = [(drive + timedelta(minutes=m), 60.0 + m * step, 36.0 if m else 0.0) for m in range(31)]
    lat = 60.0 + 30 * step
    fixes += [(drive + timedelta(minutes=31 + m), lat, 0.0) for m in range(30)]
    wake = DAY + timedelta(days=1, hours=16, minutes=30)
    fixes += [(wake + timedelta(minutes=m), lat, 0.0) for m in range(10)]  # awake, still parked at 16:39
    fixes += [(wake + timedelta(minutes=10 + m), lat + (m + 1) * step, 36.0) for m in range(30)]  # then away
    Position.objects.bulk_create(
        Position(device=van, fix_time=ts, latitude=la, longitude=25.0, speed=v, attributes={}) for ts, la, v in fixes
    )
    params = Params.for_org(org_a)

    trips, stops, rows, gaps = detect_range(van.id, params, DAY, DAY + timedelta(days=2))

    (stop,) = stops
    assert (stop.start_time, stop.end_time) == (DAY + timedelta(hours=17, minutes=30), wake + timedelta(minutes=9))
    assert not stop.clipped_start and not stop.clipped_end and gaps == []
    assert [r.stops for r in rows] == [1, 0]  # counted once, on the day it began
    # Day two alone: the stop began before it, and the range (not the data) cuts it.
    _, (cut,), _, _ = detect_range(van.id, params, DAY + timedelta(days=1), DAY + timedelta(days=2))
    assert cut.clipped_start and not cut.clipped_end and cut.start_time == DAY + timedelta(days=1)
