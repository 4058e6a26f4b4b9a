"""The report kinds: each module turns (organisation, devices, range, options) into one ``Report`` in
canonical units. ``KINDS`` is the registry (dotted paths, imported on first use); ``build_report`` runs one.
``progress(done, total, rows)`` is called after each device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.module_loading import import_string

from fleet.reports.tables import Report


@dataclass(frozen=True)
class Kind:
    title: str
    builder: str  # dotted path to ``f(organization, devices, start, end, options=None, progress=None) -> Report``
    description: str
    tracks: bool = False  # has TrackLines: a map on the page, GPX and KML exports
    vendor_tab: bool = False  # the vendor's own version of this report exists (/reports/vendor/)
    page_rows: int | None = None  # the page shows the rows in pages of this many (?page=N); else the first ones


KINDS: dict[str, Kind] = {
    "route": Kind("Route", f"{__name__}.route.route_report", "Every position with its attributes.", tracks=True),
    "trips": Kind(
        "Trips",
        f"{__name__}.trips.trips_report",
        "Trips with distance, duration, speeds and fuel.",
        tracks=True,
        vendor_tab=True,
    ),
    "stops": Kind(
        "Stops", f"{__name__}.stops.stops_report", "Where vehicles stood, how long, and idling.", vendor_tab=True
    ),
    "summary": Kind(
        "Summary",
        f"{__name__}.summary.summary_report",
        "Distance, driving, idle and fuel per device or day.",
        vendor_tab=True,
        page_rows=500,  # a fleet's summary: thousands of rows, rendered a page at a time
    ),
    "events": Kind(
        "Events", f"{__name__}.events.events_report", "Ignition, geofence, alarm and other events.", page_rows=100
    ),
    "visits": Kind("Visits", f"{__name__}.visits.visits_report", "Geofence and POI visits with dwell time."),
    "tasks": Kind("Tasks", f"{__name__}.tasks.task_report", "Task punctuality and time on site."),
}


def build_report(
    kind: str, organization, devices, start: datetime, end: datetime, options: dict | None = None, progress=None
) -> Report:
    """Compute the report ``kind`` (a key of ``KINDS``) over ``devices`` of ``organization`` in [start, end)."""
    builder = import_string(KINDS[kind].builder)
    return builder(organization, list(devices), start, end, options=options or {}, progress=progress)
