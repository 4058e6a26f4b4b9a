"""Geometry from outside (a vendor's WKT, an upload) checked before it is stored: readable, the shape its kind
needs, inside the coordinate ranges, rings closed, and valid (repaired when the repair leaves one shape)."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry

SHAPES = {"polygon": ("Polygon", "MultiPolygon"), "circle": ("Point",), "corridor": ("LineString",)}
WKT = re.compile(r"^\s*(SRID=\d+;\s*)?(POINT|LINESTRING|POLYGON|MULTIPOLYGON)\s*\(", re.I)
_RING = re.compile(r"\(([^()]+)\)")


def close_rings(wkt: str) -> str:
    """A polygon's WKT with every ring ending where it starts (vendors send rings left open)."""
    if not wkt.lstrip().upper().startswith(("POLYGON", "MULTIPOLYGON")):
        return wkt

    def closed(match: re.Match) -> str:
        points = [p.strip() for p in match.group(1).split(",")]
        if len(points) >= 3 and points[0].split() != points[-1].split():
            points.append(points[0])
        return "(" + ", ".join(points) + ")"

    return _RING.sub(closed, wkt)


def checked_wkt(kind: str, wkt: object) -> tuple[str, str | None]:
    """(WKT to store, None), or ("", the reason the shape is refused). x is longitude, y latitude."""
    if not isinstance(wkt, str) or not wkt.strip():
        return "", "area: missing"
    if not WKT.match(wkt):  # GEOS would hand other text (GeoJSON, hex WKB) to other readers
        return "", "area: not WKT"
    try:
        shape = GEOSGeometry(close_rings(wkt), srid=4326)
    except (GEOSException, GDALException, ValueError, TypeError):
        return "", "area: not WKT"
    if shape.geom_type not in SHAPES.get(kind, ()):
        return "", f"area: a {kind} needs a {' or '.join(SHAPES.get(kind, ('known kind',)))}, not a {shape.geom_type}"
    if shape.empty:
        return "", "area: empty"
    if kind == "corridor" and shape.num_points < 2:
        return "", "area: a corridor needs two points"
    x0, y0, x1, y1 = shape.extent
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        return "", "area: coordinates out of range"
    with _quiet_geos():  # GEOS logs every self-intersection it finds: here it is an answer, not news
        valid = shape.valid
    if not valid:
        repaired = shape.make_valid()
        if repaired.geom_type != shape.geom_type or repaired.empty:
            return "", "area: self-intersecting"
        shape = repaired
    return shape.wkt, None


@contextmanager
def _quiet_geos():
    geos = logging.getLogger("django.contrib.gis")
    level = geos.level
    geos.setLevel(logging.ERROR)
    try:
        yield
    finally:
        geos.setLevel(level)
