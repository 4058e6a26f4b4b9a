"""The baselines the detection benches measure ours against, and the rule their stops are compared by.

trackintel's sliding staypoints and movingpandas' TrajectoryStopDetector live in their own venv
(``.run/bench-baselines``, from ``bench/requirements-baselines.txt``), never in the project's: ``baseline_python``
creates it when the caller allows (a bench's full run; never its --quick), ``run_baselines`` runs them in a
subprocess of that venv over the caller's points (an .npz file of device, t, lat, lon), this file being the
worker (``python bench/_baselines.py --baseline-worker POINTS OUT WHICH REPEAT``: numpy, pandas and the
baselines only, no Django, no fleet). Both use R = 100 m and T = 5 min, trackintel a 60 min gap:
  - trackintel ``generate_staypoints(method="sliding", dist_threshold=100, time_threshold=5, gap_threshold=60,
    include_last=True)``: a staypoint is where the track stays within 100 m of an anchor fix for at least 5 min;
  - movingpandas ``TrajectoryStopDetector.get_stop_time_ranges(max_diameter=100, min_duration=5 min)``.
A stop matches another when both are on the same device and their overlap in time is at least half of the
shorter of the two (a symmetric rule: ``matched``).

Used by bench/reports.py and bench/real_tracks.py; not a bench (the Makefile's bench loop skips "_" files).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINE_VENV = ROOT / ".run" / "bench-baselines"
REQUIREMENTS = Path(__file__).with_name("requirements-baselines.txt")
RADIUS_M, MIN_STAY_S, GAP_S = 100.0, 300.0, 3600.0  # staypoint radius / duration; our no-data gap
BASELINES = ("trackintel", "movingpandas")


# ------------------------------------------------------------------------------------- the caller's side


def baseline_python(install: bool) -> tuple[Path | None, str]:
    """The baselines' venv python, creating it if allowed; (None, why) when it is not available."""
    python = BASELINE_VENV / "bin" / "python"
    check = [str(python), "-c", "import trackintel, movingpandas"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "installed"
    if not install:
        return None, f"baselines not installed in {BASELINE_VENV} (--quick does not install them)"
    print(f"installing the baselines into {BASELINE_VENV} ...", flush=True)
    steps = [
        ["/usr/bin/python3", "-m", "venv", str(BASELINE_VENV)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"installing the baselines failed: {exc}"
        if done.returncode:
            return None, "installing the baselines failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return python, "installed now"


def run_baselines(python: Path, points: dict, which: list[str], workdir: Path, repeat: int) -> dict:
    """trackintel best of ``repeat`` runs, movingpandas once (it takes minutes on large inputs), in the baselines'
    venv over ``points`` (arrays device, t, lat, lon). Per baseline: version, construct_s, detect_s and its stays
    as (device, start, end) epoch seconds; frame_s: building the shared GeoDataFrame."""
    path, out = workdir / "points.npz", workdir / "baselines.json"
    np.savez(path, **{k: points[k] for k in ("device", "t", "lat", "lon")})
    worker = [str(python), str(Path(__file__).resolve()), "--baseline-worker"]
    subprocess.run([*worker, str(path), str(out), ",".join(which), str(repeat)], check=True, cwd=ROOT)
    return json.loads(out.read_text())


def matched(these: list, those: list) -> np.ndarray:
    """Per stop of ``these`` (device, start, end): whether one of ``those`` on the same device overlaps it by at
    least half of the shorter of the two."""
    by_device: dict[int, list] = {}
    for device, start, end in those:
        by_device.setdefault(device, []).append((start, end))
    hits = np.zeros(len(these), dtype=bool)
    for i, (device, start, end) in enumerate(these):
        other = np.asarray(by_device.get(device, []), dtype=float).reshape(-1, 2)
        overlap = np.minimum(end, other[:, 1]) - np.maximum(start, other[:, 0])
        shorter = np.minimum(end - start, other[:, 1] - other[:, 0])
        hits[i] = bool(np.any((overlap > 0) & (overlap >= 0.5 * shorter)))
    return hits


def matched_share(these: list, those: list) -> float:
    """Share of ``these`` that ``matched`` one of ``those`` (1.0 when there are none)."""
    return float(matched(these, those).mean()) if these else 1.0


# ---------------------------------------------------------------------------- the worker (baselines' venv)


def baseline_worker(points_path: str, out_path: str, which: list[str], repeat: int) -> None:
    import warnings

    import geopandas as gpd
    import pandas as pd

    warnings.simplefilter("ignore")
    data = np.load(points_path)
    out: dict = {}
    t0 = time.perf_counter()
    frame = pd.DataFrame({"user_id": data["device"], "tracked_at": pd.to_datetime(data["t"], unit="s", utc=True)})
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(data["lon"], data["lat"]), crs="EPSG:4326")
    out["frame_s"] = time.perf_counter() - t0
    if "trackintel" in which:
        out["trackintel"] = _run_trackintel(gdf, repeat)
    if "movingpandas" in which:
        out["movingpandas"] = _run_movingpandas(gdf)
    Path(out_path).write_text(json.dumps(out))


def _run_trackintel(gdf, repeat: int) -> dict:
    import trackintel as ti

    t0 = time.perf_counter()
    pfs = ti.Positionfixes(gdf.copy())
    built = time.perf_counter()
    best = float("inf")
    for _ in range(repeat):
        t1 = time.perf_counter()
        _, sp = pfs.generate_staypoints(
            method="sliding",
            distance_metric="haversine",
            dist_threshold=RADIUS_M,
            time_threshold=MIN_STAY_S / 60,
            gap_threshold=GAP_S / 60,
            include_last=True,
            n_jobs=1,
        )
        best = min(best, time.perf_counter() - t1)
    stays = [
        (int(u), s.timestamp(), e.timestamp())
        for u, s, e in zip(sp["user_id"], sp["started_at"], sp["finished_at"], strict=True)
    ]
    return {"version": ti.__version__, "construct_s": built - t0, "detect_s": best, "stays": stays}


def _run_movingpandas(gdf) -> dict:
    import movingpandas as mpd

    t0 = time.perf_counter()
    collection = mpd.TrajectoryCollection(gdf.copy(), traj_id_col="user_id", t="tracked_at")
    built = time.perf_counter()
    ranges = mpd.TrajectoryStopDetector(collection).get_stop_time_ranges(
        max_diameter=RADIUS_M, min_duration=timedelta(seconds=MIN_STAY_S)
    )
    done = time.perf_counter()
    stays = [(int(r.traj_id), r.t_0.timestamp(), r.t_n.timestamp()) for r in ranges]
    return {"version": mpd.__version__, "construct_s": built - t0, "detect_s": done - built, "stays": stays}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="The benches' baseline worker (run by run_baselines).")
    parser.add_argument("--baseline-worker", nargs=4, metavar=("POINTS", "OUT", "WHICH", "REPEAT"), required=True)
    points_path, out_path, which, repeat = parser.parse_args(argv).baseline_worker
    baseline_worker(points_path, out_path, which.split(","), int(repeat))


if __name__ == "__main__":
    main(sys.argv[1:])
