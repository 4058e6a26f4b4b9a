#!/usr/bin/env python
"""Real tracks: stops, trips, distance and max speed on real GPS fixes, next to trackintel and movingpandas.

The tracks are tests/fixtures/real-tracks (provenance and licences in its README), loaded by tests/real_tracks.py:
a bus in Limerick and a car near Visnjan (GPX, through fleet's GPX import as an upload would go), a GeoLife user
in Beijing (five trajectories, December 2008 to June 2009, taken as one device's track; no speed reported: NaN, so the
engine must find motion from the positions) and a hike whose every fix is dated 1901 (GPX import rejects them
all: its import counts are printed and its detection is skipped, as for any track left without a fix).

Per track, over the whole track:
  - ours: ``engine.detect`` and ``engine.summary`` with Params(min_parking_duration_s=300,
    min_no_data_gap_s=3600, stop_radius_m=100, max_plausible_speed_kmh=300) (R and T as the baselines';
    60 min gap = trackintel's);
  - the baselines (``bench/_baselines.py``, shared with reports.py) on the same points (all of them, outliers
    included: they are not ours to clean): trackintel sliding staypoints (100 m / 5 min, gap 60 min) and
    movingpandas ``TrajectoryStopDetector`` (100 m / 5 min);
  - the overlap rule (``_baselines.matched``): two stops match when their overlap in time is at least half of
    the shorter of the two. It is symmetric, so it is defined once and used both ways: "agreed" stops are the
    trackintel stops that a movingpandas stop matches (counted on trackintel's side), and "matched" is the
    share of the agreed stops that one of ours matches (a long stop of ours matches every shorter one inside
    it, so the hours stopped, ours and agreed, are printed next to it);
  - trips: ours (the baselines find stops only);
  - distance: our summary's, what was driven plus the straight lines across no-data spans (the summary
    shows them apart; together they are all the distance the engine accounts for), against the "cleaned
    haversine", the great-circle distance summed over consecutive valid fixes that ``engine.outliers(track,
    300)`` does not flag (the part of it across silences of an hour or more is printed apart);
  - max speed: our summary's, against the plausible maximum of 300 km/h.
Goals: >= 90 % of the agreed stops matched on every track that has agreed stops, no max speed above 300 km/h,
distance within 3 % of the cleaned haversine. goal_met is judged on what was measured; the JSON's
"not_measured" lists what was not (no baselines, or no agreed stops on any track).

The baselines' venv (``.run/bench-baselines``) is created by the first full run; --quick (seconds, CI) never
installs it and runs ours alone when it is missing. Otherwise the two modes measure the same.

Usage: .venv/bin/python bench/real_tracks.py [--quick]
The last line printed is one JSON object {"bench": "real_tracks", ..., "goal_met": true|false}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _baselines import BASELINES, GAP_S, MIN_STAY_S, RADIUS_M, baseline_python, matched, run_baselines

ROOT = Path(__file__).resolve().parents[1]
MAX_KMH = 300.0  # the plausible maximum (the organisation's default)
MATCHED_GOAL, DISTANCE_TOLERANCE = 0.90, 0.03


def params():
    """Our parameters, matching the baselines' 100 m / 5 min and 60 min gap."""
    from fleet.reports.engine import Params

    return Params(
        min_parking_duration_s=MIN_STAY_S,
        min_no_data_gap_s=GAP_S,
        stop_radius_m=RADIUS_M,
        max_plausible_speed_kmh=MAX_KMH,
    )


def load_tracks() -> tuple[dict, dict]:
    """({name: Track} of the tracks with fixes, {name: GPX import counts} of the GPX files); prints the counts."""
    from tests import real_tracks

    tracks, imports = {}, {}
    for name in real_tracks.NAMES:
        if name in real_tracks.GPX_FILES:
            track, result = real_tracks.gpx(name)
            imports[name] = {"read": result.read, "rejected": result.rejected, "reasons": dict(result.reasons)}
            reasons = ", ".join(f"{why}: {n}" for why, n in sorted(result.reasons.items()))
            reasons = f" ({reasons})" if reasons else ""
            print(
                f"GPX import of {name}: {result.read} points read, {result.rejected} rejected{reasons}"
                + ("" if len(track) else ": no fix left, detection skipped")
            )
        else:
            track = real_tracks.load(name)
        if len(track):
            tracks[name] = track
    return tracks, imports


def cleaned_haversine(track, flagged: np.ndarray) -> tuple[float, float]:
    """(metres, of which across no-data gaps): haversine over consecutive valid fixes not flagged as outliers."""
    from fleet.core.geodesy import haversine_m

    kept = track.valid & ~flagged
    t, lat, lon = track.t[kept], track.lat[kept], track.lon[kept]
    steps = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    return float(steps.sum()), float(steps[np.diff(t) >= GAP_S].sum())


def ours(track) -> dict:
    """Our stops (as (0, start, end)), trips, summary distance and max speed over the whole track."""
    from fleet.reports.engine import detect, outliers, summary

    p = params()
    start, end = track.t[0], track.t[-1] + 1
    t0 = time.perf_counter()
    trips, stops = detect(track, p, start, end)
    (row,) = summary(track, trips, stops, p, start, end)
    seconds = time.perf_counter() - t0
    flagged = outliers(track, MAX_KMH)
    cleaned_m, across_gaps_m = cleaned_haversine(track, flagged)
    return {
        "seconds": seconds,
        "stays": [(0, s.start_time.timestamp(), s.end_time.timestamp()) for s in stops],
        "trips": len(trips),
        "distance_m": row.distance_m,
        "no_data_m": row.no_data_distance_m,
        "max_speed": row.max_speed,
        "outliers": int(flagged.sum()),
        "cleaned_m": cleaned_m,
        "across_gaps_m": across_gaps_m,
    }


def baselines(tracks: dict, quick: bool) -> tuple[dict | None, str | None]:
    """{name: {baseline: stays as (0, start, end)}, "versions": ...} from one run over all tracks (one device
    each), or (None, why not)."""
    python, status = baseline_python(install=not quick)
    if python is None:
        return None, status
    names = list(tracks)
    points = {
        "device": np.concatenate([np.full(len(tracks[n]), i, dtype=np.int32) for i, n in enumerate(names)]),
        **{k: np.concatenate([getattr(tracks[n], k) for n in names]) for k in ("t", "lat", "lon")},
    }
    (ROOT / ".run").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / ".run") as workdir:
        try:
            base = run_baselines(python, points, list(BASELINES), Path(workdir), repeat=1)
        except subprocess.CalledProcessError as exc:
            return None, f"baselines failed (exit {exc.returncode})"
    out: dict = {"versions": {b: base[b]["version"] for b in BASELINES}}
    for i, name in enumerate(names):
        out[name] = {b: [(0, s, e) for device, s, e in base[b]["stays"] if device == i] for b in BASELINES}
    return out, None


def compare(name: str, track, mine: dict, theirs: dict | None) -> dict:
    """The track's figures; prints them."""
    dt = np.diff(track.t)
    accounted_m = mine["distance_m"] + mine["no_data_m"]
    ratio = accounted_m / mine["cleaned_m"] if mine["cleaned_m"] > 0 else None
    figures = {
        "fixes": len(track),
        "outliers": mine["outliers"],
        "ours_s": round(mine["seconds"], 4),
        "ours_stops": len(mine["stays"]),
        "ours_stopped_h": round(hours(mine["stays"]), 2),
        "trips": mine["trips"],
        "distance_km": round(mine["distance_m"] / 1000, 3),
        "no_data_km": round(mine["no_data_m"] / 1000, 3),
        "cleaned_haversine_km": round(mine["cleaned_m"] / 1000, 3),
        "across_gaps_km": round(mine["across_gaps_m"] / 1000, 3),
        "distance_ratio": None if ratio is None else round(ratio, 4),
        "max_speed_kmh": round(mine["max_speed"], 1),
    }
    print(
        f"{name}: {len(track):,} fixes over {(track.t[-1] - track.t[0]) / 3600:.1f} h (median step "
        f"{np.median(dt) if len(dt) else 0:.0f} s, {int((dt >= GAP_S).sum())} silences of an hour or more), "
        f"{mine['outliers']} outliers"
    )
    stops_line = f"    stops: ours {len(mine['stays'])} ({hours(mine['stays']):.1f} h)"
    if theirs is not None:
        ti, mp = theirs["trackintel"], theirs["movingpandas"]
        agreed = [stay for stay, hit in zip(ti, matched(ti, mp), strict=True) if hit]
        share = float(matched(agreed, mine["stays"]).mean()) if agreed else None
        figures |= {
            "trackintel_stops": len(ti),
            "movingpandas_stops": len(mp),
            "agreed_stops": len(agreed),
            "agreed_h": round(hours(agreed), 2),
            "agreed_matched": None if share is None else round(share, 4),
        }
        stops_line += (
            f", trackintel {len(ti)}, movingpandas {len(mp)}; {len(agreed)} agreed ({hours(agreed):.1f} h), "
            + (f"ours matches {share:.1%}" if share is not None else "none to match")
        )
    print(stops_line)
    print(
        f"    trips (ours) {mine['trips']}; distance {mine['distance_m'] / 1000:.2f} km driven + "
        f"{mine['no_data_m'] / 1000:.2f} km across no-data spans vs cleaned haversine "
        f"{mine['cleaned_m'] / 1000:.2f} km (ratio {'-' if ratio is None else f'{ratio:.3f}'}; "
        f"{mine['across_gaps_m'] / 1000:.2f} km of it across silences); max speed {mine['max_speed']:.1f} km/h "
        f"(plausible maximum {MAX_KMH:.0f}); detect + summary {mine['seconds'] * 1000:.1f} ms"
    )
    return figures


def hours(stays: list) -> float:
    """Total hours of (device, start, end) stops: one long stop of ours matches every shorter one inside it, so
    the time stopped is printed next to the matched share."""
    return sum(end - start for _, start, end in stays) / 3600


def judge(per_track: dict, why_no_baselines: str | None) -> tuple[dict, list[str]]:
    """({goal: met} for the measurable goals, [what was not measurable and why])."""
    goal, not_measured = {}, []
    shares = [f["agreed_matched"] for f in per_track.values() if f.get("agreed_matched") is not None]
    if why_no_baselines:
        not_measured.append(f"stops_matched: {why_no_baselines}")
    elif not shares:
        not_measured.append("stops_matched: no track has stops both baselines agree on")
    else:
        goal["stops_matched"] = min(shares) >= MATCHED_GOAL
    goal["max_speed"] = all(f["max_speed_kmh"] <= MAX_KMH for f in per_track.values())
    ratios = [f["distance_ratio"] for f in per_track.values()]
    if any(r is None for r in ratios):
        not_measured.append("distance: a track with no cleaned distance")
    goal["distance"] = all(r is not None and round(abs(r - 1), 6) <= DISTANCE_TOLERANCE for r in ratios)
    return goal, not_measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="never install the baselines (CI)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleet.settings")
    os.environ.setdefault("DEBUG", "true")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()  # GPX import reads the models' modules; no database is used

    tracks, imports = load_tracks()
    theirs, why = baselines(tracks, args.quick)
    if theirs is None:
        print(f"baselines skipped: {why}")
    else:
        print("baselines: " + ", ".join(f"{b} {v}" for b, v in theirs["versions"].items()))
    per_track = {
        name: compare(name, track, ours(track), None if theirs is None else theirs[name])
        for name, track in tracks.items()
    }
    goal, not_measured = judge(per_track, why)
    print(
        f"goal: >= {MATCHED_GOAL:.0%} of agreed stops matched on every track {goal.get('stops_matched', '-')}, "
        f"no max speed above {MAX_KMH:.0f} km/h {goal['max_speed']}, distance within {DISTANCE_TOLERANCE:.0%} of "
        f"the cleaned haversine {goal['distance']}"
        + (f"; not measured: {'; '.join(not_measured)}" if not_measured else "")
    )
    figures = {
        "quick": args.quick,
        "baselines": None if theirs is None else theirs["versions"],
        "gpx_import": imports,
        "skipped": sorted(set(imports) - set(tracks)),
        "tracks": per_track,
        "goal": goal,
        "not_measured": not_measured,
    }
    print(json.dumps({"bench": "real_tracks", **figures, "goal_met": all(goal.values())}), flush=True)


if __name__ == "__main__":
    main()
