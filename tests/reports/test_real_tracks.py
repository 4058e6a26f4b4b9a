"""The engine on real GPS tracks (tests/fixtures/real-tracks; provenance and licences in its README): what GPX
import reads of each file, that no trip or stop is built on an implausible fix, that the bus's halts are found,
and that no speed passes the plausible maximum."""

import numpy as np
import pytest

from fleet.core.geodesy import haversine_m
from fleet.reports.engine import Params, Track, detect, no_data, outliers, summary
from fleet.reports.engine.motion import prepare
from tests import real_tracks

PARKS = Params(min_parking_duration_s=60, min_trip_distance_m=200, min_trip_duration_s=60)  # a bus's halts
MAX_KMH = Params().max_plausible_speed_kmh


@pytest.mark.parametrize(
    ("name", "read", "rejected", "reasons"),
    [
        ("bus", 2144, 0, {}),
        ("car", 104, 0, {}),
        ("hike", 184, 184, {"fix time before 2000": 184}),  # every point dated 1901: refused, with the reason
    ],
)
def test_gpx_import_reads_each_file_with_its_counts(name, read, rejected, reasons):
    track, result = real_tracks.gpx(name)
    assert (result.read, result.rejected, dict(result.reasons)) == (read, rejected, reasons)
    assert len(track) == read - rejected
    if len(track):
        assert track.speed[0] == 0.0  # the first point of a segment: no step leads into it
        assert np.allclose(track.speed[1:], real_tracks.step_speeds(track)[1:], rtol=0.01, atol=0.5)


def spiked(track: Track, every: int = 97) -> tuple[Track, np.ndarray]:
    """The track with every ``every``-th fix moved 5 km east: implausible fixes the engine must ignore."""
    lon = track.lon.copy()
    spikes = np.arange(every, len(track) - 1, every)
    lon[spikes] += 5_000 / (111_195 * np.cos(np.radians(track.lat[spikes])))
    return Track(t=track.t, lat=track.lat, lon=lon, speed=track.speed), spikes


@pytest.mark.parametrize(("name", "params"), [("bus", PARKS), ("car", PARKS), ("geolife", Params())])
def test_no_trip_or_stop_is_built_on_an_outlier_and_no_speed_passes_the_maximum(name, params):
    clean = real_tracks.load(name)
    for track in (clean, spiked(clean)[0]):
        a, b = track.t[0], track.t[-1] + 1
        p = prepare(track, params)
        trips, stops = detect(track, params, a, b, p)
        (row,) = summary(track, trips, stops, params, a, b, prepared=p)
        assert trips and stops
        edges = [i for x in [*trips, *stops] for i in (x.start_index, x.end_index)]
        assert not p.outlier[edges].any()
        assert row.max_speed <= MAX_KMH and max(t.max_speed for t in trips) <= MAX_KMH
    # the spikes are exactly what cleaning finds beyond the real track's own outliers
    spiky, spikes = spiked(clean)
    assert set(np.flatnonzero(outliers(spiky, MAX_KMH))) == set(spikes) | set(np.flatnonzero(outliers(clean, MAX_KMH)))


def test_cleaning_leaves_the_summary_as_if_the_spikes_were_never_there():
    bus = real_tracks.load("bus")
    spiky, _ = spiked(bus)
    figures = []
    for track in (bus, spiky):
        a, b = track.t[0], track.t[-1] + 1
        trips, stops = detect(track, PARKS, a, b)
        (row,) = summary(track, trips, stops, PARKS, a, b)
        figures.append((len(trips), len(stops), row.distance_m, row.outliers))
    (trips, stops, distance, none), (spiky_trips, spiky_stops, spiky_distance, ignored) = figures
    assert (trips, stops, none) == (spiky_trips, spiky_stops, 0) and ignored == len(spiked(bus)[1])
    assert spiky_distance == pytest.approx(distance, rel=0.01)  # a spike left out cuts its corner a little


def halts(track: Track, radius_m: float = 25.0, minimum_s: float = 60.0) -> list[tuple[float, float]]:
    """The bus's halts, found independently of the engine: maximal runs of fixes within ``radius_m`` of the
    run's first fix lasting at least ``minimum_s`` (a plain loop, a tighter radius than the engine's)."""
    found, i, n = [], 0, len(track)
    while i < n:
        j = i
        while j + 1 < n and haversine_m(track.lat[i], track.lon[i], track.lat[j + 1], track.lon[j + 1]) <= radius_m:
            j += 1
        if track.t[j] - track.t[i] >= minimum_s:
            found.append((track.t[i], track.t[j]))
            i = j + 1
        else:
            i += 1
    return found


def test_the_bus_halts_of_a_minute_or_more_are_stops():
    bus = real_tracks.load("bus")
    a, b = bus.t[0], bus.t[-1] + 1
    trips, stops = detect(bus, PARKS, a, b)
    spans = [(s.start_time.timestamp(), s.end_time.timestamp()) for s in stops]
    expected = halts(bus)
    assert len(expected) == 13
    found = [any(min(e, he) - max(s, hs) >= 0.5 * (he - hs) for s, e in spans) for hs, he in expected]
    assert sum(found) >= 12  # one 60 s halt whose approach the radius shares with the stop before it
    assert len(trips) == len(stops) == 12 and no_data(bus, PARKS, a, b) == []


def test_distance_stays_close_to_the_haversine_of_the_cleaned_fixes():
    # With the default parameters no halt of the bus is a stop: every metre of its path is driven.
    for name, params, share in (("bus", Params(), 1.0), ("car", PARKS, 0.95), ("geolife", Params(), 0.95)):
        track = real_tracks.load(name)
        a, b = track.t[0], track.t[-1] + 1
        trips, stops = detect(track, params, a, b)
        (row,) = summary(track, trips, stops, params, a, b)
        ok = ~outliers(track, MAX_KMH)
        steps = haversine_m(track.lat[ok][:-1], track.lon[ok][:-1], track.lat[ok][1:], track.lon[ok][1:])
        total = steps[np.diff(track.t[ok]) < params.min_no_data_gap_s].sum()
        assert share * total <= row.distance_m <= total * 1.0001, name
