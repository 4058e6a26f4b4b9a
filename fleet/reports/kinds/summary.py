"""The summary report: distance, driving / idle / stopped / no-data time and fuel per device over the range,
or per local day; or per driver, each device's time split where its driver changes. The four times add up to
the range."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from itertools import pairwise

from fleet.reports.cache import CachedRange, detect_range_cached, keep_rows
from fleet.reports.engine import Params, SummaryRow, WindowResult, combine_summaries, continues
from fleet.reports.kinds.common import each, implausible_note, report
from fleet.reports.tables import DATE, DATETIME, DISTANCE, DURATION, INT, SPEED, VOLUME, Column, Report, Table
from fleet.tracking import drivers

UNASSIGNED = "Unassigned"  # the row of the time no driver drove

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
    """Per device over the range; with ``options["split"] == "day"`` also per device per local day; with
    ``options["by"] == "driver"`` per driver instead of per device."""
    if (options or {}).get("by") == "driver":
        return _driver_report(organization, devices, start, end, options, progress)
    params = Params.for_org(organization)
    by_day = (options or {}).get("split") == "day"
    device_table = Table("summary", "Summary", [Column("device", "Device"), *SUMMARY_COLUMNS])
    day_table = Table("days", "Per day", [Column("device", "Device"), Column("day", "Day", DATE), *SUMMARY_COLUMNS])
    totals: list[SummaryRow] = []
    devices = list(devices)
    planned = CachedRange.many([d.pk for d in devices], params, start, end, organization.timezone, rows_only=True)
    each_rows = []
    for device, cached in zip(each(devices, progress, device_table, day_table), planned, strict=True):
        rows = cached.rows()
        each_rows.append(rows)
        if not rows:
            continue
        whole = combine_summaries(rows)
        totals.append(whole)
        device_table.rows.append(_summary_row(whole, device=device.name))
        if by_day:
            day_table.rows.extend(_summary_row(row, device=device.name, day=row.day) for row in rows)
    keep_rows(planned, each_rows)
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


# ---------------------------------------------------------------------------------------------- per driver


def _driver_report(organization, devices, start, end, options, progress) -> Report:
    """One row per driver (and "Unassigned"), from each device's results over the spans each drove it."""
    params = Params.for_org(organization)
    by_day = options.get("split") == "day"
    columns = [Column("driver", "Driver"), Column("devices", "Vehicles")]
    driver_table = Table("summary", "Summary per driver", [*columns, *SUMMARY_COLUMNS])
    day_table = Table("days", "Per driver per day", [*columns, Column("day", "Day", DATE), *SUMMARY_COLUMNS])
    rows: dict[tuple, list[SummaryRow]] = defaultdict(list)  # (driver name, driver pk, day) -> rows
    vehicles: dict[tuple, set[str]] = defaultdict(set)  # (driver name, driver pk) -> device names
    timelines = drivers.timelines(devices, start, end)
    for device in each(devices, progress, driver_table, day_table):
        for driver, result in _driven(device, timelines[device.pk], params, start, end, organization.timezone):
            who = (driver.name, driver.pk) if driver else (UNASSIGNED, None)
            vehicles[who].add(device.name)
            for row in result.rows:
                rows[(*who, row.day)].append(row)
    whole: dict[tuple, list[SummaryRow]] = defaultdict(list)
    for (name, pk, day), parts in sorted(rows.items(), key=lambda item: _order(item[0])):
        row = combine_summaries(parts)
        whole[(name, pk)].append(row)
        keys = {"driver": name, "devices": ", ".join(sorted(vehicles[(name, pk)]))}
        day_table.rows.append(_summary_row(row, **keys, day=day))
    for (name, pk), parts in whole.items():
        keys = {"driver": name, "devices": ", ".join(sorted(vehicles[(name, pk)]))}
        driver_table.rows.append(_summary_row(combine_summaries(parts), **keys))
    totals = [row for parts in whole.values() for row in parts]
    if totals:
        driver_table.totals = day_table.totals = _summary_row(combine_summaries(totals), driver="Total")
    tables = [day_table, driver_table] if by_day else [driver_table]
    notes = implausible_note(sum(row.outliers for row in totals))
    return report("summary", organization, devices, start, end, tables, notes=notes)


def _driven(device, timeline: drivers.Timeline, params: Params, start, end, tz) -> list[tuple]:
    """(driver or None, the device's results over one span that driver drove it) in time order. A trip or
    stop going on across a change of driver counts for the one who drove at its start."""
    spans = [
        (driver, detect_range_cached(device.pk, params, a, b, tz=tz)) for a, b, driver in timeline.segments(start, end)
    ]
    for (_, before), (_, now) in pairwise(spans):
        _carry_over(before, now)
    return spans


def _carry_over(before: WindowResult, now: WindowResult) -> None:
    if now.rows and continues(before.trips, now.trips):
        now.rows[0].trips -= 1
    if now.rows and continues(before.stops, now.stops):
        now.rows[0].stops -= 1


def _order(key: tuple) -> tuple:
    name, pk, day = key
    return (name == UNASSIGNED and pk is None, name.casefold(), pk or 0, day or date.min)
