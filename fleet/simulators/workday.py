"""The outdoor motion model on working days: vehicles drive between the places of ``motion`` by day and stay
parked (ignition off) from the end of the working day to the next one's start, and most stay parked through
the weekend. Used for the demo's past week of history (``seeddemo --simulators``); deterministic like
``motion.Fleet`` in (n, seed, start, report interval, zone).
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fleet.simulators.motion import PARK_S, Clock, Fleet, SimVehicle, VehicleTrack

DAY_START = time(7, 0)  # local time; each vehicle starts up to an hour later
DAY_END = time(17, 0)  # no drive starts later (up to an hour later by vehicle)
WEEKEND_WORK = 0.25  # the chance a vehicle works on a Saturday or a Sunday
NIGHT_EVERY_S = 1800  # a tracker parked for the night (or the weekend) reports every half hour
HELSINKI = ZoneInfo("Europe/Helsinki")  # the road graph's city: working hours are its local time


class WorkdayTrack(VehicleTrack):
    __slots__ = ("zone", "late_s")

    def __init__(self, vehicle: SimVehicle, seed: int, t0: int, interval: float, clock: Clock, zone: ZoneInfo) -> None:
        super().__init__(vehicle, seed, t0, interval, clock)
        self.zone = zone
        self.late_s = self.rng.randrange(3600)  # this vehicle's start and end of day, after DAY_START / DAY_END

    def _park_duration(self) -> int:
        duration = super()._park_duration()
        start = self.next_start
        local = datetime.fromtimestamp(start + duration, self.zone)
        if self._working(local):
            return duration
        return max(duration, math.ceil(self._next_morning(local).timestamp()) - start)

    def _parked_every(self, duration: int) -> float:
        return super()._parked_every(duration) if duration <= PARK_S[1] else NIGHT_EVERY_S

    def _working(self, local: datetime) -> bool:
        begin, end = self._bounds(local.date())
        return begin <= local < end and self._works_on(local.date())

    def _bounds(self, day) -> tuple[datetime, datetime]:
        late = timedelta(seconds=self.late_s)
        begin = datetime.combine(day, DAY_START, tzinfo=self.zone) + late
        return begin, datetime.combine(day, DAY_END, tzinfo=self.zone) + late

    def _works_on(self, day) -> bool:
        if day.weekday() < 5:
            return True
        return (day.toordinal() * 7919 + self.device * 104_729) % 1000 < WEEKEND_WORK * 1000

    def _next_morning(self, local: datetime) -> datetime:
        day = local.date()
        if local >= self._bounds(day)[0]:
            day += timedelta(days=1)
        while not self._works_on(day):
            day += timedelta(days=1)
        return self._bounds(day)[0]


class WorkdayFleet(Fleet):
    """``motion.Fleet``'s vehicles (same identities for the same n and seed) on working days in ``zone``
    (Helsinki's local time by default)."""

    def __init__(self, n: int, seed: int, start: datetime, report_interval: float, zone: ZoneInfo = HELSINKI) -> None:
        super().__init__(n, seed, start, report_interval)
        t0, clock = math.floor(self.start.timestamp()), Clock()
        tracks = [WorkdayTrack(v, seed, t0, self.report_interval, clock, zone) for v in self.vehicles]
        self._set_tracks(tracks)
