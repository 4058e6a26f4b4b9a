"""A device's fixes as equal-length numpy columns: what the positions store reads and the report engine uses.

Time in UTC epoch seconds, speed km/h, distances metres, fuel litres, engine hours seconds. Unknown values
are NaN in every float column, ignition included (1.0 on, 0.0 off, NaN not reported).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from fleet.tracking.attributes import flag, number

FLOAT_FIELDS = ("t", "lat", "lon", "speed", "ignition", "odometer", "fuel", "hours", "altitude", "battery")


@dataclass(eq=False)
class Track:
    """One device's fixes, sorted by time, as equal-length arrays. Only t/lat/lon/speed are required;
    omitted attributes are all unknown (NaN) and omitted ``valid`` means every fix is valid."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray
    ignition: np.ndarray | None = None
    odometer: np.ndarray | None = None
    fuel: np.ndarray | None = None
    hours: np.ndarray | None = None
    valid: np.ndarray | None = None
    altitude: np.ndarray | None = None  # metres; not used by detection, carried for map lines and GPX
    battery: np.ndarray | None = None  # per cent or volts as reported; not used by detection, for charts

    def __post_init__(self) -> None:
        n = len(self.t)
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            arr = np.full(n, np.nan) if value is None else np.asarray(value, dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"Track.{name} has shape {arr.shape}, expected ({n},)")
            setattr(self, name, arr)
        self.valid = np.ones(n, dtype=bool) if self.valid is None else np.asarray(self.valid, dtype=bool)
        if self.valid.shape != (n,):
            raise ValueError(f"Track.valid has shape {self.valid.shape}, expected ({n},)")
        if n > 1 and np.any(np.diff(self.t) < 0):
            raise ValueError("Track.t must be sorted by time")

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def empty(cls) -> Track:
        return cls(t=np.empty(0), lat=np.empty(0), lon=np.empty(0), speed=np.empty(0))

    @classmethod
    def concat(cls, tracks: list[Track]) -> Track:
        """Join time-ordered pieces (e.g. the loader's chunks) into one track."""
        if not tracks:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(tr, f.name) for tr in tracks]) for f in fields(cls)})

    def between(self, start: float, end: float) -> Track:
        """The fixes with start <= t < end (a view-free copy)."""
        lo, hi = np.searchsorted(self.t, [start, end], side="left")
        return Track(**{f.name: getattr(self, f.name)[lo:hi].copy() for f in fields(self)})


def attribute_values(ignition, odometer, fuel, hours, battery_level, battery) -> tuple[float, ...]:
    """The attribute columns of one fix (ignition 1 / 0, odometer, fuel, engine hours, battery: battery_level
    when it is a number, else battery) from its attribute values, NaN where unknown, by the coercion's rules:
    the slow path for rows stored before ingest coerced attributes."""
    on = flag(ignition)
    level = number(battery_level)
    values = (number(odometer), number(fuel), number(hours), level if level is not None else number(battery))
    return (math.nan if on is None else float(on), *(math.nan if v is None else v for v in values))
