"""The closed-day cache keys on ``cache.ENGINE_VERSION``: cached days computed by another engine are never read.
This test notices when the engine's results change, so that the version is raised with them.

It runs the engine over real GPS tracks (tests/fixtures/real-tracks) with two sets of parameters and compares
a digest of every trip, stop and summary figure with the digest recorded for the current version. When it
fails after a deliberate change to detection: raise ENGINE_VERSION in fleet/reports/cache.py and record the
digest the failure prints under the new version in GOLDEN."""

import hashlib
import json
from dataclasses import astuple
from pathlib import Path

from fleet.reports.cache import ENGINE_VERSION
from fleet.reports.engine import Params, Track, detect, summary
from tests import real_tracks

GOLDEN = {
    1: "5e9f09bc8272ab249a709dedb7b6c7965aba85ee338eeaa7d3e8796f5af59a5d",
    2: "4f0e5ad35cee5d43527d8daa0cb60329c5259714ae6059dfecde8cd916112270",
}


def bus() -> Track:
    return real_tracks.load("bus")


def geolife() -> Track:
    """GeoLife with the speed of the step into each fix (the engine's convention), as a receiver reports it."""
    track = real_tracks.geolife()
    return Track(t=track.t, lat=track.lat, lon=track.lon, speed=real_tracks.step_speeds(track))


def figures(track: Track, params: Params) -> list:
    start, end = track.t[0], track.t[-1] + 1
    trips, stops = detect(track, params, start, end)
    rows = summary(track, trips, stops, params, start, end, "Europe/Dublin")
    return [[_plain(v) for v in astuple(item)] for item in [*trips, *stops, *rows]]


def _plain(value):
    if isinstance(value, float):
        return None if value != value else round(value, 4)
    return value.isoformat() if hasattr(value, "isoformat") else value


PARKS = Params(min_parking_duration_s=60, min_trip_distance_m=200, min_trip_duration_s=60)  # a bus's halts


def digest() -> str:
    results = [figures(track, params) for track in (bus(), geolife()) for params in (Params(), PARKS)]
    return hashlib.sha256(json.dumps(results).encode()).hexdigest()


def test_the_engine_version_names_the_engines_results():
    found = digest()
    assert GOLDEN.get(ENGINE_VERSION) == found, (
        f"The engine's results are not those recorded for ENGINE_VERSION {ENGINE_VERSION}. If detection was "
        f"meant to change, raise ENGINE_VERSION in fleet/reports/cache.py and add {{{ENGINE_VERSION + 1}: "
        f'"{found}"}} to GOLDEN in {Path(__file__).name}.'
    )


def test_the_tracks_give_trips_and_stops_to_compare():
    assert len(figures(bus(), PARKS)) > 5 and len(figures(geolife(), Params())) > 10  # not a digest of nothing
