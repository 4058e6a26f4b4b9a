"""Building blocks for event-engine tests: zones in metres around a point, and fixes of one device."""

import numpy as np

from fleet.core.geodesy import M_PER_DEG, metres_per_degree_lon
from fleet.events import engine
from fleet.events.zones import GEOFENCE, Zone
from fleet.geo.shapes import Circle, Corridor, Polygon

LAT0, LON0 = 60.17, 24.94  # Helsinki
KX = metres_per_degree_lon(LAT0)
T0 = 1_780_000_000.0


def at(x_m: float, y_m: float) -> tuple[float, float]:
    """(lat, lon) of the point x metres east and y metres north of the origin."""
    return LAT0 + y_m / M_PER_DEG, LON0 + x_m / KX


def square(pk: int, x0: float, y0: float, x1: float, y1: float, **kw) -> Zone:
    corners = [at(x0, y0), at(x1, y0), at(x1, y1), at(x0, y1), at(x0, y0)]
    ring = np.array([(lon, lat) for lat, lon in corners])
    return Zone(f"geofence:{pk}", GEOFENCE, pk, f"Square {pk}", Polygon([ring]), **kw)


def circle(pk: int, x: float, y: float, r: float, kind: str = GEOFENCE, **kw) -> Zone:
    lat, lon = at(x, y)
    return Zone(f"{kind}:{pk}", kind, pk, f"Circle {pk}", Circle(lat, lon, r), **kw)


def corridor(pk: int, points: list[tuple[float, float]], width: float, **kw) -> Zone:
    line = np.array([(at(x, y)[1], at(x, y)[0]) for x, y in points])
    return Zone(f"geofence:{pk}", GEOFENCE, pk, f"Corridor {pk}", Corridor(line, width / 2), **kw)


def fixes(points, device: int = 1, step_s: float = 10.0, t0: float = T0, **columns) -> engine.Fixes:
    """Fixes at ``points`` ((x, y) metres), one every ``step_s`` (or at ``times``), with optional columns."""
    n = len(points)
    t = np.asarray(columns.pop("times", [t0 + k * step_s for k in range(n)]), dtype=float)
    lat = np.array([at(x, y)[0] for x, y in points])
    lon = np.array([at(x, y)[1] for x, y in points])

    def col(name, default):
        value = columns.get(name)
        return np.full(n, default, dtype=float) if value is None else np.asarray(value, dtype=float)

    return engine.Fixes(
        device=np.full(n, device, dtype=np.int64),
        t=t,
        lat=lat,
        lon=lon,
        speed=col("speed", 30.0),
        accuracy=col("accuracy", np.nan),
        ignition=col("ignition", np.nan),
        battery=col("battery", np.nan),
        pid=np.arange(1, n + 1, dtype=np.int64),
    )


def run(zones, batch, states=None, rules=None):
    from fleet.events.zones import ZoneIndex

    found, new = engine.evaluate(ZoneIndex(zones), batch, states or {}, lambda d: rules or engine.Rules())
    return found, new


def kinds(found) -> list[tuple[str, float]]:
    """(type, seconds after T0) of each event, in time order."""
    return sorted(((f.type, round(f.t - T0, 3)) for f in found), key=lambda e: (e[1], e[0]))
