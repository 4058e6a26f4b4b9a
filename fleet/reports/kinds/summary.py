"""The summary report: distance, driving / idle / stopped / no-data time and fuel per device over the range,
or per local day. The four times add up to the range."""

from __future__ import annotations

from fleet.reports.cache import detect_range_cached
from fleet.reports.engine import Params, SummaryRow, combine_summaries
from fleet.reports.kinds.common import each, implausible_note, report
from fleet.reports.tables import DATE, DATETIME, DISTANCE, DURATION, INT, SPEED, VOLUME, Column, Report, Table

SUMMARY_COLUMNS = [
    Column("distance", "Distance", DISTANCE, 2),
    Column("driving", "Driving", DURATION),
    Column("idle", "Idle", DURATION),
    Column("stopped", "Stopped", DURATION),
    Column("no_data", "No data", DURATION),
    Column("no_data_distance", "Distance without data", DISTANCE, 2),
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
    for device in each(devices, progress, device_table, day_table):
        _trips, _stops, rows, _gaps = detect_range_cached(device.pk, params, start, end, tz=organization.timezone)
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
    notes = implausible_note(sum(row.outliers for row in totals))
    return report("summary", organization, devices, start, end, tables, notes=notes)


def _summary_row(row: SummaryRow, **keys) -> dict:
    return {
        **keys,
        "distance": row.distance_m,
        "driving": row.driving_s,
        "idle": row.idle_s,
        "stopped": row.stopped_s,
        "no_data": row.no_data_s,
        "no_data_distance": row.no_data_distance_m,
        "max_speed": row.max_speed,
        "avg_speed": row.average_speed,
        "engine_hours": row.engine_hours_s,
        "fuel": row.spent_fuel_l,
        "trips": row.trips,
        "first_start": row.first_start,
        "last_stop": row.last_stop,
    }
