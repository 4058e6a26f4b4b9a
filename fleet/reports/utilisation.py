"""The fleet utilisation overview a manager reads each morning: yesterday and the seven days to yesterday,
from the engine's daily summary rows (closed days come from the result cache). The figures and how they are
computed: docs/reports-engine.md (Utilisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from fleet.reports import periods
from fleet.reports.cache import detect_range_cached
from fleet.reports.engine import Params, SummaryRow
from fleet.tracking import store

TOP = 5


@dataclass
class Period:
    key: str
    label: str
    first: date  # local dates, inclusive
    last: date
    start: datetime  # aware UTC, [start, end)
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class VehicleFigures:
    device: object
    distance_m: float = 0.0
    driving_s: float = 0.0
    idle_s: float = 0.0
    no_data_s: float = 0.0
    has_data: bool = False

    @property
    def moved(self) -> bool:
        return self.driving_s > 0


@dataclass
class Figures:
    period: Period
    vehicles: list[VehicleFigures] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.vehicles)

    @property
    def distance_m(self) -> float:
        return sum(v.distance_m for v in self.vehicles)

    @property
    def driving_s(self) -> float:
        return sum(v.driving_s for v in self.vehicles)

    @property
    def idle_s(self) -> float:
        return sum(v.idle_s for v in self.vehicles)

    @property
    def active(self) -> int:
        return sum(1 for v in self.vehicles if v.has_data)

    @property
    def moved(self) -> int:
        return sum(1 for v in self.vehicles if v.moved)

    @property
    def no_data_s(self) -> float:
        return sum(v.no_data_s for v in self.vehicles)

    @property
    def utilisation_time(self) -> float | None:
        """Percent of all vehicle time spent driving (the charts' driving share)."""
        capacity = self.period.seconds * self.total
        return 100 * self.driving_s / capacity if capacity else None

    @property
    def no_data_share(self) -> float | None:
        """Percent of all vehicle time without data (a dead tracker is not a parked vehicle)."""
        capacity = self.period.seconds * self.total
        return 100 * self.no_data_s / capacity if capacity else None

    @property
    def utilisation_vehicles(self) -> float | None:
        """Percent of the vehicles that moved."""
        return 100 * self.moved / self.total if self.total else None

    @property
    def idle_share(self) -> float | None:
        """Percent of engine-on time (driving + idle) spent idling."""
        engine = self.driving_s + self.idle_s
        return 100 * self.idle_s / engine if engine else None

    @property
    def top(self) -> list[VehicleFigures]:
        ranked = sorted((v for v in self.vehicles if v.has_data), key=lambda v: (-v.distance_m, v.device.name))
        return ranked[:TOP]

    @property
    def bottom(self) -> list[VehicleFigures]:
        top = {id(v) for v in self.top}
        rest = [v for v in self.vehicles if v.has_data and id(v) not in top]
        return sorted(rest, key=lambda v: (v.distance_m, v.device.name))[:TOP]

    @property
    def no_data(self) -> list[VehicleFigures]:
        return sorted((v for v in self.vehicles if not v.has_data), key=lambda v: v.device.name)


def periods_for(organization, now: datetime | None = None) -> tuple[Period, Period]:
    """Yesterday, and the seven local days ending yesterday, in the organisation's timezone."""
    zone = ZoneInfo(organization.timezone)
    today = (now or _now()).astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    week_first = today - timedelta(days=7)
    day = _period("yesterday", "Yesterday", yesterday, yesterday, zone)
    return day, _period("week", "Last 7 days", week_first, yesterday, zone)


def _now() -> datetime:
    return timezone.now()


def _period(key: str, label: str, first: date, last: date, zone: ZoneInfo) -> Period:
    return Period(key, label, first, last, *periods.resolve("custom", zone.key, first, last))


def overview(organization, devices, now: datetime | None = None) -> list[Figures]:
    """Figures for yesterday and for the seven days to yesterday, over ``devices`` of ``organization``."""
    day, week = periods_for(organization, now)
    params = Params.for_org(organization)
    figures = [Figures(day), Figures(week)]
    for device in devices:
        _trips, _stops, rows, _gaps = detect_range_cached(
            device.pk, params, week.start, week.end, organization.timezone
        )
        for fig in figures:
            fig.vehicles.append(_vehicle(device, [r for r in rows if fig.period.first <= r.day <= fig.period.last]))
    _mark_data(figures)
    return figures


def _vehicle(device, rows: list[SummaryRow]) -> VehicleFigures:
    return VehicleFigures(
        device,
        distance_m=sum(r.distance_m for r in rows),
        driving_s=sum(r.driving_s for r in rows),
        idle_s=sum(r.idle_s for r in rows),
        no_data_s=sum(r.no_data_s for r in rows),
    )


def _mark_data(figures: list[Figures]) -> None:
    """Which vehicles have a position in each period: one indexed existence check per vehicle and period
    (a vehicle that drove or idled has data without asking)."""
    for fig in figures:
        for v in fig.vehicles:
            v.has_data = v.moved or v.idle_s > 0 or store.exists(v.device.pk, fig.period.start, fig.period.end)


def report_url(kind: str, period: Period, organization=None, device=None) -> str:
    """The detailed report behind a figure: the same local days, the device when given."""
    query = {"preset": "custom", "start": period.first.isoformat(), "end": period.last.isoformat()}
    if organization is not None:
        query["organization"] = organization.pk
    if device is not None:
        query["device"] = device.pk
    return f"{reverse('reports:report', args=[kind])}?{urlencode(query)}"
