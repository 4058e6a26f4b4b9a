"""The route report: every position with its attributes, and the valid fixes as map lines."""

from __future__ import annotations

from fleet.reports.kinds.common import each, report
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
    Column("ignition", "Ignition", BOOL),
    Column("address", "Address"),
    Column("odometer", "Odometer", DISTANCE, 1),
    Column("fuel", "Fuel", VOLUME, 1),
    Column("battery", "Battery (%)", NUMBER, 0),
]
ROUTE_FIELDS = ("fix_time", "latitude", "longitude", "speed", "course", "altitude", "valid", "attributes")


def route_report(organization, devices, start, end, options=None, progress=None) -> Report:
    table = Table("route", "Positions", ROUTE_COLUMNS)
    tracks = []
    for device in each(devices, progress, table):
        valid_fixes = []
        fixes = store.rows(device.pk, start, end, ROUTE_FIELDS)
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
                    "ignition": attrs.get("ignition"),
                    "address": str(attrs.get("address") or ""),
                    "odometer": attrs.get("odometer_m"),
                    "fuel": attrs.get("fuel_l"),
                    "battery": attrs.get("battery_level", attrs.get("battery")),
                }
            )
            if valid:
                valid_fixes.append((when, lat, lon, speed, altitude))
        if valid_fixes:
            tracks.append(TrackLine.from_fixes(device.name, device.pk, valid_fixes))
    return report("route", organization, devices, start, end, [table], tracks=tracks)
