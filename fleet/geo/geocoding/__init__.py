"""Addresses for points, behind one interface (docs/geocoding.md): ``addresses(organization, points)`` for a
batch, ``address(organization, lat, lon)`` for one. First answer wins:

1. inside one of the organisation's geofences: "Inside Depot North" (the smallest when several hold it);
2. at one of its POIs, within the POI's radius: "At Kesko Kamppi" (the nearest);
3. the configured provider's answer, from the database cache only (misses are queued for a Celery task);
4. the nearest named street within STREET_M: "Near Mannerheimintie";
5. "" (pages then show the coordinates).

No request here ever waits for the network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fleet.core.geodesy import haversine_m
from fleet.geo.geocoding import cache, streets
from fleet.geo.shapes import Circle, Place, place_from_geofence, place_from_poi

STREET_M = 150.0


def address(organization, lat: float | None, lon: float | None, fetch: bool = True) -> str:
    return addresses(organization, [(lat, lon)], fetch=fetch)[0]


def addresses(organization, points: Sequence[tuple[float | None, float | None]], fetch: bool = True) -> list[str]:
    """One text per (lat, lon) point ("" for a point with unknown or impossible coordinates, or nothing known
    there). ``fetch=False`` queues no provider request for the points the cache misses (the route report's
    every fix would flood the provider's queue)."""
    out = [""] * len(points)
    lat, lon, ok = _coordinates(points)
    todo = np.flatnonzero(ok)
    if not len(todo):
        return out
    named = places_at(organization, lat[todo], lon[todo])
    _fill(out, todo, named)
    todo = todo[[not text for text in named]]
    _fill(out, todo, cache.answers(lat[todo], lon[todo], queue=fetch))
    todo = np.array([i for i in todo.tolist() if not out[i]], dtype=int)
    near = streets.nearest_names(lat[todo], lon[todo], STREET_M)
    _fill(out, todo, [f"Near {name}" if name else "" for name in near])
    return out


def last_address(device) -> str:
    """Where the device's last fix is, in words: the vendor's own address when it sent one, else fleet's."""
    if device.last_fix_time is None or device.last_latitude is None:
        return ""
    vendor = (device.last_attributes or {}).get("address")
    if isinstance(vendor, str) and vendor.strip():
        return " ".join(vendor.split())[:300]
    return address(device.organization, device.last_latitude, device.last_longitude)


def places_at(organization, lat: np.ndarray, lon: np.ndarray) -> list[str]:
    """ "Inside <geofence>" or "At <POI>" for each point, "" where neither: the organisation's own places only."""
    fences, pois = _places(organization)
    out = [""] * len(lat)
    best = np.full(len(lat), np.inf)
    for place in fences:
        inside = place.contains(lat, lon) & (_area(place) < best)
        for i in np.flatnonzero(inside).tolist():
            out[i] = f"Inside {place.name}"
        best[inside] = _area(place)
    open_ = np.array([not text for text in out], dtype=bool)
    nearest = np.full(len(lat), np.inf)
    for place in pois:
        circle: Circle = place.shape
        distance = haversine_m(circle.lat, circle.lon, lat, lon)
        at = open_ & place.contains(lat, lon) & (distance < nearest)
        for i in np.flatnonzero(at).tolist():
            out[i] = f"At {place.name}"
        nearest[at] = distance[at]
    return out


def _places(organization) -> tuple[list[Place], list[Place]]:
    """The organisation's geofences (not retired, with a usable shape) and POIs: two queries."""
    from fleet.geo.models import POI, Geofence

    fences = Geofence.objects.filter(organization=organization, retired__isnull=True)
    fences = fences.only("pk", "name", "kind", "geometry", "radius_m", "width_m", "calendar")
    found = [place_from_geofence(g) for g in fences]
    pois = POI.objects.filter(organization=organization).only("pk", "name", "point", "radius_m")
    return [p for p in found if p is not None], [place_from_poi(p) for p in pois]


def _area(place: Place) -> float:
    """The size of a place's bounding box (degrees²): the smaller of two geofences holding a point names it."""
    lat_lo, lat_hi, lon_lo, lon_hi = place.box
    return (lat_hi - lat_lo) * (lon_hi - lon_lo)


def _coordinates(points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, usable) arrays: None, NaN and out-of-range coordinates are not usable."""
    raw = np.array([(_num(p[0]), _num(p[1])) for p in points], dtype=float).reshape(-1, 2)
    lat, lon = raw[:, 0], raw[:, 1]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    return np.where(ok, lat, 0.0), np.where(ok, lon, 0.0), ok


def _num(value) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def _fill(out: list[str], indices: np.ndarray, texts: Sequence[str]) -> None:
    for i, text in zip(indices.tolist(), texts, strict=True):
        if text:
            out[i] = text
