"""The events report: what the vendors recorded happening to each device (fleet raises no events of its own)."""

from __future__ import annotations

from fleet.reports.kinds.common import each, report
from fleet.reports.tables import DATETIME, Column, Report, Table
from fleet.tracking.store import DEFAULT_CHUNK

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
    for device in each(devices, progress, table):
        rows = events.filter(device_id=device.pk).order_by("time", "pk").values_list(*fields)
        for when, kind, geofence, order_ref, task_title, attrs in rows.iterator(chunk_size=DEFAULT_CHUNK):
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
    return report("events", organization, devices, start, end, [table])


def attribute_summary(attrs: dict | None, limit: int = 200) -> str:
    """``key=value, ...`` sorted by key, cut at ``limit`` characters."""
    text = ", ".join(f"{k}={v}" for k, v in sorted((attrs or {}).items()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
