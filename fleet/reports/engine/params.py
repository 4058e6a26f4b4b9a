"""The organisation's report parameters, as the engine reads them."""

from __future__ import annotations

from dataclasses import dataclass


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
    # The plausible maximum (the organisation's max_speed_kmh): a fix its neighbours could only reach faster
    # is an outlier (clean.outliers), a faster vendor speed is ignored, a faster odometer step (plus 50 m
    # slack) disqualifies the odometer.
    max_plausible_speed_kmh: float = 300.0
    # A stop: the vehicle stayed within this radius of where it stopped for min_parking_duration_s.
    stop_radius_m: float = 100.0
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
            max_plausible_speed_kmh=float(org.max_speed_kmh),
            stop_radius_m=float(org.stop_radius_m),
        )
