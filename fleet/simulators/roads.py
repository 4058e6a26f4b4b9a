"""Real streets for the simulators: central Helsinki's drivable OSM graph (``data/helsinki_roads.json.gz``,
© OpenStreetMap contributors, ODbL 1.0), read once per process. Routing is Dijkstra by free-flow travel time;
routes are cached with their resampled geometry so the motion model needs no per-fix work.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

Frozen = TypeVar("Frozen")
DATA_FILE = Path(__file__).parent / "data" / "helsinki_roads.json.gz"
M_PER_DEG_LAT = 111_320.0
GRID_STEP_M = 5.0  # resampling step of a route's speed profile
MIN_EDGE_M = 0.05  # keeps cumulative distances strictly increasing
TURN_FREE_DEG = 20.0  # deflections below this do not slow a vehicle


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: str  # OSM shop/amenity/tourism value, e.g. "supermarket", "parking"
    node: int
    lat: float  # the graph node's position: where vehicles stop
    lon: float


@dataclass(frozen=True, slots=True, eq=False)
class RoadGraph:
    lat: np.ndarray
    lon: np.ndarray
    altitude: np.ndarray  # metres, see terrain_altitude
    signal: np.ndarray  # bool per node: traffic signals
    junction: np.ndarray  # bool per node: three or more neighbours
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_speed_kmh: np.ndarray
    edge_class: np.ndarray  # index into classes
    edge_name: np.ndarray  # index into names, -1 when unnamed
    edge_tunnel: np.ndarray  # bool per edge
    classes: tuple[str, ...]
    names: tuple[str, ...]
    places: tuple[Place, ...]
    out_edges: tuple[tuple[int, ...], ...]  # edge ids leaving each node
    m_per_deg_lon: float  # metres per degree of longitude at the area's latitude


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """A path with its geometry precomputed for interpolation."""

    nodes: np.ndarray  # node ids, len m + 1
    edges: np.ndarray  # edge ids, len m
    cum_m: np.ndarray  # distance along the route at each node
    lat: np.ndarray  # per node
    lon: np.ndarray
    altitude: np.ndarray
    signal: np.ndarray  # bool per node
    junction: np.ndarray  # bool per node
    speed_kmh: np.ndarray  # per edge
    bearing: np.ndarray  # per edge, degrees 0..360
    tunnel: np.ndarray  # bool per edge
    turn_cap_kmh: np.ndarray  # per node: speed at which the turn there can be taken
    grid_s: np.ndarray  # resampled distances (includes every node)
    grid_edge: np.ndarray  # edge position (0..m-1) each grid point starts
    grid_node: np.ndarray  # grid index of each node
    grid_limit: np.ndarray  # m/s allowed at each grid point (the lower limit where two edges meet)
    grid_turn_cap: np.ndarray  # m/s at which the turn at each grid point can be taken

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    @property
    def free_flow_s(self) -> float:
        return float(np.sum(np.diff(self.cum_m) / (self.speed_kmh / 3.6)))


@lru_cache(maxsize=1)
def load_graph(path: Path = DATA_FILE) -> RoadGraph:
    with gzip.open(path, "rb") as fh:
        raw = json.loads(fh.read())
    nodes, edges = raw["nodes"], raw["edges"]
    n = len(nodes["lat"])
    u = np.asarray(edges["u"], dtype=np.int64)
    v = np.asarray(edges["v"], dtype=np.int64)
    lat, lon = np.asarray(nodes["lat"], dtype=float), np.asarray(nodes["lon"], dtype=float)
    return _read_only(
        RoadGraph(
            lat=lat,
            lon=lon,
            altitude=terrain_altitude(lat, lon),
            signal=_mask(n, nodes["signals"]),
            junction=_junctions(n, u, v),
            edge_u=u,
            edge_v=v,
            edge_length_m=np.maximum(np.asarray(edges["length_m"], dtype=float), MIN_EDGE_M),
            edge_speed_kmh=np.asarray(raw["class_speed_kmh"], dtype=float)[edges["road_class"]],
            edge_class=np.asarray(edges["road_class"], dtype=np.int64),
            edge_name=np.asarray(edges["name"], dtype=np.int64),
            edge_tunnel=_mask(len(u), edges["tunnel"]),
            classes=tuple(raw["classes"]),
            names=tuple(raw["names"]),
            places=tuple(_place(p, nodes) for p in raw["places"]),
            out_edges=_out_edges(n, u),
            m_per_deg_lon=M_PER_DEG_LAT * math.cos(math.radians(float(lat.mean()))),
        )
    )


def terrain_altitude(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Smooth made-up terrain between 0 and 60 m (the extract has no elevations)."""
    y = (lat - 60.17) * M_PER_DEG_LAT
    x = (lon - 24.94) * 55_500.0
    return 30.0 + 15.0 * np.sin(x / 400.0) + 12.0 * np.cos(y / 550.0) + 3.0 * np.sin((x + y) / 170.0)


def _mask(size: int, indices: list[int]) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[indices] = True
    return mask


def _junctions(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    pairs = np.unique(np.sort(np.stack([u, v], axis=1), axis=1), axis=0)
    degree = np.bincount(pairs.ravel(), minlength=n)
    return degree >= 3


def _out_edges(n: int, u: np.ndarray) -> tuple[tuple[int, ...], ...]:
    lists: list[list[int]] = [[] for _ in range(n)]
    for edge_id, node in enumerate(u.tolist()):
        lists[node].append(edge_id)
    return tuple(tuple(x) for x in lists)


def _place(raw: dict, nodes: dict) -> Place:
    node = int(raw["node"])
    return Place(raw["name"], raw["kind"], node, float(nodes["lat"][node]), float(nodes["lon"][node]))


def places() -> list[Place]:
    return list(load_graph().places)


def nearest_node(lat: float, lon: float) -> int:
    g = load_graph()
    dy = (g.lat - lat) * M_PER_DEG_LAT
    dx = (g.lon - lon) * g.m_per_deg_lon
    return int(np.argmin(dx * dx + dy * dy))


@lru_cache(maxsize=512)
def _shortest_tree(source: int) -> tuple[int, ...]:
    """Predecessor edge of every node on the fastest paths from source (-1: none)."""
    g = load_graph()
    cost = (g.edge_length_m / (g.edge_speed_kmh / 3.6)).tolist()
    heads = g.edge_v.tolist()
    best = [math.inf] * len(g.lat)
    pred = [-1] * len(g.lat)
    best[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        d, node = heapq.heappop(heap)
        if d > best[node]:
            continue
        for edge in g.out_edges[node]:
            nd = d + cost[edge]
            head = heads[edge]
            if nd < best[head]:
                best[head] = nd
                pred[head] = edge
                heapq.heappush(heap, (nd, head))
    return tuple(pred)


def shortest_path(source: int, target: int) -> list[int]:
    """Return the edge ids of the fastest path from source to target."""
    pred = _shortest_tree(source)
    tails = _tails()
    path: list[int] = []
    node = target
    while node != source:
        edge = pred[node]
        if edge < 0:
            raise ValueError(f"node {target} is unreachable from {source}")
        path.append(edge)
        node = tails[edge]
    path.reverse()
    return path


@lru_cache(maxsize=1)
def _tails() -> list[int]:
    return load_graph().edge_u.tolist()


@lru_cache(maxsize=4096)
def route(source: int, target: int) -> Route:
    if source == target:
        raise ValueError("a route needs two different nodes")
    g = load_graph()
    edges = np.asarray(shortest_path(source, target), dtype=np.int64)
    nodes = np.concatenate([g.edge_u[edges[:1]], g.edge_v[edges]])
    cum = np.concatenate([[0.0], np.cumsum(g.edge_length_m[edges])])
    lat, lon = g.lat[nodes], g.lon[nodes]
    bearing = bearings(lat[:-1], lon[:-1], lat[1:], lon[1:])
    grid_s, grid_edge, grid_node = _resample(cum)
    speed = g.edge_speed_kmh[edges]
    limit = speed[grid_edge] / 3.6
    limit[grid_node[1:-1]] = np.minimum(speed[:-1], speed[1:]) / 3.6
    cap = np.full(len(grid_s), np.inf)
    cap[grid_node] = turn_caps(bearing) / 3.6
    return _read_only(
        Route(
            nodes=nodes,
            edges=edges,
            cum_m=cum,
            lat=lat,
            lon=lon,
            altitude=g.altitude[nodes],
            signal=g.signal[nodes],
            junction=g.junction[nodes],
            speed_kmh=speed,
            bearing=bearing,
            tunnel=g.edge_tunnel[edges],
            turn_cap_kmh=cap[grid_node] * 3.6,
            grid_s=grid_s,
            grid_edge=grid_edge,
            grid_node=grid_node,
            grid_limit=limit,
            grid_turn_cap=cap,
        )
    )


def _read_only(obj: Frozen) -> Frozen:
    """Lock the arrays of a cached object: everyone shares it."""
    for name in obj.__slots__:
        value = getattr(obj, name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return obj


def _resample(cum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.maximum(np.ceil(np.diff(cum) / GRID_STEP_M).astype(np.int64), 1)
    grid_edge = np.repeat(np.arange(len(steps)), steps)
    starts = np.concatenate([[0], np.cumsum(steps)])
    frac = (np.arange(len(grid_edge)) - starts[grid_edge]) / steps[grid_edge]
    grid_s = cum[grid_edge] + frac * (cum[grid_edge + 1] - cum[grid_edge])
    grid_s = np.append(grid_s, cum[-1])
    grid_edge = np.append(grid_edge, len(steps) - 1)
    return grid_s, grid_edge, starts


def bearings(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    x = np.sin(dl) * np.cos(p2)
    y = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.degrees(np.arctan2(x, y)) % 360.0


def turn_caps(bearing: np.ndarray) -> np.ndarray:
    """Speed (km/h) a turn can be taken at, per node; infinite at both ends."""
    deflection = np.abs((np.diff(bearing) + 180.0) % 360.0 - 180.0)
    cap = np.where(deflection < TURN_FREE_DEG, np.inf, 8.0 + 50.0 * (1.0 - deflection / 180.0) ** 2)
    return np.concatenate([[np.inf], cap, [np.inf]])


def street_name(edge: int) -> str:
    g = load_graph()
    index = int(g.edge_name[edge])
    return g.names[index] if index >= 0 else ""


def nearest_edge(lat: float, lon: float) -> int:
    """The edge closest to a position (e.g. a fix), for reverse geocoding."""
    g = load_graph()
    ax, ay = g.lon[g.edge_u] * g.m_per_deg_lon, g.lat[g.edge_u] * M_PER_DEG_LAT
    dx, dy = g.lon[g.edge_v] * g.m_per_deg_lon - ax, g.lat[g.edge_v] * M_PER_DEG_LAT - ay
    px, py = lon * g.m_per_deg_lon - ax, lat * M_PER_DEG_LAT - ay
    t = np.clip((px * dx + py * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return int(np.argmin((px - t * dx) ** 2 + (py - t * dy) ** 2))


def street_at(lat: float, lon: float) -> str:
    """Name of the street nearest to a position ("" when it has none)."""
    return street_name(nearest_edge(lat, lon))
