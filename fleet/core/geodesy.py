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
