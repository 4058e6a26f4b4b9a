"""The trips report: each trip with distance, duration, speeds and fuel, and its line on the map."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np

from fleet.reports.cache import detect_range_cached
from fleet.reports.engine import Params, Trip
from fleet.reports.engine.distance import average_kmh
from fleet.reports.kinds.common import (
    add_addresses,
    clipped_flags,
    each,
    implausible_note,
    no_data_row,
    no_data_table,
    replay_url,
    report,
    total,
    with_no_data,
)
from fleet.reports.tables import (
    DATETIME,
    DISTANCE,
    DURATION,
    LATLON,
    LINK,
    SPEED,
    VOLUME,
    Column,
    Report,
    Table,
    TrackLine,
)
from fleet.tracking import drivers, store

TRIP_COLUMNS = [
    Column("device", "Device"),
    Column("start", "Start", DATETIME),
    Column("end", "End", DATETIME),
    Column("start_place", "From", LATLON),
    Column("end_place", "To", LATLON),
    Column("start_address", "From address"),
    Column("end_address", "To address"),
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
    gaps = no_data_table()
    clipped = ignored = 0
    timelines = drivers.timelines(devices, start, end)
    for device in each(devices, progress, table):
        trips, _stops, rows, spans = detect_range_cached(device.pk, params, start, end, tz=organization.timezone)
        ignored += sum(row.outliers for row in rows)
        gaps.rows.extend(no_data_row(device, gap) for gap in spans)
        line = timelines[device.pk]
        table.rows.extend(_trip_row(device, trip, line.during(trip.start_time, trip.end_time)) for trip in trips)
        tracks.extend(_trip_lines(device, trips, zone))
        clipped += sum(1 for trip in trips if trip.clipped_start or trip.clipped_end)
    add_addresses(organization, table.rows, (("start_place", "start_address"), ("end_place", "end_address")))
    table.totals = _trip_totals(table.rows)
    notes = []
    if clipped:
        notes.append(f"{clipped} trip{'s' if clipped != 1 else ''} clipped at the range edges.")
    notes += implausible_note(ignored)
    tables = with_no_data([table], gaps)
    return report("trips", organization, devices, start, end, tables, tracks=tracks, notes=notes)


def _trip_row(device, trip: Trip, driver) -> dict:
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
        "driver": driver.name if driver else "",
        "fuel": trip.spent_fuel_l,
        "flags": clipped_flags(trip, "still running"),
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
        "fuel": total(r["fuel"] for r in rows),
    }


def _trip_lines(device, trips: list[Trip], zone: ZoneInfo) -> list[TrackLine]:
    """One line per trip: the device's valid fixes over all its trips read once as arrays
    (``store.points``), cut per trip with ``searchsorted`` into views of those arrays."""
    if not trips:
        return []
    tick = timedelta(microseconds=1)  # store.points reads [a, b); a trip's end fix belongs to it
    spans = [(trip.start_time, trip.end_time + tick) for trip in trips]
    points = store.points(device.pk, spans[0][0], spans[-1][1], spans)
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
