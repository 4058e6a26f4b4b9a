"""The task performance report: planned against actual arrival and completion, per task, per vehicle and per
driver. The rules (which tasks, on time, lateness, rates) are in docs/reports-engine.md (Task performance);
arrivals not recorded on the task come from ``fleet.dispatch.arrival``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from fleet.dispatch.arrival import arrival_from_positions
from fleet.reports.tables import BOOL, DATETIME, DURATION, INT, NUMBER, Column, Report, Table

TOLERANCE_S = 300.0
NO_VEHICLE, NO_DRIVER = "(no vehicle)", "(no driver)"
NOT_ASSESSED = {"cancelled", "rejected"}


@dataclass
class Outcome:
    arrival: datetime | None
    arrival_source: str  # "task", "positions" or ""
    arrival_late_s: float | None
    arrival_on_time: bool | None
    completed: bool
    completion_late_s: float | None
    completion_on_time: bool | None


def assess(task, arrival: datetime | None, source: str, now: datetime, tolerance_s: float) -> Outcome:
    """Lateness and on-time flags of one task, given its actual arrival."""
    assessed = task.status not in NOT_ASSESSED
    arrival_on_time = arrival_late = None
    if task.planned_start is not None:
        deadline = task.planned_start + timedelta(seconds=tolerance_s)
        if arrival is not None:
            arrival_late = max(0.0, (arrival - task.planned_start).total_seconds())
            arrival_on_time = arrival <= deadline
        elif deadline < now:
            arrival_on_time = False
    finished = task.work_finished
    completion_on_time = completion_late = None
    if task.planned_stop is not None:
        if finished is not None:
            completion_late = max(0.0, (finished - task.planned_stop).total_seconds())
            completion_on_time = finished <= task.planned_stop
        elif task.planned_stop < now:
            completion_on_time = False
    return Outcome(
        arrival=arrival,
        arrival_source=source,
        arrival_late_s=arrival_late,
        arrival_on_time=arrival_on_time if assessed else None,
        completed=finished is not None or task.status == "completed",
        completion_late_s=completion_late,
        completion_on_time=completion_on_time if assessed else None,
    )


# ---------------------------------------------------------------------------------------------- tables

TASK_COLUMNS = [
    Column("order_ref", "Order"),
    Column("title", "Task"),
    Column("device", "Vehicle"),
    Column("driver", "Driver"),
    Column("status", "Status"),
    Column("planned_start", "Planned start", DATETIME),
    Column("arrived", "Arrived", DATETIME),
    Column("arrival_source", "Arrival from"),
    Column("arrival_late_s", "Arrival lateness", DURATION),
    Column("arrival_on_time", "Arrived on time", BOOL),
    Column("planned_stop", "Planned stop", DATETIME),
    Column("work_finished", "Work finished", DATETIME),
    Column("completion_late_s", "Completion lateness", DURATION),
    Column("completion_on_time", "Completed on time", BOOL),
    Column("on_site_s", "On site", DURATION),
]


def group_columns(key: str, label: str) -> list[Column]:
    return [
        Column(key, label),
        Column("tasks", "Tasks", INT),
        Column("completed", "Completed", INT),
        Column("arrival_rate", "On-time arrival (%)", NUMBER, 1),
        Column("completion_rate", "On-time completion (%)", NUMBER, 1),
        Column("mean_late_s", "Mean arrival lateness", DURATION),
    ]


def rate(flags: list[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return 100.0 * sum(known) / len(known) if known else None


def group_row(rows: list[dict], **keys) -> dict:
    lateness = [r["arrival_late_s"] for r in rows if r["arrival_late_s"] is not None]
    return {
        **keys,
        "tasks": len(rows),
        "completed": sum(1 for r in rows if r["_completed"]),
        "arrival_rate": rate([r["arrival_on_time"] for r in rows]),
        "completion_rate": rate([r["completion_on_time"] for r in rows]),
        "mean_late_s": sum(lateness) / len(lateness) if lateness else None,
    }


def grouped(rows: list[dict], key: str, label: str, name: str, title: str, empty: str) -> Table:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key] or empty, []).append(row)
    out = [group_row(members, **{key: name_}) for name_, members in sorted(groups.items())]
    totals = group_row(rows, **{key: "Total"}) if rows else None
    return Table(name, title, group_columns(key, label), out, totals=totals)


def task_row(task, outcome: Outcome) -> dict:
    on_site = None
    if outcome.arrival is not None and task.work_finished is not None:
        on_site = max(0.0, (task.work_finished - outcome.arrival).total_seconds())
    return {
        "order_ref": task.order_ref,
        "title": task.title,
        "device": task.device.name if task.device_id else "",
        "driver": task.driver.name if task.driver_id else "",
        "status": task.get_status_display(),
        "planned_start": task.planned_start,
        "arrived": outcome.arrival,
        "arrival_source": outcome.arrival_source,
        "arrival_late_s": outcome.arrival_late_s,
        "arrival_on_time": outcome.arrival_on_time,
        "planned_stop": task.planned_stop,
        "work_finished": task.work_finished,
        "completion_late_s": outcome.completion_late_s,
        "completion_on_time": outcome.completion_on_time,
        "on_site_s": on_site,
        "_completed": outcome.completed,
    }


# ---------------------------------------------------------------------------------------------- report


def select_tasks(organization, devices: list, start: datetime, end: datetime, options: dict):
    from fleet.dispatch.models import Task
    from fleet.tracking.models import Device

    in_range = Q(planned_start__gte=start, planned_start__lt=end) | Q(
        planned_start__isnull=True, planned_stop__gte=start, planned_stop__lt=end
    )
    tasks = Task.objects.filter(in_range, organization=organization).select_related("device", "driver")
    ids = {d.pk for d in devices}
    every = ids == set(Device.objects.filter(organization=organization).values_list("pk", flat=True))
    tasks = tasks.filter(Q(device_id__in=ids) | Q(device__isnull=True)) if every else tasks.filter(device_id__in=ids)
    if driver := options.get("driver"):
        tasks = tasks.filter(driver_id=getattr(driver, "pk", driver))
    return list(tasks.order_by("planned_start", "planned_stop", "order_ref"))


def task_report(organization, devices, start, end, options=None, progress=None) -> Report:
    """Task punctuality of ``devices`` for tasks planned in [start, end) (kind "tasks")."""
    options = dict(options or {})
    devices = list(devices)
    now = options.get("now") or timezone.now()
    tolerance = float(options.get("tolerance_s", TOLERANCE_S))
    tasks = select_tasks(organization, devices, start, end, options)
    by_device: dict[int | None, list] = {}
    for task in tasks:
        by_device.setdefault(task.device_id, []).append(task)
    outcomes: dict[int, Outcome] = {}
    order = [None, *(d.pk for d in devices)]
    for done, device_id in enumerate(order):
        for task in by_device.get(device_id, []):
            arrival, source = task.arrived, "task" if task.arrived else ""
            if arrival is None and (arrival := arrival_from_positions(task, options, now)) is not None:
                source = "positions"
            outcomes[task.pk] = assess(task, arrival, source, now, tolerance)
        if progress and device_id is not None:
            progress(done, len(devices))
    rows = [task_row(task, outcomes[task.pk]) for task in tasks]
    tables = [
        Table("tasks", "Tasks", TASK_COLUMNS, [_public(r) for r in rows]),
        grouped(rows, "device", "Vehicle", "by_vehicle", "By vehicle", NO_VEHICLE),
        grouped(rows, "driver", "Driver", "by_driver", "By driver", NO_DRIVER),
    ]
    from_positions = sum(1 for r in rows if r["arrival_source"] == "positions")
    notes = [
        f"On time: arrival at most {tolerance / 60:g} min after the planned start; completion by the planned stop.",
    ]
    if from_positions:
        notes.append(f"{from_positions} arrival(s) read from positions (the task had no arrival time).")
    return Report(
        "tasks", "Task performance", organization.pk, start, end, [d.pk for d in devices], tables, notes=notes
    )


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}
