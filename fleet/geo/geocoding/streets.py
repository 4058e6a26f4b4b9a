"""The nearest named street to each of many points, from the ``Street`` table: one query for the streets near
the points (the cells they fall in, widened by the search distance), then a shapely STRtree per 1° tile in that
tile's own metric frame (an equirectangular projection at its centre: within a few per cent over a degree)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import shapely
from django.contrib.gis.geos import LineString, MultiPolygon, Polygon
from django.db import transaction

from fleet.core.geodesy import M_PER_DEG, metres_per_degree_lon
from fleet.geo.models import Street

CELL_DEG = 0.01  # the points' cells whose streets one query reads
BATCH = 2000  # streets saved per INSERT


def nearest_names(lat: np.ndarray, lon: np.ndarray, within_m: float) -> list[str]:
    """The name of the street nearest to each point within ``within_m`` metres, "" where none is."""
    names = [""] * len(lat)
    if not len(lat):
        return names
    streets = _streets_near(lat, lon, within_m)
    if not streets:
        return names
    street_names = [name for name, _ in streets]
    lines = [np.asarray(line.coords, dtype=float) for _, line in streets]
    tiles = np.floor(lat).astype(int) * 1000 + np.floor(lon).astype(int)
    for tile in np.unique(tiles):
        here = np.flatnonzero(tiles == tile)
        for point, street in _nearest_in_tile(lat[here], lon[here], lines, within_m):
            names[int(here[point])] = street_names[street]
    return names


def _streets_near(lat: np.ndarray, lon: np.ndarray, within_m: float) -> list[tuple[str, LineString]]:
    """(name, line) of every street that passes through a cell holding a point, the cells widened by
    ``within_m``: one query."""
    cells = np.unique(np.c_[np.floor(lat / CELL_DEG), np.floor(lon / CELL_DEG)], axis=0)
    dlat = within_m / M_PER_DEG
    boxes = []
    for row, col in cells.tolist():
        lat0, lon0 = row * CELL_DEG, col * CELL_DEG
        dlon = within_m / max(metres_per_degree_lon(min(abs(lat0), abs(lat0 + CELL_DEG)) + dlat), 1.0)
        box = (lon0 - dlon, lat0 - dlat, lon0 + CELL_DEG + dlon, lat0 + CELL_DEG + dlat)
        boxes.append(Polygon.from_bbox(box))
    area = MultiPolygon(boxes, srid=4326).unary_union  # overlapping boxes: not a valid MultiPolygon until joined
    return list(Street.objects.filter(geometry__intersects=area).order_by().values_list("name", "geometry"))


def _nearest_in_tile(
    lat: np.ndarray, lon: np.ndarray, lines: list[np.ndarray], within_m: float
) -> Iterator[tuple[int, int]]:
    """(point index, line index) of each point's nearest line within ``within_m``, in a frame at the points'
    centre (lines far from them are far in any frame)."""
    lat0, lon0 = float(lat.mean()), float(lon.mean())
    kx = metres_per_degree_lon(lat0)
    geoms = [shapely.linestrings((v[:, 0] - lon0) * kx, (v[:, 1] - lat0) * M_PER_DEG) for v in lines]
    tree = shapely.STRtree(geoms)
    points = shapely.points((lon - lon0) * kx, (lat - lat0) * M_PER_DEG)
    found = tree.query_nearest(points, max_distance=within_m, all_matches=False)
    yield from zip(found[0].tolist(), found[1].tolist(), strict=True)


def replace(source: str, streets: Iterable[tuple[str, list[tuple[float, float]]]]) -> int:
    """Replace the streets of ``source`` by ``streets`` ((name, [(lon, lat), ...]) each), in one transaction;
    lines with fewer than two distinct points or no name are skipped. Returns how many were saved."""
    saved = 0
    with transaction.atomic():
        Street.objects.filter(source=source).delete()
        batch: list[Street] = []
        for name, coords in streets:
            name = " ".join(str(name or "").split())[:200]
            points = [(float(x), float(y)) for x, y in coords]
            if not name or len(set(points)) < 2 or not all(map(math.isfinite, (c for p in points for c in p))):
                continue
            batch.append(Street(name=name, geometry=LineString(points, srid=4326), source=source))
            if len(batch) >= BATCH:
                saved += len(Street.objects.bulk_create(batch))
                batch = []
        saved += len(Street.objects.bulk_create(batch))
    return saved


class StreetFileError(ValueError):
    """A streets file fleet cannot read: the message says why."""


def geojson_streets(path: Path) -> Iterator[tuple[str, list[tuple[float, float]]]]:
    """(name, [(lon, lat), ...]) of each named LineString (each part of a MultiLineString) of a GeoJSON
    FeatureCollection whose features carry ``properties.name`` (as ogr2ogr writes OSM ways)."""
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise StreetFileError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        raise StreetFileError(f"{path} is not a GeoJSON FeatureCollection.")
    for feature in data["features"]:
        geometry = (feature or {}).get("geometry") or {}
        name = ((feature or {}).get("properties") or {}).get("name")
        parts = {"LineString": [geometry.get("coordinates")], "MultiLineString": geometry.get("coordinates")}
        for coords in parts.get(geometry.get("type")) or []:
            if name and isinstance(coords, list) and all(_position(c) for c in coords):
                yield str(name), [(c[0], c[1]) for c in coords]


def _position(value) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) >= 2
        and all(isinstance(v, int | float) and math.isfinite(v) for v in value[:2])
        and -180 <= value[0] <= 180
        and -90 <= value[1] <= 90
    )
