"""What the report kinds share: walking the devices with progress, the Report they return, totals."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse

from fleet.reports.engine import Stop, Trip
from fleet.reports.tables import Report, Table

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


def clipped_flags(item: Trip | Stop, ongoing: str) -> str:
    """ "began before the range" and / or ``ongoing`` (what a row clipped at the range end still does)."""
    return "; ".join(
        text for on, text in ((item.clipped_start, "began before the range"), (item.clipped_end, ongoing)) if on
    )


def implausible_note(count: int) -> list[str]:
    """The note a report shows when the engine ignored implausible fixes (engine.clean.outliers)."""
    if not count:
        return []
    return [f"{count} implausible fix{'es' if count != 1 else ''} ignored (beyond the plausible maximum speed)."]


def replay_url(device_id: int, start: datetime, end: datetime) -> str:
    query = urlencode({"from": start.isoformat(), "to": end.isoformat()})
    return f"{reverse('device-replay', args=[device_id])}?{query}"
