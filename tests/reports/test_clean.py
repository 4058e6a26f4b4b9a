"""Cleaning: which fixes ``engine.outliers`` flags, on hand-built tracks driving due north along a meridian
(one metre of travel is 1 / M_PER_DEG degrees of latitude)."""

import time

import numpy as np
import pytest

from fleet.core.geodesy import M_PER_DEG
from fleet.reports.engine import Track, outliers
from fleet.reports.engine.clean import CONFIRM_FIXES

LAT0, LON0, T0 = 53.0, -8.0, 1_790_000_000.0
MAX_KMH = 300.0


def drive(seconds: int, kmh: float, step: float = 1.0, start_m: float = 0.0, t0: float = T0):
    """(t, metres north) sampled every ``step`` seconds at ``kmh``."""
    t = t0 + np.arange(0, seconds, step)
    return t, start_m + (t - t0) * kmh / 3.6


def track(t, north_m, east_m=None, valid=None) -> Track:
    east = np.zeros(len(t)) if east_m is None else np.asarray(east_m, dtype=float)
    lat = LAT0 + np.asarray(north_m) / M_PER_DEG
    lon = LON0 + east / (M_PER_DEG * np.cos(np.radians(lat)))
    return Track(t=np.asarray(t, dtype=float), lat=lat, lon=lon, speed=np.full(len(t), np.nan), valid=valid)


def test_a_single_fix_kilometres_off_for_a_second_is_an_outlier():
    t, north = drive(120, 50)
    east = np.zeros(len(t))
    east[60] = 5_800.0  # 5.8 km from its predecessor one second later: 20,880 km/h
    flagged = outliers(track(t, north, east), MAX_KMH)
    assert np.flatnonzero(flagged).tolist() == [60]


def test_a_jump_fix_between_sparse_fixes_is_an_outlier_even_if_the_next_fix_could_be_reached_from_it():
    # fixes every 90 s; the jump fix comes 1 s after its predecessor, 5.8 km off; from it the next fix is
    # 89 s and ~5.8 km away (235 km/h, plausible), so only leaving it out repairs the track
    t = T0 + np.array([0, 90, 180, 181, 270, 360, 450], dtype=float)
    north = np.array([0, 100, 200, 200, 300, 400, 500], dtype=float)
    east = np.array([0, 0, 0, 5_800, 0, 0, 0], dtype=float)
    assert np.flatnonzero(outliers(track(t, north, east), MAX_KMH)).tolist() == [3]


def test_a_burst_of_mis_timed_fixes_is_flagged_whole():
    t, north = drive(300, 60)
    north = north.copy()
    burst = slice(150, 150 + CONFIRM_FIXES - 1)
    north[burst] += 30_000.0  # positions of half an hour later, stamped now: 5,000+ km/h in and out
    flagged = outliers(track(t, north), MAX_KMH)
    assert np.flatnonzero(flagged).tolist() == list(range(150, 150 + CONFIRM_FIXES - 1))


def test_a_burst_whose_own_steps_are_implausible_is_flagged_whole():
    t, north = drive(300, 60)
    north = north.copy()
    north[100:104] += np.array([10_000.0, 20_000.0, 30_000.0, 40_000.0])  # every step 10 km in 1 s
    assert np.flatnonzero(outliers(track(t, north), MAX_KMH)).tolist() == [100, 101, 102, 103]


def test_a_real_move_confirmed_by_the_following_fixes_is_kept():
    # parked, then 60 s later 20 km away (1,200 km/h: a receiver that slept through a ferry crossing), and
    # the fixes after it continue from there
    t1, n1 = drive(600, 0, step=10)
    t2, n2 = drive(600, 30, step=10, start_m=20_000.0, t0=t1[-1] + 60)
    flagged = outliers(track(np.r_[t1, t2], np.r_[n1, n2]), MAX_KMH)
    assert not flagged.any()


def test_fast_but_plausible_driving_is_kept():
    t, north = drive(600, 250)
    assert not outliers(track(t, north), MAX_KMH).any()


def test_a_lower_plausible_maximum_flags_what_a_higher_one_keeps():
    t, north = drive(120, 50)
    east = np.zeros(len(t))
    east[60] = 200.0  # 200 m sideways in 1 s and back: 300 km/h allows 133 m, 1,000 km/h 328 m (slack included)
    assert not outliers(track(t, north, east), 1000.0).any()
    assert np.flatnonzero(outliers(track(t, north, east), MAX_KMH)).tolist() == [60]


def test_two_vehicles_interleaved_under_one_id_are_flagged():
    # two cars 20 km apart, each reporting every 10 s, their fixes alternating
    t = T0 + np.arange(0, 1200, 5.0)
    east = np.where(np.arange(len(t)) % 2 == 0, 0.0, 20_000.0)
    north = (t - T0) * 40 / 3.6
    flagged = outliers(track(t, north, east), MAX_KMH)
    assert flagged.sum() >= len(t) // 2  # at least one vehicle's fixes: enough for a warning


def test_invalid_fixes_are_not_outliers_and_do_not_make_their_neighbours_outliers():
    t, north = drive(120, 50)
    east = np.zeros(len(t))
    east[60] = 5_800.0
    valid = np.ones(len(t), dtype=bool)
    valid[60] = False
    flagged = outliers(track(t, north, east, valid=valid), MAX_KMH)
    assert not flagged.any()


def test_short_and_clean_tracks_have_no_outliers():
    assert not outliers(Track.empty(), MAX_KMH).any()
    t, north = drive(2, 50)
    assert not outliers(track(t, north), MAX_KMH).any()


def test_a_non_positive_maximum_is_refused():
    t, north = drive(10, 50)
    with pytest.raises(ValueError, match="max_kmh"):
        outliers(track(t, north), 0)


def test_half_a_million_fixes_clean_fast():
    rng = np.random.default_rng(12)
    t, north = drive(500_000, 40)
    east = rng.normal(0, 5, len(t))
    spikes = rng.choice(len(t), 200, replace=False)
    east[spikes] += 10_000.0
    tr = track(t, north, east)
    outliers(tr, MAX_KMH)  # warm up
    began = time.perf_counter()
    flagged = outliers(tr, MAX_KMH)
    elapsed = time.perf_counter() - began
    assert set(np.flatnonzero(flagged).tolist()) == set(spikes.tolist())
    assert elapsed < 0.25, elapsed  # ~0.03 s on the development machine; generous for a shared CI runner
