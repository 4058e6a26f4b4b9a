"""The events report: what the vendors and fleet's own event engine recorded happening to each device, newest
first, each type in plain words (``fleet.events.labels``).

An event that names no geofence or task of its own (a vendor's ignition or motion event, say) is shown with
the geofences the device was inside and the task destination it was at, as fleet's own zone events say:
between a ``geofenceEnter`` and its ``geofenceExit``, between a ``taskArrival`` and its ``taskDeparture``."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import numpy as np
from django.db.models import Max

from fleet.events.labels import label
from fleet.reports.kinds.common import add_addresses, each, report
from fleet.reports.tables import DATETIME, Column, Report, Table
from fleet.tracking import store
from fleet.tracking.store import DEFAULT_CHUNK

EVENT_COLUMNS = [
    Column("time", "Time", DATETIME),
    Column("device", "Device"),
    Column("type", "Type"),
    Column("geofence", "Geofence"),
    Column("task", "Task"),
    Column("address", "Address"),
    Column("attributes", "Attributes"),
]
LOOKBACK = timedelta(minutes=10)  # an event's place: the device's last valid fix at most this long before it
# Zone events: (which zone field they name, whether the device is inside it afterwards).
ZONE_EVENTS = {
    "geofenceEnter": ("geofence", True),
    "geofenceExit": ("geofence", False),
    "taskArrival": ("task", True),
    "taskDeparture": ("task", False),
}
FIELDS = ("time", "type", "geofence_id", "geofence__name", "task_id", "task__order_ref", "task__title", "attributes")


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
    zone_events = Event.objects.filter(organization=organization, type__in=ZONE_EVENTS, time__lt=end)
    inside = zones_at(zone_events, [d.pk for d in devices], start)
    table = Table("events", "Events", EVENT_COLUMNS)
    for device in each(devices, progress, table):
        rows = device_rows(device, events, zone_events, inside[device.pk], start)
        for row, place in zip(rows, places_at(device.pk, [row["time"] for row in rows]), strict=True):
            row["place"] = place
        table.rows += rows
    add_addresses(organization, table.rows, (("place", "address"),))
    for row in table.rows:
        del row["place"]
    table.rows.sort(key=lambda row: row["time"], reverse=True)
    return report("events", organization, devices, start, end, [table])


def device_rows(device, events, zone_events, inside: Zones, start) -> list[dict]:
    """The device's events in time order as rows, ``inside`` followed through its zone events on the way (the
    shown events may be filtered; the zone events never are)."""
    shown = events.filter(device_id=device.pk).order_by("time", "pk").values_list("pk", *FIELDS)
    moves = zone_events.filter(device_id=device.pk, time__gte=start).order_by("time", "pk").values_list("pk", *FIELDS)
    wanted = {r[0]: r for r in shown.iterator(chunk_size=DEFAULT_CHUNK)}
    merged = sorted({**{r[0]: r for r in moves}, **wanted}.values(), key=lambda r: (r[1], r[0]))
    rows = []
    for pk, when, kind, geofence_id, geofence, task_id, order_ref, task_title, attrs in merged:
        task = task_text(order_ref, task_title)
        if pk in wanted:
            rows.append(
                {
                    "time": when,
                    "device": device.name,
                    "type": label(kind),
                    "geofence": geofence or inside.names("geofence"),
                    "task": task or inside.names("task"),
                    "attributes": attribute_summary(attrs),
                }
            )
        inside.move(kind, geofence_id, geofence, task_id, task)
    return rows


class Zones:
    """The geofences and task destinations one device is inside, by kind: pk -> name."""

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[int, str]] = {"geofence": {}, "task": {}}

    def move(self, kind: str, geofence_id, geofence, task_id, task) -> None:
        if kind not in ZONE_EVENTS:
            return
        field, entered = ZONE_EVENTS[kind]
        pk, name = (geofence_id, geofence) if field == "geofence" else (task_id, task)
        if pk is None:
            return
        if entered:
            self.by_kind[field][pk] = name or ""
        else:
            self.by_kind[field].pop(pk, None)

    def names(self, field: str) -> str:
        return ", ".join(sorted(filter(None, self.by_kind[field].values())))


def zones_at(zone_events, device_pks: list[int], start) -> dict[int, Zones]:
    """Per device, the zones it was inside at ``start``: the last zone event of each (device, zone) before it."""
    inside: dict[int, Zones] = defaultdict(Zones)
    before = zone_events.filter(device_id__in=device_pks, time__lt=start)
    lasts = before.values("device_id", "geofence_id", "task_id").annotate(last=Max("time"))
    latest = {(r["device_id"], r["geofence_id"], r["task_id"]): r["last"] for r in lasts}
    if not latest:
        return inside
    candidates = before.filter(time__in=set(latest.values())).order_by("time", "pk")
    for device, *row in candidates.values_list("device_id", *FIELDS[:-1]):
        when, kind, geofence_id, geofence, task_id, order_ref, task_title = row
        if latest.get((device, geofence_id, task_id)) == when:
            inside[device].move(kind, geofence_id, geofence, task_id, task_text(order_ref, task_title))
    return inside


def places_at(device_id: int, times: list) -> list[tuple[float, float] | None]:
    """Where the device was at each time (in time order): its last valid fix at most LOOKBACK before, read
    through the positions store around those times only; None when it has none."""
    if not times:
        return []
    tick = timedelta(microseconds=1)
    spans = _merged([(when - LOOKBACK, when + tick) for when in times])
    points = store.points(device_id, spans[0][0], spans[-1][1], spans)
    t = points["t"]
    out = []
    for when in times:
        k = int(np.searchsorted(t, when.timestamp(), side="right")) - 1
        recent = k >= 0 and when.timestamp() - t[k] <= LOOKBACK.total_seconds()
        out.append((float(points["lat"][k]), float(points["lon"][k])) if recent else None)
    return out


def _merged(spans: list[tuple]) -> list[tuple]:
    """Sorted [a, b) spans with the overlapping ones joined."""
    out: list[list] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def task_text(order_ref: str | None, title: str | None) -> str:
    return f"{order_ref} {title or ''}".strip() if order_ref else ""


def attribute_summary(attrs: dict | None, limit: int = 200) -> str:
    """``key=value, ...`` sorted by key, cut at ``limit`` characters."""
    text = ", ".join(f"{k}={v}" for k, v in sorted((attrs or {}).items()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
