"""The stops report: where vehicles stood, how long, with engine hours and idling."""

from __future__ import annotations

from fleet.reports.cache import detect_range_cached
from fleet.reports.engine import Params, Stop
from fleet.reports.kinds.common import (
    add_addresses,
    clipped_flags,
    each,
    no_data_row,
    no_data_table,
    report,
    total,
    with_no_data,
)
from fleet.reports.tables import DATETIME, DURATION, LATLON, Column, Report, Table
from fleet.tracking import drivers

STOP_COLUMNS = [
    Column("device", "Device"),
    Column("start", "Start", DATETIME),
    Column("end", "End", DATETIME),
    Column("duration", "Duration", DURATION),
    Column("place", "Place", LATLON),
    Column("address", "Address"),
    Column("engine_hours", "Engine hours", DURATION),
    Column("idle", "Idle", DURATION),
    Column("driver", "Driver"),
    Column("flags", "Clipped"),
]


def stops_report(organization, devices, start, end, options=None, progress=None) -> Report:
    params = Params.for_org(organization)
    table = Table("stops", "Stops", STOP_COLUMNS)
    gaps = no_data_table()
    timelines = drivers.timelines(devices, start, end)
    for device in each(devices, progress, table):
        _trips, stops, _rows, spans = detect_range_cached(device.pk, params, start, end, tz=organization.timezone)
        table.rows.extend(_stop_row(device, stop, timelines[device.pk].at(stop.start_time)) for stop in stops)
        gaps.rows.extend(no_data_row(device, gap) for gap in spans)
    rows = table.rows
    add_addresses(organization, rows, (("place", "address"),))
    table.totals = {
        "device": f"{len(rows)} stop{'s' if len(rows) != 1 else ''}",
        "duration": sum(r["duration"] for r in rows),
        "engine_hours": total(r["engine_hours"] for r in rows),
        "idle": sum(r["idle"] for r in rows),
    }
    return report("stops", organization, devices, start, end, with_no_data([table], gaps))


def _stop_row(device, stop: Stop, driver) -> dict:
    return {
        "device": device.name,
        "start": stop.start_time,
        "end": stop.end_time,
        "duration": stop.duration_s,
        "place": (stop.lat, stop.lon),
        "engine_hours": stop.engine_hours_s,
        "idle": stop.idle_s,
        "driver": driver.name if driver else "",
        "flags": clipped_flags(stop, "still stopped"),
    }
