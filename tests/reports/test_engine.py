"""The trip / stop / summary engine against hand-built tracks whose answers are worked out by hand.

Tracks are built from legs sampled every ``step`` seconds, driving due north along a meridian, where one
metre of travel is exactly 1 / M_PER_DEG degrees of latitude, so haversine distances are known in advance:
a leg at 36 km/h moves 600 m per 60 s interval.
"""

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from fleet.core.geodesy import EARTH_RADIUS_M, haversine_m
from fleet.reports.engine import Params, Track, combine_summaries, day_windows, detect, stitch, summary

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
LAT0, LON0 = 60.0, 25.0
PARAMS = Params()
approx = pytest.approx


def build(legs, step=60, t0=T0, report_speed=True, **arrays):
    """legs: (seconds, speed_kmh, ignition) sampled every ``step`` s; speed None is a no-data gap.

    Position integrates speed: the interval after a fix moves speed x dt north, and the fix after it reports
    that speed (the step into it), as a receiver does. ignition None = unknown.
    """
    ts, speeds, ign = [], [], []
    clock = t0.timestamp()
    for seconds, speed, ignition in legs:
        if speed is not None:
            n = int(seconds // step)
            ts += [clock + i * step for i in range(n)]
            speeds += [speed] * n
            ign += [np.nan if ignition is None else float(ignition)] * n
        clock += seconds
    t, v = np.array(ts), np.array(speeds, dtype=float)
    travelled = np.r_[0.0, np.cumsum(v[:-1] / 3.6 * np.diff(t))]
    into = np.r_[v[:1], v[:-1]]  # a receiver reports the speed of the step into a fix (the first: its leg's)
    return Track(
        t=t,
        lat=LAT0 + travelled / M_PER_DEG,
        lon=np.full(len(t), LON0),
        speed=into if report_speed else np.zeros(len(t)),
        ignition=np.array(ign),
        **arrays,
    ), travelled


def at(hours=0, minutes=0, seconds=0, base=T0):
    return base + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def lat_after(metres):
    return LAT0 + metres / M_PER_DEG


# -------------------------------------------------------------------------------------- a clean day


def two_trip_day():
    """06:00 parked; 08:00-08:30 drive 36 km/h; parked; 12:30-12:50 drive 72 km/h; engine idles 10 min on
    arrival; parked until 18:00 (last fix 17:59)."""
    return build(
        [
            (2 * 3600, 0, 0),  # 06:00-08:00 parked, ignition off
            (30 * 60, 36, 1),  # 08:00-08:30: 30 intervals x 600 m = 18 km
            (4 * 3600, 0, 0),  # 08:30-12:30
            (20 * 60, 72, 1),  # 12:30-12:50: 20 intervals x 1200 m = 24 km
            (10 * 60, 0, 1),  # 12:50-13:00 idling
            (5 * 3600, 0, 0),  # 13:00-18:00
        ]
    )


def test_a_clean_two_trip_day_gives_two_trips_with_hand_computed_figures():
    track, _ = two_trip_day()
    trips, stops = detect(track, PARAMS, at(0), at(12))

    assert len(trips) == 2
    first, second = trips
    assert (first.start_time, first.end_time) == (at(2), at(2, 30))
    assert first.distance_m == approx(18_000, abs=0.01)
    assert first.duration_s == 1800
    assert first.average_speed == approx(36)
    assert first.max_speed == 36
    assert first.start_lat == approx(LAT0) and first.end_lat == approx(lat_after(18_000))
    assert first.distance_source == "gps"
    assert not first.clipped_start and not first.clipped_end
    assert (second.start_time, second.end_time) == (at(6, 30), at(6, 50))
    assert second.distance_m == approx(24_000, abs=0.01)
    assert second.average_speed == approx(72)
    assert second.start_lat == approx(lat_after(18_000))
    assert second.spent_fuel_l is None

    assert [(s.start_time, s.end_time) for s in stops] == [
        (at(0), at(2)),
        (at(2, 30), at(6, 30)),
        (at(6, 50), at(11, 59)),  # the data ends at 17:59
    ]
    # clipped only where the range cuts a stop: the data beginning or ending while parked cuts nothing
    assert not any(s.clipped_start or s.clipped_end for s in stops)
    assert stops[1].lat == approx(lat_after(18_000))
    assert stops[1].duration_s == 4 * 3600
    assert stops[1].idle_s == 0
    assert stops[2].idle_s == 600 and stops[2].engine_hours_s == 600  # no hours counter: ignition-on time


def test_summary_arithmetic_of_the_clean_day_checked_by_hand():
    track, _ = two_trip_day()
    trips, stops = detect(track, PARAMS, at(0), at(12))
    (row,) = summary(track, trips, stops, PARAMS, at(0), at(12))

    assert row.distance_m == approx(42_000, abs=0.01)  # 18 + 24 km
    assert row.driving_s == 3000  # 30 + 20 min
    assert row.idle_s == 600  # 12:50-13:00 ignition on, parked
    assert row.stopped_s == 12 * 3600 - 3000 - 600 - 60
    assert row.no_data_s == 60  # the last fix is at 17:59
    assert row.driving_s + row.idle_s + row.stopped_s + row.no_data_s == 12 * 3600
    assert row.average_speed == approx(42_000 / 3000 * 3.6)  # 50.4 km/h over driving time
    assert row.max_speed == 72
    assert row.engine_hours_s == 1800 + 1200 + 600  # ignition on: both drives and the idle
    assert row.trips == 2
    assert row.stops == 3
    assert row.first_start == at(2) and row.last_stop == at(6, 50)
    assert row.spent_fuel_l is None


def test_summary_prefers_the_engine_hours_counter_and_counts_fuel_drops_but_not_refuels():
    track, _ = two_trip_day()
    n = len(track)
    minutes = (track.t - track.t[0]) / 60
    hours = np.full(n, np.nan)
    hours[[0, n - 1]] = [1_000_000, 1_000_000 + 4000]  # the counter says 4000 s over the day
    fuel = np.where(minutes < 150, 50.0, np.where(minutes < 300, 47.0, 85.0))  # -3 l on trip 1, +38 refuel
    fuel[minutes >= 410] = 83.0  # -2 l on trip 2 (fix at 12:50 onwards)
    track.hours, track.fuel = hours, fuel
    trips, stops = detect(track, PARAMS, at(0), at(12))
    (row,) = summary(track, trips, stops, PARAMS, at(0), at(12))

    assert row.engine_hours_s == approx(4000 * (12 * 3600) / (n - 1) / 60, rel=0.01)  # interpolated to 18:00
    assert trips[0].spent_fuel_l == approx(3.0)
    assert trips[1].spent_fuel_l == approx(2.0)
    assert row.spent_fuel_l == approx(5.0)


# ------------------------------------------------------------------------------------------- jitter


def parked_with_jitter(speed_spikes=True):
    """Two hours parked, ignition unknown: position wanders +-15 m, speed spikes to 3-5 km/h every 2 min."""
    rng = np.random.default_rng(7)
    n = 120
    t = T0.timestamp() + 60.0 * np.arange(n)
    speed = np.zeros(n)
    if speed_spikes:
        speed[::2] = rng.uniform(3, 5, n // 2)
    return Track(
        t=t,
        lat=LAT0 + rng.uniform(-15, 15, n) / M_PER_DEG,
        lon=LON0 + rng.uniform(-15, 15, n) / (M_PER_DEG * math.cos(math.radians(LAT0))),
        speed=speed,
    )


def test_parked_jitter_does_not_become_a_trip():
    track = parked_with_jitter()
    trips, stops = detect(track, PARAMS, at(0), at(2))
    assert trips == []
    assert len(stops) == 1 and stops[0].duration_s == 119 * 60
    (row,) = summary(track, trips, stops, PARAMS, at(0), at(2))
    assert row.distance_m == 0 and row.driving_s == 0 and row.stopped_s == 7140 and row.no_data_s == 60


def test_parked_jitter_stays_within_the_radius_so_even_traccars_lenient_rule_makes_no_trip_of_it():
    track = parked_with_jitter()
    # Either minimum suffices and no extent check: the wander's path passes 500 m, but the vehicle never
    # left the stop radius, so there is no movement to judge.
    traccar = Params(require_both=False, min_trip_extent_m=0)
    trips, stops = detect(track, traccar, at(0), at(2))
    assert trips == [] and len(stops) == 1
    # A radius smaller than the wander cuts it into movements, which Traccar's rule then takes for trips.
    tight = Params(require_both=False, min_trip_extent_m=0, stop_radius_m=10)
    assert detect(track, tight, at(0), at(2))[0] != []


def test_a_halt_shorter_than_the_minimal_parking_is_part_of_the_trip_with_its_wander():
    # A drive with a 3-minute halt (shorter than the minimal parking, so one trip) where GPS wanders.
    track, _ = build([(600, 0, None), (600, 36, None), (180, 0, None), (600, 36, None), (600, 0, None)])
    halt = (track.t >= at(0, 20).timestamp()) & (track.t < at(0, 23).timestamp())
    track.lat[halt] += np.array([10, -10, 10]) / M_PER_DEG  # 20 m zig-zags while stopped
    trips, _ = detect(track, PARAMS, at(0), at(1))
    assert len(trips) == 1
    # 10 + 10 intervals x 600 m, plus the halt's zig-zag: +10 into it, -20, +20, -10 out of it
    assert trips[0].distance_m == approx(12_000 + 60, abs=0.01)
    assert trips[0].duration_s == 1380


# ---------------------------------------------------------------------------------------------- gaps


def test_a_data_gap_of_at_least_the_minimum_splits_a_trip():
    # 20 min at 36 km/h, then 61 min without data (>= 3600 s) while moving, then 20 min more.
    track, _ = build([(1200, 36, 1), (3660, None, None), (1200, 36, 1), (600, 0, 0)])
    trips, stops = detect(track, PARAMS, at(0), at(3))
    assert len(trips) == 2
    # The first trip ends at its last fix before the gap (19 intervals), the second starts after it.
    assert (trips[0].start_time, trips[0].end_time) == (at(0), at(0, 19))
    assert trips[0].distance_m == approx(19 * 600, abs=0.01)
    assert trips[1].start_time == at(0, 20 + 61)
    assert trips[1].distance_m == approx(20 * 600, abs=0.01)
    assert trips[1].duration_s == 1200
    (row,) = summary(track, trips, stops, PARAMS, at(0), at(3))
    assert row.driving_s == 19 * 60 + 1200
    assert row.idle_s == 0  # the gap is never idle, although ignition was on either side
    assert row.distance_m == approx(39 * 600, abs=0.01)


def test_a_shorter_data_gap_does_not_split_a_trip():
    # The same drive with a 30 min gap: one trip across it; the gap step counts (both ends moving).
    track, travelled = build([(1200, 36, 1), (1800, None, None), (1200, 36, 1), (600, 0, 0)])
    trips, _ = detect(track, PARAMS, at(0), at(2))
    assert len(trips) == 1
    assert (trips[0].start_time, trips[0].end_time) == (at(0), at(0, 20 + 30 + 20))
    assert trips[0].distance_m == approx(travelled[-10], abs=0.01)  # the arrival fix (10 parked fixes)


# --------------------------------------------------------------------------------------- ignition


def test_ignition_only_data_makes_trips_from_ignition_on_with_position_change():
    # The vendor reports speed 0 always. Ignition on 5 min idling in place, 30 min driving, 3 min idling.
    track, _ = build(
        [(1800, 0, 0), (300, 0, 1), (1800, 36, 1), (180, 0, 1), (3600, 0, 0)],
        report_speed=False,
    )
    assert not track.speed.any()
    trips, stops = detect(track, PARAMS, at(0), at(2, 10))
    assert len(trips) == 1
    trip = trips[0]
    # From the first fix that moves away to the fix where it arrived.
    assert (trip.start_time, trip.end_time) == (at(0, 35), at(1, 5))
    assert trip.distance_m == approx(18_000, abs=0.01)
    assert trip.max_speed == approx(36)  # implied by position change
    assert trip.average_speed == approx(36)
    (row,) = summary(track, trips, stops, PARAMS, at(0), at(2, 10))
    assert row.idle_s == 300 + 180
    assert stops[0].idle_s == 300 and stops[1].idle_s == 180


def test_ignition_only_idling_in_place_is_not_a_trip():
    track, _ = build([(600, 0, 0), (1800, 0, 1), (600, 0, 0)], report_speed=False)
    track.lat += np.tile([0.0, 8.0], len(track) // 2) / M_PER_DEG  # 8 m wander
    trips, stops = detect(track, PARAMS, at(0), at(1))
    assert trips == []
    assert stops[0].idle_s == 1800


def test_ignition_off_stops_motion_despite_speed_and_use_ignition_false_ignores_it():
    # Speed says moving, ignition says off (e.g. towed, or a stale speed): no trip when using ignition.
    track, _ = build([(600, 0, 0), (1200, 36, 0), (600, 0, 0)])
    assert detect(track, PARAMS, at(0), at(1))[0] == []
    trips, _ = detect(track, Params(use_ignition=False), at(0), at(1))
    assert len(trips) == 1 and trips[0].distance_m == approx(12_000, abs=0.01)


# ----------------------------------------------------------------------------------- days and DST


HELSINKI_DST_END = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 04:00 EEST -> 03:00 EET


def test_day_windows_in_helsinki_have_25_hours_on_the_dst_change():
    local_24 = datetime(2026, 10, 23, 21, 0, tzinfo=UTC)  # Oct 24 00:00 EEST
    local_26 = datetime(2026, 10, 25, 22, 0, tzinfo=UTC)  # Oct 26 00:00 EET
    windows = day_windows(local_24, local_26, "Europe/Helsinki")
    assert [(d, b - a) for a, b, d in windows] == [(date(2026, 10, 24), 86400), (date(2026, 10, 25), 90000)]
    # Spring forward (2026-03-29 03:00 EET -> 04:00 EEST): that day has 23 hours.
    march_29, march_30 = datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 3, 29, 21, tzinfo=UTC)
    spring = day_windows(march_29, march_30, "Europe/Helsinki")
    assert [(d, b - a) for a, b, d in spring] == [(date(2026, 3, 29), 23 * 3600)]


def test_a_trip_across_local_midnight_and_one_across_the_dst_change_split_into_helsinki_days():
    start = datetime(2026, 10, 23, 21, 0, tzinfo=UTC)  # Oct 24 00:00 local
    end = datetime(2026, 10, 25, 22, 0, tzinfo=UTC)  # Oct 26 00:00 local: 49 hours
    legs = [
        (23.5 * 3600, 0, 0),  # to Oct 24 20:30 UTC = 23:30 EEST
        (3600, 36, 1),  # 23:30 -> 00:30 local, 36 km
        (3 * 3600, 0, 0),  # to Oct 25 00:30 UTC = 03:30 EEST
        (3600, 36, 1),  # 03:30 EEST -> 03:30 EET: one hour of driving although the clock shows none
        (20.5 * 3600, 0, 0),  # to the end of the range
    ]
    track, _ = build(legs, t0=start)
    trips, stops = detect(track, PARAMS, start, end)
    assert [(tr.start_time, tr.duration_s) for tr in trips] == [
        (datetime(2026, 10, 24, 20, 30, tzinfo=UTC), 3600),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 3600),
    ]
    assert trips[1].end_time == HELSINKI_DST_END + timedelta(minutes=30)

    days = summary(track, trips, stops, PARAMS, start, end, split_days_tz="Europe/Helsinki")
    assert [d.day for d in days] == [date(2026, 10, 24), date(2026, 10, 25)]
    oct24, oct25 = days
    assert oct24.driving_s == 1800 and oct24.distance_m == approx(18_000, abs=0.01)
    assert oct25.driving_s == 1800 + 3600 and oct25.distance_m == approx(18_000 + 36_000, abs=0.01)
    assert oct24.driving_s + oct24.idle_s + oct24.stopped_s + oct24.no_data_s == 24 * 3600
    assert oct25.driving_s + oct25.idle_s + oct25.stopped_s + oct25.no_data_s == 25 * 3600
    assert (oct24.no_data_s, oct25.no_data_s) == (0, 60)  # the last fix is a minute before the range end
    assert (oct24.trips, oct25.trips) == (1, 1)  # the midnight trip counts on the day it began
    assert oct24.first_start == trips[0].start_time and oct24.last_stop is None
    assert oct25.first_start == trips[1].start_time and oct25.last_stop == trips[1].end_time
    whole = combine_summaries(days)
    (direct,) = summary(track, trips, stops, PARAMS, start, end)
    assert whole.distance_m == approx(direct.distance_m) and whole.driving_s == direct.driving_s == 2 * 3600
    assert whole.stopped_s == approx(direct.stopped_s) and whole.trips == direct.trips == 2


# ---------------------------------------------------------------------------------- range edges


def test_a_trip_whose_data_ends_while_it_drives_is_not_flagged_as_cut():
    # Live "today": the data ends while the vehicle drives (last fix 09:59); the range does not cut it.
    track, _ = build([(3 * 3600, 0, 0), (3600, 36, 1)])
    trips, stops = detect(track, PARAMS, at(0), at(4))
    (trip,) = trips
    assert not trip.clipped_end and not trip.clipped_start
    assert (trip.start_time, trip.end_time) == (at(3), at(3, 59))
    assert trip.distance_m == approx(59 * 600, abs=0.01)
    assert stops[-1].end_time == at(3)


def test_a_trip_still_running_at_the_end_is_kept_even_if_shorter_than_the_minimal_duration():
    track, _ = build([(3 * 3600, 0, 0), (180, 36, 1)])  # 3 min, 1.2 km so far
    (trip,) = detect(track, PARAMS, at(0), at(4))[0]
    assert not trip.clipped_end and trip.duration_s == 120
    # The same short movement, seen ending inside the range, is below the minimal duration: not a trip.
    ended, _ = build([(3 * 3600, 0, 0), (180, 36, 1), (600, 0, 0)])
    assert detect(ended, PARAMS, at(0), at(4))[0] == []


def test_a_trip_crossing_the_range_end_in_a_longer_track_is_cut_at_the_range_end():
    track, _ = build([(3600, 0, 0), (3600, 36, 1), (3600, 0, 0)])  # drive 07:00-08:00
    trips, stops = detect(track, PARAMS, at(0), at(1, 30))
    (trip,) = trips
    assert trip.clipped_end and not trip.clipped_start
    assert (trip.start_time, trip.end_time) == (at(1), at(1, 30))
    assert trip.distance_m == approx(18_000, abs=0.01)
    assert trip.end_lat == approx(lat_after(18_000))
    (row,) = summary(track, trips, stops, PARAMS, at(0), at(1, 30))
    assert row.driving_s == 1800 and row.stopped_s == 3600 and row.last_stop is None


def test_a_trip_that_started_before_the_range_is_clipped_and_flagged():
    track, _ = build([(3600, 0, 0), (3600, 36, 1), (3600, 0, 0)])  # drive 07:00-08:00
    range_start = at(1, 40)
    trips, stops = detect(track, PARAMS, range_start, at(3))
    (trip,) = trips
    assert trip.clipped_start and not trip.clipped_end
    assert (trip.start_time, trip.end_time) == (range_start, at(2))
    assert trip.duration_s == 1200 and trip.distance_m == approx(12_000, abs=0.01)
    assert trip.start_lat == approx(lat_after(24_000))  # where it was at the range start
    assert trip.start_index == 60  # the fix where it really began
    (row,) = summary(track, trips, stops, PARAMS, range_start, at(3))
    assert row.trips == 1 and row.first_start is None and row.last_stop == at(2)
    assert row.driving_s == 1200 and row.average_speed == approx(36)


def test_data_that_begins_while_moving_gives_a_trip_the_range_does_not_cut():
    track, _ = build([(240, 36, 1), (3600, 0, 0)])  # 4 min, 2.4 km, then parked
    (trip,) = detect(track, PARAMS, at(0), at(2))[0]
    assert not trip.clipped_start and trip.duration_s == 240


# -------------------------------------------------------------------------------------- distance


def odometer_track(odometer):
    track, travelled = build([(600, 0, 1), (1200, 36, 1), (600, 0, 1)])
    track.odometer = odometer(travelled)
    return track


def test_distance_comes_from_a_sane_odometer():
    # The odometer reads 5% more than the GPS path (e.g. GPS cuts corners).
    track = odometer_track(lambda d: 100_000 + d * 1.05)
    (trip,) = detect(track, PARAMS, at(0), at(1))[0]
    assert trip.distance_source == "odometer"
    assert trip.distance_m == approx(12_000 * 1.05)


def test_a_backwards_or_jumping_odometer_falls_back_to_haversine():
    backwards = odometer_track(lambda d: 100_000 + d - 1000 * (d > 6000))  # 400 m back
    jumping = odometer_track(lambda d: 100_000 + d + 80_000 * (d > 6000))  # 80 km in a minute
    zero = odometer_track(lambda d: np.where(d > 0, 100_000 + d, 0.0))  # 0 = not reported at the start
    for track in (backwards, jumping, zero):
        (trip,) = detect(track, PARAMS, at(0), at(1))[0]
        assert trip.distance_source == "gps"
        assert trip.distance_m == approx(12_000, abs=0.01)


def test_invalid_fixes_are_skipped_for_distance():
    track, _ = build([(600, 0, 1), (1200, 36, 1), (600, 0, 1)])
    track.valid[15] = False
    track.lat[15] = 0.0  # a garbage fix that must not add 6,600 km
    (trip,) = detect(track, PARAMS, at(0), at(1))[0]
    assert trip.distance_m == approx(12_000, abs=0.01)


def test_haversine_matches_a_known_distance():
    # Helsinki cathedral to Tallinn town hall, about 82 km.
    assert haversine_m(60.1705, 24.9522, 59.4372, 24.7454) / 1000 == approx(82.2, abs=0.5)


# ------------------------------------------------------------------------------------- chunking


def test_stitch_joins_the_halves_of_a_trip_cut_at_a_window_boundary():
    track, _ = build([(3600, 0, 0), (3600, 36, 1), (3600, 0, 0)])
    whole = detect(track, PARAMS, at(0), at(3))[0]
    halves = detect(track, PARAMS, at(0), at(1, 30))[0] + detect(track, PARAMS, at(1, 30), at(3))[0]
    assert len(halves) == 2
    (joined,) = stitch(halves)
    assert (joined.start_time, joined.end_time) == (whole[0].start_time, whole[0].end_time)
    assert joined.distance_m == approx(whole[0].distance_m)
    assert not joined.clipped_start and not joined.clipped_end


def test_empty_and_single_fix_tracks_give_nothing():
    assert detect(Track.empty(), PARAMS, at(0), at(1)) == ([], [])
    (row,) = summary(Track.empty(), [], [], PARAMS, at(0), at(1))
    assert row.no_data_s == 3600 and row.stopped_s == 0 and row.engine_hours_s is None
    one = Track(t=[T0.timestamp()], lat=[LAT0], lon=[LON0], speed=[50.0])
    trips, stops = detect(one, PARAMS, at(0), at(1))
    assert trips == [] and stops == []


def test_a_track_must_be_sorted():
    with pytest.raises(ValueError, match="sorted"):
        Track(t=[2.0, 1.0], lat=[0, 0], lon=[0, 0], speed=[0, 0])


def test_params_come_from_the_organisation():
    class Org:
        min_trip_distance_m, min_trip_duration_s, min_parking_duration_s = 1000, 120, 600
        min_no_data_gap_s, speed_threshold_kmh, use_ignition = 1800, 5.0, False
        trip_needs_distance_and_duration = False  # Traccar's either/or rule
        max_speed_kmh, stop_radius_m = 160.0, 50

    params = Params.for_org(Org())
    assert params == Params(
        min_trip_distance_m=1000,
        min_trip_duration_s=120,
        min_parking_duration_s=600,
        min_no_data_gap_s=1800,
        speed_threshold_kmh=5.0,
        use_ignition=False,
        require_both=False,
        max_plausible_speed_kmh=160.0,
        stop_radius_m=50.0,
    )


# ---------------------------------------------------------------------------------------- volume


def test_two_hundred_thousand_samples_give_every_trip():
    # 5 s sampling: cycles of 1 h parked (720 fixes) and 30 min at 36 km/h (360 fixes), 185 cycles, then
    # 200 parked fixes: exactly 200,000 samples and 185 trips of 18 km.
    step, cycles = 5.0, 185
    cycle_speed = np.r_[np.zeros(720), np.full(360, 36.0)]
    speed = np.r_[np.tile(cycle_speed, cycles), np.zeros(200)]
    n = len(speed)
    assert n == 200_000
    t = T0.timestamp() + step * np.arange(n)
    travelled = np.r_[0.0, np.cumsum(speed[:-1] / 3.6 * step)]
    rng = np.random.default_rng(3)
    lat = LAT0 + (travelled + np.where(speed > 0, 0.0, rng.uniform(-5, 5, n))) / M_PER_DEG
    ignition = (speed > 0).astype(float)
    into = np.r_[0.0, speed[:-1]]  # the receiver reports the speed of the step into each fix
    track = Track(t=t, lat=lat, lon=np.full(n, LON0), speed=into, ignition=ignition)
    end = T0 + timedelta(seconds=n * step)
    trips, stops = detect(track, PARAMS, T0, end)
    assert len(trips) == cycles
    assert all(tr.duration_s == 1800 for tr in trips)
    assert [tr.distance_m for tr in trips] == [approx(18_000, abs=20)] * cycles
    (row,) = summary(track, trips, stops, PARAMS, T0, end)
    assert row.trips == cycles and row.driving_s == cycles * 1800
    assert row.distance_m == approx(cycles * 18_000, abs=20 * cycles)
    assert len(stops) == cycles + 1


def test_every_report_parameter_is_in_the_admin_with_its_default_in_the_help_text():
    from fleet.core.admin.organizations import OrganizationAdmin
    from fleet.core.models import Organization

    fields = dict(OrganizationAdmin.fieldsets)["Reports and live map"]["fields"]
    names = [
        "min_trip_distance_m",
        "min_trip_duration_s",
        "min_parking_duration_s",
        "stop_radius_m",
        "min_no_data_gap_s",
        "speed_threshold_kmh",
        "max_speed_kmh",
        "use_ignition",
        "trip_needs_distance_and_duration",
    ]
    assert set(names) <= set(fields)
    for name in names:
        field = Organization._meta.get_field(name)
        default = {True: "on", False: "off"}.get(field.default, f"{field.default:g}")
        assert f"Default {default}" in field.help_text, name
