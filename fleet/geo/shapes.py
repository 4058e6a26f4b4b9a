"""Geofences and POIs as shapes that answer "inside?" and "how far?" for arrays of fixes at once.

Polygons (holes and multipolygons by the even-odd rule, in lon/lat degrees), circles (haversine distance to
the centre) and corridors (distance to the nearest segment of a line in a local metric projection). Each
``Place`` checks a bounding box first, so fixes far away cost one comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleet.core.geodesy import M_PER_DEG, haversine_m, metres_per_degree_lon
from fleet.geo import calendar
from fleet.geo.calendar import Calendar

GEOFENCE, POI_KIND = "geofence", "POI"


def polygon_contains(rings: list[np.ndarray], lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Ray casting (even-odd) over the edges of every ring (arrays of (lon, lat) vertices, closed or not)."""
    inside = np.zeros(len(lat), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for ring in rings:
            x1, y1 = ring[:, 0], ring[:, 1]
            x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
            for ax, ay, bx, by in zip(x1.tolist(), y1.tolist(), x2.tolist(), y2.tolist(), strict=True):
                if ay == by:
                    continue  # a horizontal edge never crosses the ray
                crosses = (ay > lat) != (by > lat)
                inside ^= crosses & (lon < ax + (lat - ay) * (bx - ax) / (by - ay))
    return inside


def circle_contains(lat0: float, lon0: float, radius_m: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return haversine_m(lat0, lon0, lat, lon) <= radius_m


def segments_distance_m(vertices: np.ndarray, lat: np.ndarray, lon: np.ndarray, closed: bool = False) -> np.ndarray:
    """Metres from each fix to the nearest segment of the polyline ``vertices`` ((lon, lat) rows; ``closed``
    adds the segment from the last vertex back to the first), in an equirectangular projection centred on
    the line: exact enough over a few tens of kilometres."""
    lon0, lat0 = float(vertices[:, 0].mean()), float(vertices[:, 1].mean())
    kx = metres_per_degree_lon(lat0)
    px, py = (lon - lon0) * kx, (lat - lat0) * M_PER_DEG
    vx, vy = (vertices[:, 0] - lon0) * kx, (vertices[:, 1] - lat0) * M_PER_DEG
    if closed:
        vx, vy = np.r_[vx, vx[:1]], np.r_[vy, vy[:1]]
    best = np.full(len(lat), np.inf)
    for ax, ay, bx, by in zip(vx[:-1].tolist(), vy[:-1].tolist(), vx[1:].tolist(), vy[1:].tolist(), strict=True):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        k = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0) if length2 else 0.0
        best = np.minimum(best, np.hypot(px - ax - k * dx, py - ay - k * dy))
    return best


def corridor_contains(line: np.ndarray, half_width_m: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Within ``half_width_m`` of the polyline ``line`` ((lon, lat) vertices)."""
    return segments_distance_m(line, lat, lon) <= half_width_m


class Shape:
    """A polygon, circle or corridor: containment and signed distance for arrays of fixes."""

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def distance_m(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Metres from the boundary: negative inside, positive outside."""
        raise NotImplementedError

    def bbox(self, margin_m: float = 0.0) -> tuple[float, float, float, float]:
        """(min lat, max lat, min lon, max lon) of the shape, widened by ``margin_m``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Circle(Shape):
    lat: float
    lon: float
    radius_m: float

    def contains(self, lat, lon):
        return circle_contains(self.lat, self.lon, self.radius_m, lat, lon)

    def distance_m(self, lat, lon):
        return haversine_m(self.lat, self.lon, lat, lon) - self.radius_m

    def bbox(self, margin_m=0.0):
        return _bbox([self.lon], [self.lat], self.radius_m + margin_m)


@dataclass(frozen=True, eq=False)
class Corridor(Shape):
    line: np.ndarray  # (lon, lat) vertices
    half_width_m: float

    def contains(self, lat, lon):
        return corridor_contains(self.line, self.half_width_m, lat, lon)

    def distance_m(self, lat, lon):
        return segments_distance_m(self.line, lat, lon) - self.half_width_m

    def bbox(self, margin_m=0.0):
        return _bbox(self.line[:, 0], self.line[:, 1], self.half_width_m + margin_m)


@dataclass(frozen=True, eq=False)
class Polygon(Shape):
    rings: list[np.ndarray]  # (lon, lat) vertices of every ring of every polygon

    def contains(self, lat, lon):
        return polygon_contains(self.rings, lat, lon)

    def distance_m(self, lat, lon):
        nearest = np.min([segments_distance_m(ring, lat, lon, closed=True) for ring in self.rings], axis=0)
        return np.where(self.contains(lat, lon), -nearest, nearest)

    def bbox(self, margin_m=0.0):
        outer = np.concatenate(self.rings)
        return _bbox(outer[:, 0], outer[:, 1], margin_m)


def _bbox(lons, lats, margin_m: float) -> tuple[float, float, float, float]:
    lat_lo, lat_hi = float(np.min(lats)), float(np.max(lats))
    dlat = margin_m / M_PER_DEG
    cos = max(math.cos(math.radians(max(abs(lat_lo), abs(lat_hi)) + dlat)), 1e-6)
    dlon = margin_m / (M_PER_DEG * cos)
    return lat_lo - dlat, lat_hi + dlat, float(np.min(lons)) - dlon, float(np.max(lons)) + dlon


@dataclass(eq=False)
class Place:
    """A geofence or POI ready for vectorised tests over arrays of fixes."""

    key: str  # "geofence:3", "poi:7"
    name: str
    kind: str  # GEOFENCE or POI_KIND
    shape: Shape
    calendar: Calendar | None = None  # a geofence is there only while its calendar is active

    def __post_init__(self) -> None:
        self.box = self.shape.bbox()

    def contains(self, lat: np.ndarray, lon: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
        """Inside, for fixes at ``lat`` / ``lon`` (and, with a calendar, at epoch seconds ``t``: inside only while
        it is active)."""
        lat_lo, lat_hi, lon_lo, lon_hi = self.box
        near = (lat >= lat_lo) & (lat <= lat_hi) & (lon >= lon_lo) & (lon <= lon_hi)
        inside = np.zeros(len(lat), dtype=bool)
        if near.any():
            inside[near] = self.shape.contains(lat[near], lon[near])
        if self.calendar is not None and t is not None and inside.any():
            inside[inside] = self.calendar.active(np.asarray(t)[inside])
        return inside

    def distance_m(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        return self.shape.distance_m(lat, lon)


def geofence_shape(geofence) -> Shape | None:
    """The shape of a Geofence (GEOS: x = longitude, y = latitude), or None if it is unusable."""
    geometry = geofence.geometry
    if geometry is None or geometry.empty:
        return None
    kind = geofence.kind
    if kind == "circle" and geometry.geom_type == "Point" and (geofence.radius_m or 0) > 0:
        return Circle(geometry.y, geometry.x, float(geofence.radius_m))
    if kind == "corridor" and geometry.geom_type == "LineString" and (geofence.width_m or 0) > 0:
        return Corridor(np.asarray(geometry.coords, dtype=float), float(geofence.width_m) / 2)
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        polygons = [geometry] if geometry.geom_type == "Polygon" else list(geometry)
        return Polygon([np.asarray(ring.coords, dtype=float) for polygon in polygons for ring in polygon])
    return None


def place_from_geofence(geofence, zone: str = "UTC") -> Place | None:
    """The geofence as a place with its calendar (floating times in ``zone``; an unusable calendar: always)."""
    shape = geofence_shape(geofence)
    if shape is None:
        return None
    try:
        active = calendar.parse(geofence.calendar, zone)
    except calendar.CalendarError:
        active = None
    return Place(f"geofence:{geofence.pk}", geofence.name, GEOFENCE, shape, active)


def place_from_poi(poi) -> Place:
    return Place(f"poi:{poi.pk}", poi.name, POI_KIND, Circle(poi.point.y, poi.point.x, float(poi.radius_m)))


def places(organization, geofence_id: int | None = None, poi_id: int | None = None) -> tuple[list[Place], list]:
    """The organisation's geofences and POIs as places (only the one geofence and / or POI when given), and
    the geofences skipped for having no usable shape."""
    from fleet.geo.models import POI, Geofence

    geofences = Geofence.objects.filter(organization=organization)
    pois = POI.objects.filter(organization=organization)
    if geofence_id or poi_id:
        geofences = geofences.filter(pk=geofence_id) if geofence_id else geofences.none()
        pois = pois.filter(pk=poi_id) if poi_id else pois.none()
    found, skipped = [], []
    for geofence in geofences:
        place = place_from_geofence(geofence, getattr(organization, "timezone", "UTC"))
        if place is None:
            skipped.append(geofence)
        else:
            found.append(place)
    return found + [place_from_poi(poi) for poi in pois], skipped
