"""Tasks from and to CSV. An upload is read with limits (size, rows), every row checked, and nothing is imported
until every row is good: a dry run names each bad row by its line number and says why."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils.dateparse import parse_datetime

from fleet.core.cells import inert
from fleet.dispatch import lifecycle, services
from fleet.dispatch.models import Task
from fleet.geo.models import POI
from fleet.tracking.models import Device

COLUMNS = [
    "order_ref",
    "title",
    "address",
    "latitude",
    "longitude",
    "poi",
    "radius_m",
    "planned_start",
    "planned_stop",
    "priority",
    "vehicle",
    "notes",
]
TEMPLATE = (
    ",".join(COLUMNS)
    + "\nORD-1001,Deliver pallets,Mannerheimintie 1,60.1699,24.9384,,100,2026-12-05 09:00,2026-12-05 11:00,normal,"
    + "Van 01,Gate B\n"
)
MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
PRIORITIES = {label.lower(): value for value, label in Task.Priority.choices} | {
    str(v): v for v in Task.Priority.values
}


class CsvError(ValueError):
    """The file as a whole cannot be read (too big, not text, no header)."""


@dataclass
class Checked:
    tasks: list[Task] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def _time(value: str, zone: ZoneInfo, name: str) -> datetime | None:
    if not value:
        return None
    moment = parse_datetime(value.strip().replace(" ", "T", 1))
    if moment is None:
        raise ValueError(f"{name} {value!r} is not a date and time (e.g. 2026-12-05 09:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _float(value: str, name: str, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not lo <= number <= hi:
        raise ValueError(f"{name} {number} is out of range ({lo} to {hi})")
    return number


def read(data: bytes, organization) -> Checked:
    """Every row checked against the organisation's POIs, vehicles and existing order references."""
    if len(data) > MAX_BYTES:
        raise CsvError(f"The file is larger than {MAX_BYTES // 1_000_000} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvError("The file is not UTF-8 text.") from None
    reader = csv.DictReader(io.StringIO(text))
    try:
        names = reader.fieldnames
    except csv.Error as exc:
        raise CsvError(f"Line 1 cannot be read as CSV ({exc}).") from None
    if not names or "order_ref" not in names:
        raise CsvError(f"The first line must name the columns: {', '.join(COLUMNS)}.")
    zone = ZoneInfo(organization.timezone)
    pois = {p.name.lower(): p for p in POI.objects.filter(organization=organization)}
    vehicles = {}
    for d in Device.objects.filter(organization=organization, retired__isnull=True):
        vehicles.setdefault(d.name.lower(), d)
        if d.plate:
            vehicles.setdefault(d.plate.lower(), d)
    taken = set(Task.objects.filter(organization=organization).values_list("order_ref", flat=True))
    out = Checked()
    try:
        for number, row in enumerate(reader, start=2):
            _check_row(out, number, row, organization, zone, pois, vehicles, taken)
    except csv.Error as exc:  # a NUL byte, a field over the csv module's limit, a quote left open
        raise CsvError(f"Line {reader.line_num + 1} cannot be read as CSV ({exc}).") from None
    if not out.tasks and not out.errors:
        out.errors.append((1, "The file has no task."))
    return out


def _check_row(out: Checked, number: int, row: dict, organization, zone, pois, vehicles, taken) -> None:
    if number - 1 > MAX_ROWS:
        raise CsvError(f"The file has more than {MAX_ROWS} rows.")
    row = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str) and isinstance(v, str | None)}
    try:
        out.tasks.append(_task(row, organization, zone, pois, vehicles, taken))
    except ValueError as exc:
        out.errors.append((number, str(exc)))


def _task(row, organization, zone, pois, vehicles, taken) -> Task:
    ref = row.get("order_ref", "")
    if not ref:
        raise ValueError("order_ref is empty")
    if len(ref) > 100:
        raise ValueError("order_ref is longer than 100 characters")
    if ref in taken:
        raise ValueError(f"order reference {ref} is already used")
    taken.add(ref)
    task = Task(organization=organization, order_ref=ref, title=row.get("title", "")[:200])
    task.destination_address = row.get("address", "")[:300]
    task.notes = row.get("notes", "")
    if row.get("poi"):
        poi = pois.get(row["poi"].lower())
        if poi is None:
            raise ValueError(f"there is no POI {row['poi']!r}")
        task.poi, task.destination, task.destination_radius_m = poi, poi.point, poi.radius_m
        task.destination_address = task.destination_address or poi.address or poi.name
    elif row.get("latitude") and row.get("longitude"):
        lat = _float(row["latitude"], "latitude", -90, 90)
        lon = _float(row["longitude"], "longitude", -180, 180)
        task.destination = Point(lon, lat, srid=4326)
    else:
        raise ValueError("give latitude and longitude, or a poi")
    if row.get("radius_m"):
        task.destination_radius_m = _float(row["radius_m"], "radius_m", 1, 100_000)
    task.planned_start = _time(row.get("planned_start", ""), zone, "planned_start")
    task.planned_stop = _time(row.get("planned_stop", ""), zone, "planned_stop")
    if task.planned_start and task.planned_stop and task.planned_stop <= task.planned_start:
        raise ValueError("planned_stop is not after planned_start")
    priority = row.get("priority", "").lower()
    if priority:
        if priority not in PRIORITIES:
            raise ValueError(f"priority {row['priority']!r} is not one of low, normal, high, urgent")
        task.priority = PRIORITIES[priority]
    if row.get("vehicle"):
        task.device = vehicles.get(row["vehicle"].lower())
        if task.device is None:
            raise ValueError(f"there is no vehicle {row['vehicle']!r} (name or plate)")
        task.driver = task.device.driver
    return task


def import_tasks(checked: Checked, user=None) -> int:
    """Save every checked task (all or none): through the service, assigned ones through the lifecycle."""
    if checked.errors:
        raise CsvError("The file has errors: nothing was imported.")
    with transaction.atomic():
        for task in checked.tasks:
            services.save_task(task)
            if task.device_id:
                lifecycle.transition(task, Task.Status.ASSIGNED, "dispatcher", user=user, note="imported")
    return len(checked.tasks)


def export(tasks) -> str:
    """The tasks as CSV in the import's columns (plus status), readable by ``read``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, "status"])
    for t in tasks:
        row = [
            t.order_ref,
            t.title,
            t.destination_address,
            round(t.destination.y, 6),
            round(t.destination.x, 6),
            t.poi.name if t.poi else "",
            t.destination_radius_m,
            t.planned_start.isoformat() if t.planned_start else "",
            t.planned_stop.isoformat() if t.planned_stop else "",
            Task.Priority(t.priority).label.lower(),
            t.device.name if t.device else "",
            t.notes,
            t.status,
        ]
        writer.writerow([inert(cell) for cell in row])
    return buffer.getvalue()
