"""The event engine's spatial part: an organisation's geofences, POIs and task destinations as zones in one
STRtree of their bounding boxes, asked for a whole batch of fixes at once which zones hold each fix (exactly,
by ``fleet.geo.shapes``), which are too near to tell given the fix's accuracy, and which a segment between two
fixes passes through. Pure: no Django, so the bench and the tests build it from plain shapes."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import shapely

from fleet.core.geodesy import M_PER_DEG, haversine_m, metres_per_degree_lon
from fleet.geo.calendar import Calendar
from fleet.geo.shapes import Circle, Corridor, Polygon, Shape

GEOFENCE, POI, TASK = "geofence", "poi", "task"
ACCURACY_CAP_M = 200.0  # a fix's accuracy beyond this does not widen the uncertain band further
CIRCLE_SIDES = 64  # the polygon that stands for a circle when a segment is tested against it


@dataclass(eq=False)
class Zone:
    key: str  # "geofence:3", "poi:7", "task:12": the Event key of its events
    kind: str  # GEOFENCE, POI or TASK
    pk: int
    name: str
    shape: Shape
    dwell_s: float = 0.0
    speed_limit_kmh: float | None = None
    calendar: Calendar | None = None
    devices: frozenset[int] | None = None  # device pks it applies to; None: every device
    _outline: shapely.Geometry | None = field(default=None, repr=False)

    def applies(self, device: int) -> bool:
        return self.devices is None or device in self.devices

    def active(self, t: float) -> bool:
        return self.calendar is None or bool(self.calendar.active(np.array([t]))[0])

    def outline(self) -> shapely.Geometry:
        """The zone as a lon/lat shapely polygon (a circle or a corridor approximated in a local metric
        projection), for segments that may cross it."""
        if self._outline is None:
            self._outline = _outline(self.shape)
        return self._outline


def _outline(shape: Shape) -> shapely.Geometry:
    if isinstance(shape, Polygon):  # every ring by the even-odd rule, as shapes.polygon_contains reads them
        return functools.reduce(
            shapely.symmetric_difference, [shapely.make_valid(shapely.polygons(r)) for r in shape.rings]
        )
    if isinstance(shape, Circle):
        kx = metres_per_degree_lon(shape.lat)
        a = np.linspace(0, 2 * math.pi, CIRCLE_SIDES, endpoint=False)
        ring = np.c_[shape.lon + shape.radius_m * np.cos(a) / kx, shape.lat + shape.radius_m * np.sin(a) / M_PER_DEG]
        return shapely.polygons(ring)
    if isinstance(shape, Corridor):
        lon0, lat0 = float(shape.line[:, 0].mean()), float(shape.line[:, 1].mean())
        kx = metres_per_degree_lon(lat0)
        local = shapely.linestrings((shape.line[:, 0] - lon0) * kx, (shape.line[:, 1] - lat0) * M_PER_DEG)
        buffered = shapely.buffer(local, shape.half_width_m, quad_segs=8)
        return shapely.transform(buffered, lambda xy: np.c_[xy[:, 0] / kx + lon0, xy[:, 1] / M_PER_DEG + lat0])
    raise TypeError(f"no outline for {type(shape).__name__}")


class ZoneIndex:
    """Zones in an STRtree of their boxes, each widened by ``ACCURACY_CAP_M`` so a fix near the edge is found."""

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = zones
        self.by_key = {z.key: k for k, z in enumerate(zones)}
        boxes = [z.shape.bbox(ACCURACY_CAP_M) for z in zones]  # (lat lo, lat hi, lon lo, lon hi)
        self.tree = shapely.STRtree([shapely.box(b[2], b[0], b[3], b[1]) for b in boxes])
        circles = [(k, z.shape) for k, z in enumerate(zones) if isinstance(z.shape, Circle)]
        self._circle = np.zeros(len(zones), dtype=bool)
        self._clat, self._clon, self._crad = np.zeros(len(zones)), np.zeros(len(zones)), np.zeros(len(zones))
        for k, c in circles:
            self._circle[k], self._clat[k], self._clon[k], self._crad[k] = True, c.lat, c.lon, c.radius_m

    def __len__(self) -> int:
        return len(self.zones)

    def locate(
        self, lat: np.ndarray, lon: np.ndarray, accuracy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fix index, zone index, where) for every fix near a zone: ``where`` is -1 inside, 0 outside by less
        than the fix's accuracy (cannot tell), 1 outside. Pairs sorted by fix index."""
        if not len(self.zones) or not len(lat):
            empty = np.empty(0, dtype=np.intp)
            return empty, empty, np.empty(0, dtype=np.int8)
        fix, zone = self.tree.query(shapely.points(lon, lat))
        order = np.lexsort((zone, fix))
        fix, zone = fix[order], zone[order]
        inside = np.zeros(len(fix), dtype=bool)
        circ = self._circle[zone]
        if circ.any():
            d = haversine_m(self._clat[zone[circ]], self._clon[zone[circ]], lat[fix[circ]], lon[fix[circ]])
            inside[circ] = d <= self._crad[zone[circ]]
        rest = np.flatnonzero(~circ)
        if len(rest):
            by_zone = rest[np.argsort(zone[rest], kind="stable")]
            bounds = np.flatnonzero(np.diff(zone[by_zone])) + 1
            for group in np.split(by_zone, bounds):
                shape = self.zones[zone[group[0]]].shape
                inside[group] = shape.contains(lat[fix[group]], lon[fix[group]])
        where = np.where(inside, -1, 1).astype(np.int8)
        acc = np.minimum(np.nan_to_num(accuracy[fix], nan=0.0), ACCURACY_CAP_M)
        unsure = np.flatnonzero(~inside & (acc > 0))
        for k in unsure:  # rare: a fix with an accuracy, outside a zone whose box holds it
            z = self.zones[zone[k]]
            if z.shape.distance_m(lat[fix[k] : fix[k] + 1], lon[fix[k] : fix[k] + 1])[0] <= acc[k]:
                where[k] = 0
        return fix, zone, where

    def crossings(self, lat0, lon0, lat1, lon1) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, zone index) of every segment (arrays of its ends) whose box meets a zone's box."""
        if not len(self.zones) or not len(lat0):
            empty = np.empty(0, dtype=np.intp)
            return empty, empty
        lines = shapely.linestrings(np.stack([np.c_[lon0, lat0], np.c_[lon1, lat1]], axis=1))
        return self.tree.query(lines)

    def passage(self, zone: int, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float] | None:
        """Where the segment a -> b ((lat, lon) ends, both outside the zone) enters and leaves it, as
        fractions of its length, or None if it does not pass through."""
        line = shapely.LineString([(a[1], a[0]), (b[1], b[0])])
        hit = shapely.intersection(line, self.zones[zone].outline())
        if hit.is_empty or hit.length == 0:
            return None
        coords = np.asarray([c for part in getattr(hit, "geoms", [hit]) for c in part.coords])
        along = [line.project(shapely.Point(c), normalized=True) for c in coords]
        return min(along), max(along)
