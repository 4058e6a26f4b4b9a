"""Distances and directions on the WGS84 sphere, for scalars and numpy arrays alike (degrees in, metres out)."""

from __future__ import annotations

import math

import numpy as np

# Mean Earth radius (IUGG), metres. Along a meridian 0.001 degrees is 111.195 m.
EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180  # metres per degree of latitude (and of longitude at the equator)


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres between points or arrays of points."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def bearing_deg(lat1, lon1, lat2, lon2):
    """Initial bearing from the first point to the second, degrees clockwise from north in [0, 360)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.degrees(np.arctan2(y, x)) % 360.0


def metres_per_degree_lon(lat: float) -> float:
    """Metres per degree of longitude at latitude ``lat`` (an equirectangular projection's x scale)."""
    return M_PER_DEG * math.cos(math.radians(lat))


def destination(lat: float, lon: float, bearing: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` away from (lat, lon) along the great circle leaving at ``bearing`` degrees."""
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing)
    d = distance_m / EARTH_RADIUS_M
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0
