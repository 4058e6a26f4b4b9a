"""The route report: every position with its attributes, and the valid fixes as map lines."""

from __future__ import annotations

from fleet.reports.engine import Params, outliers
from fleet.reports.kinds.common import add_addresses, each, implausible_note, report
from fleet.reports.tables import (
    BOOL,
    DATETIME,
    DISTANCE,
    LATLON,
    NUMBER,
    SPEED,
    VOLUME,
    Column,
    Report,
    Table,
    TrackLine,
)
from fleet.tracking import store

ROUTE_COLUMNS = [
    Column("time", "Time", DATETIME),
    Column("device", "Device"),
    Column("position", "Position", LATLON),
    Column("speed", "Speed", SPEED, 0),
    Column("course", "Course (°)", NUMBER, 0),
    Column("altitude", "Altitude (m)", NUMBER, 0),
    Column("valid", "Valid", BOOL),
    Column("implausible", "Implausible", BOOL),
    Column("ignition", "Ignition", BOOL),
    Column("address", "Address"),
    Column("odometer", "Odometer", DISTANCE, 1),
    Column("fuel", "Fuel", VOLUME, 1),
    Column("battery", "Battery (%)", NUMBER, 0),
]
ROUTE_FIELDS = ("fix_time", "latitude", "longitude", "speed", "course", "altitude", "valid", "attributes")


def route_report(organization, devices, start, end, options=None, progress=None) -> Report:
    """Every fix; the implausible ones (engine.clean.outliers: the reports ignore them) marked and counted,
    and left out of the map line. The address is the vendor's, else fleet's (``fleet.geo.geocoding``)."""
    table = Table("route", "Positions", ROUTE_COLUMNS)
    tracks = []
    max_kmh = Params.for_org(organization).max_plausible_speed_kmh
    ignored = 0
    for device in each(devices, progress, table):
        valid_fixes = []
        implausible = _implausible_times(device.pk, start, end, max_kmh)
        ignored += len(implausible)
        fixes = store.rows(device.pk, start, end, ROUTE_FIELDS)
        for when, lat, lon, speed, course, altitude, valid, attrs in fixes:
            attrs = attrs or {}
            odd = when.timestamp() in implausible
            table.rows.append(
                {
                    "time": when,
                    "device": device.name,
                    "position": (lat, lon),
                    "speed": speed,
                    "course": course,
                    "altitude": altitude,
                    "valid": valid,
                    "implausible": odd,
                    "ignition": attrs.get("ignition"),
                    "address": str(attrs.get("address") or ""),
                    "odometer": attrs.get("odometer_m"),
                    "fuel": attrs.get("fuel_l"),
                    "battery": attrs.get("battery_level", attrs.get("battery")),
                }
            )
            if valid and not odd:
                valid_fixes.append((when, lat, lon, speed, altitude))
        if valid_fixes:
            tracks.append(TrackLine.from_fixes(device.name, device.pk, valid_fixes))
    # The vendor's address when it sent one; else ours, queueing no provider request for every fix.
    unnamed = [row for row in table.rows if not row["address"]]
    add_addresses(organization, unnamed, (("position", "address"),), fetch=False)
    return report("route", organization, devices, start, end, [table], tracks=tracks, notes=implausible_note(ignored))


def _implausible_times(device_id: int, start, end, max_kmh: float) -> set[float]:
    """Fix times (epoch seconds) of the device's implausible fixes in [start, end), judged on the range's
    fixes as the engine judges them."""
    track = store.window(device_id, start, end)
    return set(track.t[outliers(track, max_kmh)].tolist()) if len(track) else set()
