#!/usr/bin/env python
"""The event engine against 10,000 geofences: positions per second through ``fleet.events.engine.evaluate``
(zone lookup in the STRtree, exact containment, crossings, the per-device state machine, overspeed / ignition /
battery rules), next to a naive loop over all shapes in the same run.

The city: 10,000 zones over 30 km x 20 km of Helsinki, 40 % polygons (4 to 8 corners, 50 to 400 m across),
40 % circles (30 to 300 m), 20 % corridors (2 to 5 points, 0.2 to 2 km, 20 to 60 m wide), some with a dwell and
a speed limit. The fleet: 2,000 vehicles (400 with --quick) driving random walks at 20 to 70 km/h, a fix every
10 s, fed to the engine in batches of 5,000 fixes (the devices' states carried from batch to batch).

The naive loop: for each fix, every zone's ``fleet.geo.shapes.Place.contains`` (a bounding-box test, then the
exact one): what finding the zones of a fix costs without an index. It runs on a sample of fixes (its rate
per fix does not depend on which); the zones it finds are compared with the engine's for the same fixes.

Rates are per CPU second of the bench process (``time.process_time``: what the engine costs, whatever else the
machine runs; the wall-clock rate is printed beside it), the ratio is of the two CPU rates of the same run.
Two cities: customer sites (polygons 20-100 m across from their centre, circles 30-150 m, corridors 0.2-1.5 km
by 20-50 m: about a third of the city inside some zone), the case judged; and a dense stress case (zones up to
twice as large, covering most of the city: about 0.7 enter / exit events per fix), printed beside it.
Goal (customer sites): >= 50,000 positions per CPU second through the engine and >= 50 x the naive loop; the
samples' zones must agree in both cities.
Usage: .venv/bin/python bench/geofence.py [--quick]    Last line: {"bench": "geofence", ..., "goal_met": ...}
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _db import result  # noqa: E402

from fleet.core.geodesy import M_PER_DEG, metres_per_degree_lon  # noqa: E402
from fleet.events import engine  # noqa: E402
from fleet.events.zones import GEOFENCE, Zone, ZoneIndex  # noqa: E402
from fleet.geo.shapes import Circle, Corridor, Place, Polygon  # noqa: E402

LAT0, LON0 = 60.17, 24.94
KX = metres_per_degree_lon(LAT0)
WIDTH_M, HEIGHT_M = 30_000.0, 20_000.0
BATCH = 5_000
GOAL_RATE, GOAL_RATIO = 50_000, 50


def _lonlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.c_[LON0 + x / KX, LAT0 + y / M_PER_DEG]


# Zone sizes (metres) of the two cities: customer sites (the case judged) and a stress case whose zones cover
# most of the city (about 0.7 enter / exit events per fix on the random walks).
SITES = {"polygon": (20, 100), "circle": (30, 150), "corridor": (200, 1500), "half_width": (10, 25)}
DENSE = {"polygon": (25, 200), "circle": (30, 300), "corridor": (200, 2000), "half_width": (10, 30)}


def city(n: int, rng: np.random.Generator, sizes: dict = SITES) -> list[Zone]:
    zones = []
    for pk in range(1, n + 1):
        cx, cy = rng.uniform(0, WIDTH_M), rng.uniform(0, HEIGHT_M)
        roll = rng.random()
        if roll < 0.4:
            k = int(rng.integers(4, 9))
            angles = np.sort(rng.uniform(0, 2 * np.pi, k))
            radii = rng.uniform(*sizes["polygon"], k)
            ring = _lonlat(cx + radii * np.cos(angles), cy + radii * np.sin(angles))
            shape = Polygon([np.r_[ring, ring[:1]]])
        elif roll < 0.8:
            lon, lat = _lonlat(np.array([cx]), np.array([cy]))[0]
            shape = Circle(float(lat), float(lon), float(rng.uniform(*sizes["circle"])))
        else:
            k = int(rng.integers(2, 6))
            length = rng.uniform(*sizes["corridor"])
            steps = rng.normal(0, 1, (k - 1, 2))
            steps = steps / np.linalg.norm(steps, axis=1, keepdims=True) * length / (k - 1)
            xy = np.r_[[[cx, cy]], np.array([cx, cy]) + np.cumsum(steps, axis=0)]
            shape = Corridor(_lonlat(xy[:, 0], xy[:, 1]), float(rng.uniform(*sizes["half_width"])))
        dwell = float(rng.choice([0, 0, 0, 30, 60]))
        limit = float(rng.choice([30, 50])) if rng.random() < 0.1 else None
        zones.append(Zone(f"geofence:{pk}", GEOFENCE, pk, f"zone {pk}", shape, dwell, limit))
    return zones


def fleet(vehicles: int, fixes_each: int, rng: np.random.Generator) -> engine.Fixes:
    """Random walks, sorted by (device, t)."""
    n = vehicles * fixes_each
    speed_kmh = rng.uniform(20, 70, (vehicles, fixes_each))
    heading = np.cumsum(rng.normal(0, 0.3, (vehicles, fixes_each)), axis=1) + rng.uniform(0, 2 * np.pi, (vehicles, 1))
    step = speed_kmh / 3.6 * 10.0
    x = rng.uniform(0, WIDTH_M, (vehicles, 1)) + np.cumsum(step * np.cos(heading), axis=1)
    y = rng.uniform(0, HEIGHT_M, (vehicles, 1)) + np.cumsum(step * np.sin(heading), axis=1)
    lonlat = _lonlat(x.ravel(), y.ravel())
    t0 = 1_780_000_000.0
    return engine.Fixes(
        device=np.repeat(np.arange(1, vehicles + 1), fixes_each),
        t=np.tile(t0 + 10.0 * np.arange(fixes_each), vehicles),
        lat=lonlat[:, 1],
        lon=lonlat[:, 0],
        speed=speed_kmh.ravel(),
        accuracy=np.where(rng.random(n) < 0.3, rng.uniform(3, 30, n), np.nan),
        ignition=np.ones(n),
        battery=np.full(n, 80.0),
        pid=np.arange(1, n + 1),
    )


def batches(fixes: engine.Fixes, size: int, fixes_each: int):
    """Time slices of the fleet (every vehicle's next few fixes), ``size`` fixes each, sorted by (device, t)."""
    per = max(1, size // (len(fixes) // fixes_each))
    for lo in range(0, fixes_each, per):
        keep = (np.arange(len(fixes)) % fixes_each >= lo) & (np.arange(len(fixes)) % fixes_each < lo + per)
        yield engine.Fixes(*(getattr(fixes, f)[keep] for f in engine.Fixes.__dataclass_fields__))


def run_engine(index: ZoneIndex, fixes: engine.Fixes, fixes_each: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, events) of the engine over the fleet's batches."""
    rules = engine.Rules(speed_limit_kmh=90.0)
    states: dict[int, dict] = {}
    events = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for batch in batches(fixes, BATCH, fixes_each):
        found, new = engine.evaluate(index, batch, states, lambda d: rules)
        states.update(new)
        events += len(found)
    return time.perf_counter() - t0, time.process_time() - cpu0, events


def naive(zones: list[Zone], lat: np.ndarray, lon: np.ndarray) -> tuple[float, list[set[str]]]:
    placed = [Place(z.key, z.name, "geofence", z.shape) for z in zones]
    found = []
    t0 = time.perf_counter()
    for k in range(len(lat)):
        la, lo = lat[k : k + 1], lon[k : k + 1]
        found.append({p.key for p in placed if p.contains(la, lo)[0]})
    return time.perf_counter() - t0, found


def measure(name: str, sizes: dict, vehicles: int, fixes_each: int, sample: int) -> dict:
    rng = np.random.default_rng(7)
    n_zones = 10_000
    t0 = time.perf_counter()
    zones = city(n_zones, rng, sizes)
    index = ZoneIndex(zones)
    build_s = time.perf_counter() - t0
    fixes = fleet(vehicles, fixes_each, rng)
    run_engine(index, engine.Fixes(*(getattr(fixes, f)[:BATCH] for f in engine.Fixes.__dataclass_fields__)), 1)
    engine_s, engine_cpu_s, events = run_engine(index, fixes, fixes_each)
    rate, cpu_rate = len(fixes) / engine_s, len(fixes) / engine_cpu_s
    pick = rng.choice(len(fixes), sample, replace=False)
    cpu0 = time.process_time()
    naive_s, naive_found = naive(zones, fixes.lat[pick], fixes.lon[pick])
    naive_cpu_rate = sample / (time.process_time() - cpu0)
    fix, zone, where = index.locate(fixes.lat[pick], fixes.lon[pick], np.full(sample, np.nan))
    ours = [set() for _ in range(sample)]
    for f, z, w in zip(fix.tolist(), zone.tolist(), where.tolist(), strict=True):
        if w == -1:
            ours[f].add(zones[z].key)
    agree = sum(a == b for a, b in zip(ours, naive_found, strict=True))
    inside = sum(len(s) for s in naive_found)
    ratio = cpu_rate / naive_cpu_rate
    print(f"{name}: {n_zones} zones (index built in {build_s:.2f} s); {len(fixes)} fixes of {vehicles} vehicles")
    print(f"  engine: {cpu_rate:,.0f} positions per CPU second, {rate:,.0f}/s wall ({events} events)")
    print(f"  naive loop over all shapes: {naive_cpu_rate:,.1f} positions per CPU second ({sample} fixes)")
    print(f"  ratio: {ratio:,.0f} x; zones of the sample agree on {agree}/{sample} fixes ({inside} zone hits)")
    return {
        "zones": n_zones,
        "fixes": len(fixes),
        "per_cpu_s": round(cpu_rate),
        "per_s_wall": round(rate),
        "naive_per_cpu_s": round(naive_cpu_rate, 1),
        "ratio": round(ratio),
        "events_per_fix": round(events / len(fixes), 3),
        "sample_agree": f"{agree}/{sample}",
        "agree": agree == sample,
        "index_build_s": round(build_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    vehicles, fixes_each, sample = (400, 50, 40) if args.quick else (2_000, 100, 200)
    sites = measure("customer sites", SITES, vehicles, fixes_each, sample)
    dense = measure("dense (stress)", DENSE, vehicles, fixes_each, sample)
    goal = sites["per_cpu_s"] >= GOAL_RATE and sites["ratio"] >= GOAL_RATIO and sites["agree"] and dense["agree"]
    result("geofence", sites=sites, dense=dense, goal_met=goal)


if __name__ == "__main__":
    main()
