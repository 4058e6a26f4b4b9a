"""Report builders: each turns (organisation, devices, range, options) into one ``Report`` in canonical units.

``KINDS`` is the registry (dotted paths, imported on first use); ``build_report`` runs one. Trips, stops and
summaries come from ``loader.detect_range`` (one local day of one device in memory at a time); route and
events stream their rows from the database. ``progress(done, total, rows)`` is called after each device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import numpy as np
from django.urls import reverse
from django.utils.module_loading import import_string

from fleet.reports import loader
from fleet.reports.cache import detect_range_cached
from fleet.reports.distance import average_kmh
from fleet.reports.engine import Stop, SummaryRow, Trip, combine_summaries
from fleet.reports.tables import (
    BOOL,
    DATE,
    DATETIME,
    DISTANCE,
    DURATION,
    INT,
    LATLON,
    LINK,
    NUMBER,
    SPEED,
    VOLUME,
    Column,
    Report,
    Table,
    TrackLine,
)
from fleet.reports.track import Params

Progress = Callable[..., None] | None  # progress(done, total, rows=None)


@dataclass(frozen=True)
class Kind:
    title: str
    builder: str  # dotted path to ``f(organization, devices, start, end, options=None, progress=None) -> Report``
    description: str
    tracks: bool = False  # has TrackLines: a map on the page, GPX and KML exports
    vendor_tab: bool = False  # the vendor's own version of this report exists (/reports/vendor/)


KINDS: dict[str, Kind] = {
    "route": Kind("Route", f"{__name__}.route_report", "Every position with its attributes.", tracks=True),
    "trips": Kind(
        "Trips",
        f"{__name__}.trips_report",
        "Trips with distance, duration, speeds and fuel.",
        tracks=True,
        vendor_tab=True,
    ),
    "stops": Kind("Stops", f"{__name__}.stops_report", "Where vehicles stood, how long, and idling.", vendor_tab=True),
    "summary": Kind(
        "Summary",
        f"{__name__}.summary_report",
        "Distance, driving, idle and fuel per device or day.",
        vendor_tab=True,
    ),
    "events": Kind("Events", f"{__name__}.events_report", "Ignition, geofence, alarm and other events."),
    "visits": Kind("Visits", "fleet.reports.visits.visits_report", "Geofence and POI visits with dwell time."),
    "tasks": Kind("Tasks", "fleet.reports.taskperf.task_report", "Task punctuality and time on site."),
}


def build_report(
    kind: str, organization, devices, start: datetime, end: datetime, options: dict | None = None, progress=None
) -> Report:
    """Compute the report ``kind`` (a key of ``KINDS``) over ``devices`` of ``organization`` in [start, end)."""
    builder = import_string(KINDS[kind].builder)
    return builder(organization, list(devices), start, end, options=options or {}, progress=progress)


def _each(devices: list, progress: Progress, *tables: Table) -> Iterator:
    """The devices one by one; after each, ``progress(done, total, rows so far in tables)``."""
    for done, device in enumerate(devices, 1):
        yield device
        if progress is not None:
            progress(done, len(devices), sum(len(t.rows) for t in tables))


def _report(kind: str, organization, devices, start, end, tables, **kw) -> Report:
    title = KINDS[kind].title
    return Report(kind, title, organization.pk, start, end, [d.pk for d in devices], tables, **kw)


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _flag(value) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip().lower()
        return True if value in ("true", "1", "on", "yes") else False if value in ("false", "0", "off", "no") else None
    return bool(value)


def _sum(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


# ------------------------------------------------------------------------------------------------ route

ROUTE_COLUMNS = [
    Column("time", "Time", DATETIME),
    Column("device", "Device"),
    Column("position", "Position", LATLON),
    Column("speed", "Speed", SPEED, 0),
    Column("course", "Course (°)", NUMBER, 0),
    Column("altitude", "Altitude (m)", NUMBER, 0),
    Column("valid", "Valid", BOOL),
    Column("ignition", "Ignition", BOOL),
    Column("address", "Address"),
    Column("odometer", "Odometer", DISTANCE, 1),
    Column("fuel", "Fuel", VOLUME, 1),
    Column("battery", "Battery (%)", NUMBER, 0),
]
ROUTE_FIELDS = ("fix_time", "latitude", "longitude", "speed", "course", "altitude", "valid", "attributes")


def route_report(organization, devices, start, end, options=None, progress=None) -> Report:
    from fleet.tracking.models import Position

    table = Table("route", "Positions", ROUTE_COLUMNS)
    tracks = []
    for device in _each(devices, progress, table):
        valid_fixes = []
        fixes = (
            Position.objects.filter(device_id=device.pk, fix_time__gte=start, fix_time__lt=end)
            .order_by("fix_time")
            .values_list(*ROUTE_FIELDS)
            .iterator(chunk_size=loader.DEFAULT_CHUNK)
        )
        for when, lat, lon, speed, course, altitude, valid, attrs in fixes:
            attrs = attrs or {}
            table.rows.append(
                {
                    "time": when,
                    "device": device.name,
                    "position": (lat, lon),
                    "speed": speed,
                    "course": course,
                    "altitude": altitude,
                    "valid": valid,
                    "ignition": _flag(attrs.get("ignition")),
                    "address": str(attrs.get("address") or ""),
                    "odometer": _number(attrs.get("odometer_m")),
                    "fuel": _number(attrs.get("fuel_l")),
                    "battery": _number(attrs.get("battery_level", attrs.get("battery"))),
                }
            )
            if valid:
                valid_fixes.append((when, lat, lon, speed, altitude))
        if valid_fixes:
            tracks.append(TrackLine.from_fixes(device.name, device.pk, valid_fixes))
    return _report("route", organization, devices, start, end, [table], tracks=tracks)


# ------------------------------------------------------------------------------------------------ trips

TRIP_COLUMNS = [
    Column("device", "Device"),
    Column("start", "Start", DATETIME),
    Column("end", "End", DATETIME),
    Column("start_place", "From", LATLON),
    Column("end_place", "To", LATLON),
    Column("distance", "Distance", DISTANCE, 2),
    Column("duration", "Duration", DURATION),
    Column("max_speed", "Max speed", SPEED, 0),
    Column("avg_speed", "Avg speed", SPEED, 0),
    Column("driver", "Driver"),
    Column("fuel", "Fuel spent", VOLUME, 1),
    Column("flags", "Clipped"),
    Column("replay", "Replay", LINK),
]


def trips_report(organization, devices, start, end, options=None, progress=None) -> Report:
    params, zone = Params.for_org(organization), ZoneInfo(organization.timezone)
    table = Table("trips", "Trips", TRIP_COLUMNS)
    tracks: list[TrackLine] = []
    clipped = 0
    for device in _each(devices, progress, table):
        trips, _stops, _rows = detect_range_cached(device.pk, params, start, end, tz=organization.timezone)
        driver = device.driver.name if device.driver_id else ""
        table.rows.extend(_trip_row(device, trip, driver) for trip in trips)
        tracks.extend(_trip_lines(device, trips, zone))
        clipped += sum(1 for trip in trips if trip.clipped_start or trip.clipped_end)
    table.totals = _trip_totals(table.rows)
    notes = []
    if clipped:
        notes.append(f"{clipped} trip{'s' if clipped != 1 else ''} clipped at the range edges or by missing data.")
    return _report("trips", organization, devices, start, end, [table], tracks=tracks, notes=notes)


def _flags(item: Trip | Stop, ongoing: str) -> str:
    return "; ".join(
        text for on, text in ((item.clipped_start, "began before the range"), (item.clipped_end, ongoing)) if on
    )


def replay_url(device_id: int, start: datetime, end: datetime) -> str:
    query = urlencode({"from": start.isoformat(), "to": end.isoformat()})
    return f"{reverse('device-replay', args=[device_id])}?{query}"


def _trip_row(device, trip: Trip, driver: str) -> dict:
    return {
        "device": device.name,
        "start": trip.start_time,
        "end": trip.end_time,
        "start_place": (trip.start_lat, trip.start_lon),
        "end_place": (trip.end_lat, trip.end_lon),
        "distance": trip.distance_m,
        "duration": trip.duration_s,
        "max_speed": trip.max_speed,
        "avg_speed": trip.average_speed,
        "driver": driver,
        "fuel": trip.spent_fuel_l,
        "flags": _flags(trip, "still running"),
        "replay": replay_url(device.pk, trip.start_time, trip.end_time),
    }


def _trip_totals(rows: list[dict]) -> dict:
    distance, duration = sum(r["distance"] for r in rows), sum(r["duration"] for r in rows)
    return {
        "device": f"{len(rows)} trip{'s' if len(rows) != 1 else ''}",
        "distance": distance,
        "duration": duration,
        "max_speed": max((r["max_speed"] for r in rows), default=0.0),
        "avg_speed": average_kmh(distance, duration),
        "fuel": _sum(r["fuel"] for r in rows),
    }


def _trip_lines(device, trips: list[Trip], zone: ZoneInfo) -> list[TrackLine]:
    """One line per trip: the device's valid fixes over all its trips read once as arrays
    (``loader.load_points``), cut per trip with ``searchsorted`` into views of those arrays."""
    if not trips:
        return []
    tick = timedelta(microseconds=1)  # load_points reads [a, b); a trip's end fix belongs to it
    spans = [(trip.start_time, trip.end_time + tick) for trip in trips]
    points = loader.load_points(device.pk, spans[0][0], spans[-1][1], spans)
    t = points["t"]
    lines = []
    for trip in trips:
        lo = np.searchsorted(t, trip.start_time.timestamp(), side="left")
        hi = np.searchsorted(t, trip.end_time.timestamp(), side="right")
        if hi <= lo:
            continue
        name = f"{device.name} {trip.start_time.astimezone(zone):%Y-%m-%d %H:%M}"
        cut = (points[key][lo:hi] for key in ("lat", "lon", "speed", "altitude"))
        lines.append(TrackLine(name, device.pk, t[lo:hi], *cut))
    return lines


# ------------------------------------------------------------------------------------------------ stops

STOP_COLUMNS = [
    Column("device", "Device"),
    Column("start", "Start", DATETIME),
    Column("end", "End", DATETIME),
    Column("duration", "Duration", DURATION),
    Column("place", "Place", LATLON),
    Column("engine_hours", "Engine hours", DURATION),
    Column("idle", "Idle", DURATION),
    Column("flags", "Clipped"),
]


def stops_report(organization, devices, start, end, options=None, progress=None) -> Report:
    params = Params.for_org(organization)
    table = Table("stops", "Stops", STOP_COLUMNS)
    for device in _each(devices, progress, table):
        _trips, stops, _rows = detect_range_cached(device.pk, params, start, end, tz=organization.timezone)
        table.rows.extend(_stop_row(device, stop) for stop in stops)
    rows = table.rows
    table.totals = {
        "device": f"{len(rows)} stop{'s' if len(rows) != 1 else ''}",
        "duration": sum(r["duration"] for r in rows),
        "engine_hours": _sum(r["engine_hours"] for r in rows),
        "idle": sum(r["idle"] for r in rows),
    }
    return _report("stops", organization, devices, start, end, [table])


def _stop_row(device, stop: Stop) -> dict:
    return {
        "device": device.name,
        "start": stop.start_time,
        "end": stop.end_time,
        "duration": stop.duration_s,
        "place": (stop.lat, stop.lon),
        "engine_hours": stop.engine_hours_s,
        "idle": stop.idle_s,
        "flags": _flags(stop, "still stopped"),
    }


# ---------------------------------------------------------------------------------------------- summary

SUMMARY_COLUMNS = [
    Column("distance", "Distance", DISTANCE, 2),
    Column("driving", "Driving", DURATION),
    Column("idle", "Idle", DURATION),
    Column("stopped", "Stopped", DURATION),
    Column("max_speed", "Max speed", SPEED, 0),
    Column("avg_speed", "Avg speed", SPEED, 0),
    Column("engine_hours", "Engine hours", DURATION),
    Column("fuel", "Fuel spent", VOLUME, 1),
    Column("trips", "Trips", INT),
    Column("first_start", "First start", DATETIME),
    Column("last_stop", "Last stop", DATETIME),
]


def summary_report(organization, devices, start, end, options=None, progress=None) -> Report:
    """Per device over the range; with ``options["split"] == "day"`` also per device per local day."""
    params = Params.for_org(organization)
    by_day = (options or {}).get("split") == "day"
    device_table = Table("summary", "Summary", [Column("device", "Device"), *SUMMARY_COLUMNS])
    day_table = Table("days", "Per day", [Column("device", "Device"), Column("day", "Day", DATE), *SUMMARY_COLUMNS])
    totals: list[SummaryRow] = []
    for device in _each(devices, progress, device_table, day_table):
        _trips, _stops, rows = detect_range_cached(device.pk, params, start, end, tz=organization.timezone)
        if not rows:
            continue
        whole = combine_summaries(rows)
        totals.append(whole)
        device_table.rows.append(_summary_row(whole, device=device.name))
        if by_day:
            day_table.rows.extend(_summary_row(row, device=device.name, day=row.day) for row in rows)
    if totals:
        everything = _summary_row(combine_summaries(totals), device="Total")
        device_table.totals = day_table.totals = everything
    tables = [day_table, device_table] if by_day else [device_table]
    return _report("summary", organization, devices, start, end, tables)


def _summary_row(row: SummaryRow, **keys) -> dict:
    return {
        **keys,
        "distance": row.distance_m,
        "driving": row.driving_s,
        "idle": row.idle_s,
        "stopped": row.stopped_s,
        "max_speed": row.max_speed,
        "avg_speed": row.average_speed,
        "engine_hours": row.engine_hours_s,
        "fuel": row.spent_fuel_l,
        "trips": row.trips,
        "first_start": row.first_start,
        "last_stop": row.last_stop,
    }


# ----------------------------------------------------------------------------------------------- events

EVENT_COLUMNS = [
    Column("time", "Time", DATETIME),
    Column("device", "Device"),
    Column("type", "Type"),
    Column("geofence", "Geofence"),
    Column("task", "Task"),
    Column("attributes", "Attributes"),
]


def events_report(organization, devices, start, end, options=None, progress=None) -> Report:
    """Events in the range; ``options``: ``type`` (exact event type), ``geofence`` (a Geofence or its id)."""
    from fleet.tracking.models import Event

    options = options or {}
    events = Event.objects.filter(organization=organization, time__gte=start, time__lt=end)
    if options.get("type"):
        events = events.filter(type=options["type"])
    if options.get("geofence"):
        geofence = options["geofence"]
        events = events.filter(geofence_id=getattr(geofence, "pk", geofence))
    fields = ("time", "type", "geofence__name", "task__order_ref", "task__title", "attributes")
    table = Table("events", "Events", EVENT_COLUMNS)
    for device in _each(devices, progress, table):
        rows = events.filter(device_id=device.pk).order_by("time", "pk").values_list(*fields)
        for when, kind, geofence, order_ref, task_title, attrs in rows.iterator(chunk_size=loader.DEFAULT_CHUNK):
            task = f"{order_ref} {task_title}".strip() if order_ref else ""
            table.rows.append(
                {
                    "time": when,
                    "device": device.name,
                    "type": kind,
                    "geofence": geofence or "",
                    "task": task,
                    "attributes": attribute_summary(attrs),
                }
            )
    table.rows.sort(key=lambda row: row["time"])
    return _report("events", organization, devices, start, end, [table])


def attribute_summary(attrs: dict | None, limit: int = 200) -> str:
    """``key=value, ...`` sorted by key, cut at ``limit`` characters."""
    text = ", ".join(f"{k}={v}" for k, v in sorted((attrs or {}).items()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
