"""The demo's offline street map: the simulators' road graph as Mapbox vector tiles in one PMTiles archive
(``data/helsinki_basemap.pmtiles``, committed; ``manage.py build_basemap`` rebuilds it). The tiles follow the
Protomaps basemap layout (an ``earth`` layer; ``roads`` with ``kind``, ``kind_detail``, ``name``), so the maps
draw them with the same style as a region cut from a Protomaps build (docs/simulators.md, The demo basemap).
"""

from __future__ import annotations

import gzip
import math
from collections import defaultdict
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import shapely
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

from fleet.simulators.roads import RoadGraph, load_graph

OUTPUT = Path(__file__).parent / "data" / "helsinki_basemap.pmtiles"
MAX_ZOOM = 15  # protomaps-leaflet reads data tiles up to 15 and scales them past it
ROADS_FROM_ZOOM = 10  # below, a tile shows only where the map has land: the streets would be a dot
MINOR_FROM_ZOOM = 12
EXTENT = 4096  # tile units
BUFFER = 64  # tile units drawn past each edge, so lines and their labels meet across tiles
MARGIN_DEG = 0.004  # land drawn around the streets' extent
KIND = {"motorway": "highway", "trunk": "major_road", "primary": "major_road", "secondary": "major_road"}
KIND |= {"tertiary": "major_road"}  # every other class is a minor road
ATTRIBUTION = "© OpenStreetMap contributors"

Street = tuple[dict[str, str], shapely.Geometry]  # (properties, line in world units 0..1)


def to_world(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator as fractions of the world square, y down (the tile grid's axes)."""
    x = (lon + 180.0) / 360.0
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0
    return x, y


def streets(graph: RoadGraph) -> list[Street]:
    """Each street segment once (one-way pairs and two-way twins alike), joined into lines per class and name."""
    groups: dict[tuple[int, int], set[tuple[int, int]]] = defaultdict(set)
    for u, v, cls, name in zip(graph.edge_u, graph.edge_v, graph.edge_class, graph.edge_name, strict=True):
        groups[int(cls), int(name)].add((min(u, v), max(u, v)))
    x, y = to_world(graph.lon, graph.lat)
    out = []
    for (cls, name), pairs in sorted(groups.items()):
        segments = shapely.multilinestrings([[(x[a], y[a]), (x[b], y[b])] for a, b in sorted(pairs)])
        props = {"kind": KIND.get(graph.classes[cls], "minor_road"), "kind_detail": graph.classes[cls]}
        if name >= 0:
            props["name"] = graph.names[name]
        out.append((props, shapely.line_merge(segments)))
    return out


def land(graph: RoadGraph) -> shapely.Geometry:
    """The rectangle around the streets, in world units: where the offline map has something to say."""
    x, y = to_world(
        np.array([graph.lon.min() - MARGIN_DEG, graph.lon.max() + MARGIN_DEG]),
        np.array([graph.lat.max() + MARGIN_DEG, graph.lat.min() - MARGIN_DEG]),
    )
    return shapely.box(x[0], y[0], x[1], y[1])


def tiles_over(area: shapely.Geometry, z: int) -> list[tuple[int, int]]:
    n = 1 << z
    minx, miny, maxx, maxy = area.bounds
    xs = range(int(minx * n), min(int(maxx * n), n - 1) + 1)
    ys = range(int(miny * n), min(int(maxy * n), n - 1) + 1)
    return [(tx, ty) for tx in xs for ty in ys]


def _in_tile(geom: shapely.Geometry, z: int, tx: int, ty: int) -> shapely.Geometry:
    scale = EXTENT * (1 << z)
    local = shapely.transform(geom, lambda c: c * scale - np.array([tx * EXTENT, ty * EXTENT]))
    return shapely.clip_by_rect(local, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)


def encode_tile(z: int, tx: int, ty: int, area: shapely.Geometry, lines: list[Street]) -> bytes:
    """One gzipped vector tile: the land, then the streets shown at this zoom."""
    roads = []
    if z >= ROADS_FROM_ZOOM:
        for props, line in lines:
            if props["kind"] == "minor_road" and z < MINOR_FROM_ZOOM:
                continue
            clipped = _in_tile(line, z, tx, ty)
            if not clipped.is_empty:
                roads.append({"geometry": clipped, "properties": props})
    layers = [{"name": "earth", "features": [{"geometry": _in_tile(area, z, tx, ty), "properties": {"kind": "earth"}}]}]
    if roads:
        layers.append({"name": "roads", "features": roads})
    data = mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True, "extents": EXTENT})
    return gzip.compress(data, mtime=0)


def build(path: Path = OUTPUT, graph: RoadGraph | None = None) -> int:
    """Write the archive (the same bytes for the same graph); return how many tiles it holds."""
    graph = graph or load_graph()
    area, lines = land(graph), streets(graph)
    tiles = {
        zxy_to_tileid(z, tx, ty): encode_tile(z, tx, ty, area, lines)
        for z in range(MAX_ZOOM + 1)
        for tx, ty in tiles_over(area, z)
    }
    with write(str(path)) as writer:
        for tile_id in sorted(tiles):
            writer.write_tile(tile_id, tiles[tile_id])
        writer.finalize(_header(graph), _metadata())
    return len(tiles)


def _header(graph: RoadGraph) -> dict:
    e7 = 10_000_000
    return {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": round((graph.lon.min() - MARGIN_DEG) * e7),
        "min_lat_e7": round((graph.lat.min() - MARGIN_DEG) * e7),
        "max_lon_e7": round((graph.lon.max() + MARGIN_DEG) * e7),
        "max_lat_e7": round((graph.lat.max() + MARGIN_DEG) * e7),
        "center_zoom": 14,
        "center_lon_e7": round(float(graph.lon.mean()) * e7),
        "center_lat_e7": round(float(graph.lat.mean()) * e7),
    }


def _metadata() -> dict:
    fields = {"kind": "String", "kind_detail": "String", "name": "String"}
    return {
        "name": "fleet demo streets",
        "description": "Central Helsinki's drivable streets from the simulators' road graph",
        "attribution": ATTRIBUTION,
        "vector_layers": [
            {"id": "earth", "fields": {"kind": "String"}, "minzoom": 0, "maxzoom": MAX_ZOOM},
            {"id": "roads", "fields": fields, "minzoom": ROADS_FROM_ZOOM, "maxzoom": MAX_ZOOM},
        ],
        "generator": "fleet.simulators.basemap",
    }
