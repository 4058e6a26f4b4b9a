"""The real-tracks bench: its short mode (seconds; the baselines only when their venv exists already) and its
pure helpers (the stop overlap rule it shares with the reports bench, the cleaned haversine, the goals).

As for every bench test (``test_benches``), the run asserts that the bench measured something and judged its
goals, not the goals themselves (they describe the engine, which the engine's tests check).
"""

import numpy as np
import pytest

from fleet.core.geodesy import haversine_m
from fleet.reports.engine import Track
from tests.bench.test_benches import ROOT, run_bench


@pytest.fixture
def bench(monkeypatch):
    """bench/real_tracks.py and bench/_baselines.py as modules (the benches import each other from bench/)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _baselines
    import real_tracks

    return real_tracks, _baselines


def test_real_tracks_bench():
    figures = run_bench("real_tracks.py")
    assert set(figures["tracks"]) == {"bus", "car", "geolife"} and figures["skipped"] == ["hike"]
    assert figures["gpx_import"]["hike"] == {"read": 184, "rejected": 184, "reasons": {"fix time before 2000": 184}}
    for track in figures["tracks"].values():
        assert track["fixes"] > 100 and track["cleaned_haversine_km"] > 1 and track["distance_ratio"] >= 0
        assert track["no_data_km"] >= 0 and track["max_speed_kmh"] >= 0
    assert {"max_speed", "distance"} <= set(figures["goal"])
    if figures["baselines"] is None:  # not installed: the stop goal is not judged, and the JSON says so
        assert "stops_matched" not in figures["goal"] and "not installed" in figures["not_measured"][0]
    else:
        assert figures["tracks"]["geolife"]["trackintel_stops"] > 0
    assert figures["goal_met"] == all(figures["goal"].values())


def test_stops_match_when_they_overlap_by_half_the_shorter(bench):
    _, baselines = bench
    mine = [(0, 0.0, 100.0)]
    assert baselines.matched(mine, [(0, 50.0, 200.0)]).tolist() == [True]  # 50 s of the shorter 100 s
    assert baselines.matched(mine, [(0, 51.0, 200.0)]).tolist() == [False]  # 49 s
    assert baselines.matched(mine, [(0, 10.0, 20.0)]).tolist() == [True]  # inside: all of the shorter
    assert baselines.matched(mine, [(1, 0.0, 100.0)]).tolist() == [False]  # another device
    assert baselines.matched(mine, [(0, 100.0, 100.5)]).tolist() == [False]  # touching is no overlap
    assert baselines.matched([(0, 50.0, 200.0)], mine).tolist() == [True]  # symmetric
    assert baselines.matched_share([], mine) == 1.0 and baselines.matched_share(mine + [(0, 300, 400)], mine) == 0.5


def test_the_cleaned_haversine_skips_outliers_and_shows_the_silences(bench):
    real_tracks, _ = bench
    lat = np.array([60.0, 60.01, 61.0, 60.02, 60.03, 60.04, 60.05, 60.06, 60.07])  # a spike 100 km north
    t = np.array([0.0, 60, 120, 180, 240, 300, 3900, 3960, 4020])  # and an hour's silence after 300 s
    track = Track(t=t, lat=lat, lon=np.full(len(t), 25.0), speed=np.zeros(len(t)))
    total, across = real_tracks.cleaned_haversine(track, np.arange(len(t)) == 2)
    assert total == pytest.approx(haversine_m(60.0, 25.0, 60.07, 25.0), rel=1e-6)
    assert across == pytest.approx(haversine_m(60.04, 25.0, 60.05, 25.0), rel=1e-6)
    valid = np.ones(len(t), dtype=bool)
    valid[1] = False  # an invalid fix is ignored too
    track.valid = valid
    assert real_tracks.cleaned_haversine(track, np.zeros(len(t), dtype=bool))[0] > 200_000


def test_goals_are_judged_on_what_was_measured(bench):
    real_tracks, _ = bench
    good = {"agreed_matched": 0.9, "max_speed_kmh": 300.0, "distance_ratio": 0.97}
    assert real_tracks.judge({"a": good}, None) == ({"stops_matched": True, "max_speed": True, "distance": True}, [])
    goal, not_measured = real_tracks.judge({"a": good, "b": {**good, "agreed_matched": 0.89}}, None)
    assert goal["stops_matched"] is False
    goal, not_measured = real_tracks.judge({"a": {**good, "max_speed_kmh": 300.1, "distance_ratio": 1.031}}, None)
    assert goal == {"stops_matched": True, "max_speed": False, "distance": False}
    goal, not_measured = real_tracks.judge({"a": {**good, "agreed_matched": None}}, None)
    assert "stops_matched" not in goal and "no track has stops" in not_measured[0]
    plain = {"max_speed_kmh": 50.0, "distance_ratio": 1.0}  # no baselines: no agreed stops either
    goal, not_measured = real_tracks.judge({"a": plain}, "baselines not installed")
    assert goal == {"max_speed": True, "distance": True} and not_measured == ["stops_matched: baselines not installed"]
