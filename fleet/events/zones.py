"""The event engine's spatial part: an organisation's geofences, POIs and task destinations as zones in one
STRtree, asked for a whole batch of fixes at once which zones hold each fix, which are too near to tell given
the fix's accuracy, and which a segment between two fixes passes through. Pure: no Django, so the bench and the
tests build it from plain shapes.

Each zone keeps a local metric frame (an equirectangular projection at its own centre, as
``fleet.geo.shapes.segments_distance_m`` uses): polygons and corridor lines are GEOS geometries in metres there,
so containment, distances and crossings for all (fix, zone) pairs of a batch are single vectorised GEOS calls;
circles use the distance to their centre in that frame too (within 0.02 % of the great-circle distance at a few
km), so a fix and the segments through it are inside or outside by one measure."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import shapely

from fleet.core.geodesy import M_PER_DEG
from fleet.geo.calendar import Calendar
from fleet.geo.shapes import Circle, Corridor, Polygon, Shape

GEOFENCE, POI, TASK = "geofence", "poi", "task"
ACCURACY_CAP_M = 200.0  # a fix's accuracy beyond this does not widen the uncertain band further
POLYGON, CIRCLE, CORRIDOR = 0, 1, 2


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

    def applies(self, device: int) -> bool:
        return self.devices is None or device in self.devices

    def active(self, t: float) -> bool:
        return self.calendar is None or bool(self.calendar.active(np.array([t]))[0])


def _frame(shape: Shape) -> tuple[float, float]:
    """(lon0, lat0) of the shape's local frame."""
    if isinstance(shape, Circle):
        return shape.lon, shape.lat
    vertices = shape.line if isinstance(shape, Corridor) else np.concatenate(shape.rings)
    return float(vertices[:, 0].mean()), float(vertices[:, 1].mean())


def _metric(shape: Shape, lon0: float, lat0: float, kx: float) -> shapely.Geometry:
    def local(v: np.ndarray) -> np.ndarray:
        return np.c_[(v[:, 0] - lon0) * kx, (v[:, 1] - lat0) * M_PER_DEG]

    if isinstance(shape, Polygon):  # every ring by the even-odd rule, as shapes.polygon_contains reads them
        rings = [shapely.make_valid(shapely.polygons(local(r))) for r in shape.rings]
        return functools.reduce(shapely.symmetric_difference, rings)
    if isinstance(shape, Corridor):
        return shapely.linestrings(local(shape.line))
    return shapely.points(0.0, 0.0)  # a circle: its centre


class ZoneIndex:
    def __init__(self, zones: list[Zone]) -> None:
        self.zones = zones
        self.by_key = {z.key: k for k, z in enumerate(zones)}
        n = len(zones)
        self.kind = np.array(
            [
                CIRCLE if isinstance(z.shape, Circle) else CORRIDOR if isinstance(z.shape, Corridor) else POLYGON
                for z in zones
            ],
            dtype=np.int8,
        )
        frames = np.array([_frame(z.shape) for z in zones]).reshape(n, 2)
        self.lon0, self.lat0 = frames[:, 0], frames[:, 1]
        self.kx = M_PER_DEG * np.cos(np.radians(self.lat0))
        self.size = np.array([_size(z.shape) for z in zones], dtype=float)  # radius / half width / 0
        self.geom = np.array([_metric(z.shape, *frames[k], self.kx[k]) for k, z in enumerate(zones)], dtype=object)
        boxes = [z.shape.bbox() for z in zones]  # (lat lo, lat hi, lon lo, lon hi)
        self.tree = shapely.STRtree([shapely.box(b[2], b[0], b[3], b[1]) for b in boxes])
        self._areas: dict[int, shapely.Geometry] = {}

    def __len__(self) -> int:
        return len(self.zones)

    def _local(self, zone: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (lon - self.lon0[zone]) * self.kx[zone], (lat - self.lat0[zone]) * M_PER_DEG

    def locate(
        self, lat: np.ndarray, lon: np.ndarray, accuracy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fix index, zone index, where) for every fix near a zone: ``where`` is -1 inside, 0 outside by less
        than the fix's accuracy (cannot tell), 1 outside. Pairs sorted by fix index."""
        empty = np.empty(0, dtype=np.intp)
        if not len(self.zones) or not len(lat):
            return empty, empty, np.empty(0, dtype=np.int8)
        acc = np.minimum(np.nan_to_num(accuracy, nan=0.0), ACCURACY_CAP_M)
        dlat = acc / M_PER_DEG
        dlon = acc / (M_PER_DEG * np.maximum(np.cos(np.radians(lat)), 1e-6))
        fix, zone = self.tree.query(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
        order = np.lexsort((zone, fix))
        fix, zone = fix[order], zone[order]
        d = self._inside_or_distance(zone, lat[fix], lon[fix], acc[fix])
        where = np.where(d <= 0, -1, np.where(d <= acc[fix], 0, 1)).astype(np.int8)
        return fix, zone, where

    def _inside_or_distance(self, zone, lat, lon, acc) -> np.ndarray:
        """-1 for a fix inside its zone, else its distance (computed only where an accuracy may need it)."""
        out = np.ones(len(zone))
        kind = self.kind[zone]
        circ = kind == CIRCLE
        if circ.any():  # in the zone's local frame, as ``passages`` measures the segments through it
            z = zone[circ]
            x, y = self._local(z, lat[circ], lon[circ])
            out[circ] = np.hypot(x, y) - self.size[z]
        for k, test in ((POLYGON, shapely.intersects), (CORRIDOR, None)):
            pick = kind == k
            if not pick.any():
                continue
            z = zone[pick]
            x, y = self._local(z, lat[pick], lon[pick])
            points = shapely.points(x, y)
            if test is None:  # corridor: distance to the line within the half width
                out[pick] = shapely.distance(self.geom[z], points) - self.size[z]
                continue
            inside = test(self.geom[z], points)
            part = np.where(inside, -1.0, 1e9)
            near = ~inside & (acc[pick] > 0)
            if near.any():
                part[near] = shapely.distance(self.geom[z[near]], points[near])
            out[pick] = part
        return np.where(out <= 0, -1.0, out)

    def crossings(self, lat0, lon0, lat1, lon1, skip=None) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, zone index) of every segment (arrays of its ends) that meets a zone; ``skip(seg,
        zone)`` may drop candidates (a boolean mask) before the exact test."""
        empty = np.empty(0, dtype=np.intp)
        if not len(self.zones) or not len(lat0):
            return empty, empty
        boxes = shapely.box(
            np.minimum(lon0, lon1), np.minimum(lat0, lat1), np.maximum(lon0, lon1), np.maximum(lat0, lat1)
        )
        seg, zone = self.tree.query(boxes)
        if skip is not None and len(seg):
            keep = ~skip(seg, zone)
            seg, zone = seg[keep], zone[keep]
        if not len(seg):
            return empty, empty
        ax, ay = self._local(zone, lat0[seg], lon0[seg])
        bx, by = self._local(zone, lat1[seg], lon1[seg])
        local = shapely.linestrings(np.stack([np.c_[ax, ay], np.c_[bx, by]], axis=1))
        reach = shapely.distance(self.geom[zone], local) <= self.size[zone]  # polygons: size 0, distance 0 if met
        return seg[reach], zone[reach]

    def passages(self, zone, lat0, lon0, lat1, lon1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For segments (arrays of their ends, both outside their zone), where each enters and leaves its zone as
        fractions of its length, and whether it passes through at all. Circles in closed form; polygons and
        corridors (as their buffered outline, made once per corridor) by a vectorised intersection."""
        n = len(zone)
        f0, f1, ok = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
        if not n:
            return f0, f1, ok
        ax, ay = self._local(zone, lat0, lon0)
        bx, by = self._local(zone, lat1, lon1)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        circ = self.kind[zone] == CIRCLE
        if circ.any():  # |a + s (b - a)| = r
            r = self.size[zone[circ]]
            qa, qb = length2[circ], 2 * (ax[circ] * dx[circ] + ay[circ] * dy[circ])
            qc = ax[circ] ** 2 + ay[circ] ** 2 - r * r
            disc = qb * qb - 4 * qa * qc
            with np.errstate(invalid="ignore", divide="ignore"):
                root = np.sqrt(np.maximum(disc, 0))
                s0, s1 = (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)
            f0[circ], f1[circ] = np.clip(s0, 0, 1), np.clip(s1, 0, 1)
            ok[circ] = (disc > 0) & (qa > 0) & (s1 > 0) & (s0 < 1)
        rest = np.flatnonzero(~circ)
        if len(rest):
            areas = np.array([self._area(int(z)) for z in zone[rest]], dtype=object)
            lines = shapely.linestrings(np.stack([np.c_[ax[rest], ay[rest]], np.c_[bx[rest], by[rest]]], axis=1))
            hits = shapely.intersection(lines, areas)
            coords, which = shapely.get_coordinates(hits, return_index=True)
            if len(which):
                k = rest[which]
                frac = ((coords[:, 0] - ax[k]) * dx[k] + (coords[:, 1] - ay[k]) * dy[k]) / length2[k]
                lo, hi = np.full(len(rest), np.inf), np.full(len(rest), -np.inf)
                np.minimum.at(lo, which, frac)
                np.maximum.at(hi, which, frac)
                got = hi > lo
                f0[rest[got]], f1[rest[got]], ok[rest[got]] = np.clip(lo[got], 0, 1), np.clip(hi[got], 0, 1), True
        return f0, f1, ok

    def _area(self, zone: int) -> shapely.Geometry:
        """A polygon's geometry, or a corridor's buffered outline (made on first use)."""
        if self.kind[zone] == POLYGON:
            return self.geom[zone]
        cached = self._areas.get(zone)
        if cached is None:
            cached = self._areas[zone] = shapely.buffer(self.geom[zone], self.size[zone], quad_segs=8)
        return cached


def _size(shape: Shape) -> float:
    if isinstance(shape, Circle):
        return shape.radius_m
    if isinstance(shape, Corridor):
        return shape.half_width_m
    return 0.0
