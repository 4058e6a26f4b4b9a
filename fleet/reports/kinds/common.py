"""What the report kinds share: walking the devices with progress, the Report they return, totals."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse

from fleet.geo import geocoding
from fleet.reports.engine import NoData, Stop, Trip
from fleet.reports.tables import DATETIME, DISTANCE, DURATION, LATLON, Column, Report, Table

Progress = Callable[..., None] | None  # progress(done, total, rows=None)


def each(devices: list, progress: Progress, *tables: Table) -> Iterator:
    """The devices one by one; after each, ``progress(done, total, rows so far in tables)``."""
    for done, device in enumerate(devices, 1):
        yield device
        if progress is not None:
            progress(done, len(devices), sum(len(t.rows) for t in tables))


def report(kind: str, organization, devices, start, end, tables, **kw) -> Report:
    from fleet.reports.kinds import KINDS

    return Report(kind, KINDS[kind].title, organization.pk, start, end, [d.pk for d in devices], tables, **kw)


def total(values: Iterable[float | None]) -> float | None:
    """The sum of the known values; None when none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def clipped_flags(item: Trip | Stop | NoData, ongoing: str) -> str:
    """ "began before the range" and / or ``ongoing`` (what a row clipped at the range end still does)."""
    return "; ".join(
        text for on, text in ((item.clipped_start, "began before the range"), (item.clipped_end, ongoing)) if on
    )


NO_DATA_COLUMNS = [
    Column("device", "Device"),
    Column("start", "Last fix", DATETIME),
    Column("end", "Next fix", DATETIME),
    Column("duration", "Duration", DURATION),
    Column("start_place", "From", LATLON),
    Column("end_place", "To", LATLON),
    Column("distance", "Straight line", DISTANCE, 2),
    Column("flags", "Clipped"),
]


def no_data_table() -> Table:
    """The spans without data across which the vehicle moved (engine.NoData): neither trips nor stops, their
    straight-line distance shown here and counted in no total of trips."""
    return Table("no_data", "Moved without data", NO_DATA_COLUMNS)


def no_data_row(device, gap: NoData) -> dict:
    return {
        "device": device.name,
        "start": gap.start_time,
        "end": gap.end_time,
        "duration": gap.duration_s,
        "start_place": (gap.start_lat, gap.start_lon),
        "end_place": (gap.end_lat, gap.end_lon),
        "distance": gap.distance_m,
        "flags": clipped_flags(gap, "still without data"),
    }


def with_no_data(tables: list[Table], gaps: Table) -> list[Table]:
    """The report's tables, and the no-data table after them when it has rows (with its totals)."""
    if not gaps.rows:
        return tables
    count = len(gaps.rows)
    gaps.totals = {
        "device": f"{count} span{'s' if count != 1 else ''}",
        "duration": sum(r["duration"] for r in gaps.rows),
        "distance": sum(r["distance"] for r in gaps.rows),
    }
    return [*tables, gaps]


def implausible_note(count: int) -> list[str]:
    """The note a report shows when the engine ignored implausible fixes (engine.clean.outliers)."""
    if not count:
        return []
    return [f"{count} implausible fix{'es' if count != 1 else ''} ignored (beyond the plausible maximum speed)."]


def replay_url(device_id: int, start: datetime, end: datetime) -> str:
    query = urlencode({"from": start.isoformat(), "to": end.isoformat()})
    return f"{reverse('device-replay', args=[device_id])}?{query}"


def add_addresses(organization, rows: list[dict], pairs: tuple[tuple[str, str], ...], fetch: bool = True) -> None:
    """Set each row's address keys from its place keys ((place key, address key) pairs; a place is (lat, lon)),
    for the whole table in one ``fleet.geo.geocoding.addresses`` batch."""
    points = [row.get(place) or (None, None) for row in rows for place, _ in pairs]
    texts = iter(geocoding.addresses(organization, points, fetch=fetch))
    for row in rows:
        for _, key in pairs:
            row[key] = next(texts)
