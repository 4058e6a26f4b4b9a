"""The engine's inputs: a device's track as numpy arrays, and the organisation's report parameters.

Units (ARCHITECTURE.md): time in UTC epoch seconds (float64), speed km/h, distance metres, fuel litres,
engine hours in seconds. Unknown values are NaN in every float array, ignition included: ``ignition`` is
float64 with 1.0 = on, 0.0 = off, NaN = not reported (one dtype for every attribute keeps the arithmetic
uniform and lets missing attributes default to all-NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

FLOAT_FIELDS = ("t", "lat", "lon", "speed", "ignition", "odometer", "fuel", "hours", "altitude", "battery")


@dataclass(frozen=True)
class Params:
    """Report parameters. Defaults are Traccar's (report.trip.* / event.motion.* in its default.xml)."""

    min_trip_distance_m: float = 500.0
    min_trip_duration_s: float = 300.0
    min_parking_duration_s: float = 300.0
    min_no_data_gap_s: float = 3600.0
    speed_threshold_kmh: float = 1.852
    use_ignition: bool = True
    # fleet's own knobs (require_both is the organisation's trip_needs_distance_and_duration):
    # True: a movement is a trip only if it is long enough in distance AND in time (parked jitter that
    # drifts for minutes never becomes a trip). False: Traccar's rule, either one suffices
    # (MotionProcessor.updateState: ``duration >= minimalTripDuration || distance >= minimalTripDistance``).
    require_both: bool = True
    # A trip must take the vehicle at least this far (straight line from where it started, at some point):
    # parked wander with speed spikes can add up hundreds of metres of path without ever leaving the spot.
    min_trip_extent_m: float = 100.0
    # An odometer step faster than this (plus 50 m slack) is a jump and disqualifies the odometer.
    max_plausible_speed_kmh: float = 300.0
    # A fuel level rise at least this big is a refuel, not negative consumption.
    refuel_min_l: float = 3.0

    @classmethod
    def for_org(cls, org) -> Params:
        return cls(
            min_trip_distance_m=float(org.min_trip_distance_m),
            min_trip_duration_s=float(org.min_trip_duration_s),
            min_parking_duration_s=float(org.min_parking_duration_s),
            min_no_data_gap_s=float(org.min_no_data_gap_s),
            speed_threshold_kmh=float(org.speed_threshold_kmh),
            use_ignition=bool(org.use_ignition),
            require_both=bool(org.trip_needs_distance_and_duration),
        )


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
