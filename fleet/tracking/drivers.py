"""Who drove which vehicle when: driver assignments over time, set by people or from the driver ids vendors report
on positions (Traccar's ``driverUniqueId`` → ``attributes.driver_unique_id``).

``timelines(...)[device].at(t)`` answers "who drove vehicle X at time t" for every page and report: the
assignment covering t, else the device's fixed driver (``Device.driver``, set by an admin or a vendor), else none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery

from fleet.tracking.models import Device, Driver, DriverAssignment

DRIVER_ID = "driver_unique_id"  # the canonical attribute (fleet/tracking/attributes.py)


@dataclass
class Timeline:
    """One vehicle's assignments in a window, by start, and its fixed driver."""

    assignments: list[DriverAssignment] = field(default_factory=list)
    fixed: Driver | None = None

    def __post_init__(self) -> None:
        self.assignments.sort(key=lambda a: a.start)
        self._starts = [a.start for a in self.assignments]

    def at(self, when: datetime) -> Driver | None:
        return self._assigned(when) or self.fixed

    def during(self, start: datetime, end: datetime) -> Driver | None:
        """Who drove in [start, end]: the driver at ``start``, else the first assigned after it before ``end``
        (a driver's card is often read a few seconds after a trip begins)."""
        if (a := self._assigned(start)) is not None:
            return a
        k = bisect_right(self._starts, start)
        if k < len(self.assignments) and self.assignments[k].start <= end:
            return self.assignments[k].driver
        return self.fixed

    def segments(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, Driver | None]]:
        """[start, end) cut where the driver changes: consecutive (from, to, driver at that time) spans, the
        driver None where nobody drove."""
        inner = {t for a in self.assignments for t in (a.start, a.end) if t is not None and start < t < end}
        cuts = [start, *sorted(inner), end]
        spans: list[tuple[datetime, datetime, Driver | None]] = []
        for a, b in pairwise(cuts):
            driver = self.at(a)
            if spans and _same(spans[-1][2], driver):
                spans[-1] = (spans[-1][0], b, driver)
            elif a < b:
                spans.append((a, b, driver))
        return spans

    def _assigned(self, when: datetime) -> Driver | None:
        k = bisect_right(self._starts, when) - 1
        if k >= 0 and ((a := self.assignments[k]).end is None or when < a.end):
            return a.driver
        return None


def _same(x: Driver | None, y: Driver | None) -> bool:
    return (x.pk if x else None) == (y.pk if y else None)


def timelines(
    devices: Iterable[Device], start: datetime, end: datetime, org_ids: list[int] | None = None
) -> dict[int, Timeline]:
    """Each device's timeline over [start, end] (the devices' ``driver`` should be select_related); with
    ``org_ids`` (every device of those organisations, e.g. the live map's), one query by organisation."""
    devices = list(devices)
    where = {"organization_id__in": org_ids} if org_ids is not None else {"device__in": devices}
    rows = DriverAssignment.objects.filter(**where, start__lte=end).filter(Q(end__isnull=True) | Q(end__gt=start))
    by_device = defaultdict(list)
    for a in rows.select_related("driver"):
        by_device[a.device_id].append(a)
    return {d.pk: Timeline(by_device[d.pk], d.driver if d.driver_id else None) for d in devices}


def assigned_at(org_ids: list[int], when: datetime) -> dict[int, str]:
    """Device pk -> the name of the driver an assignment covering ``when`` names (the latest started, as
    ``Timeline.at``), for every vehicle of these organisations; the others have their fixed driver. The live map's
    answer for a whole fleet at once, without a timeline per vehicle."""
    rows = DriverAssignment.objects.filter(organization_id__in=org_ids, start__lte=when)
    rows = rows.filter(Q(end__isnull=True) | Q(end__gt=when)).order_by("start", "pk")
    return dict(rows.values_list("device_id", "driver__name"))


def driver_at(device: Device, when: datetime) -> Driver | None:
    return timelines([device], when, when)[device.pk].at(when)


def overlapping(device_id: int, start: datetime, end: datetime | None, exclude: int | None = None):
    clash = DriverAssignment.objects.filter(device_id=device_id).filter(Q(end__isnull=True) | Q(end__gt=start))
    if end is not None:
        clash = clash.filter(start__lt=end)
    return clash.exclude(pk=exclude).select_related("driver", "device").order_by("start")


def describe(a: DriverAssignment, tz) -> str:
    until = f"until {a.end.astimezone(tz):%Y-%m-%d %H:%M}" if a.end else "with no end"
    return f"{a.driver.name} drives {a.device.name} from {a.start.astimezone(tz):%Y-%m-%d %H:%M} {until}"


def save_assignment(a: DriverAssignment, tz) -> DriverAssignment:
    """Save a new or edited assignment; refuse (ValidationError) an end before the start, a driver of another
    organisation, or one that overlaps another assignment of the vehicle."""
    if a.end is not None and a.end <= a.start:
        raise ValidationError({"end": "The end must be after the start."})
    if a.driver.organization_id != a.device.organization_id:
        raise ValidationError({"driver": "That driver belongs to another organisation than the vehicle."})
    a.organization_id = a.device.organization_id
    with transaction.atomic():
        Device.objects.select_for_update().filter(pk=a.device_id).first()  # one writer per vehicle at a time
        clash = overlapping(a.device_id, a.start, a.end, exclude=a.pk).first()
        if clash is not None:
            raise ValidationError(f"This overlaps another assignment: {describe(clash, tz)}.")
        a.save()
    return a


# ---------------------------------------------------------------- automatic assignment from vendors' driver ids


def on_positions(organization_id: int, stored: list) -> None:
    """The ingest subscriber: a driver id on a fix opens an assignment of that driver from the fix's time (closing
    the vehicle's open one) unless the vehicle's latest assignment already names the driver. Fixes older than the
    latest assignment's start, and times a closed assignment covers, are left alone (a person set those)."""
    reports = defaultdict(list)  # device pk -> [(fix time, driver id)] in fix-time order
    for s in stored:
        if uid := s.record.attributes.get(DRIVER_ID):
            reports[s.device_id].append((s.record.fix_time, str(uid)))
    if reports:
        apply_reports(organization_id, reports)


def apply_reports(organization_id: int, reports: dict[int, list[tuple[datetime, str]]]) -> None:
    uids = {uid for rows in reports.values() for _, uid in rows}
    known = Driver.objects.filter(organization_id=organization_id, unique_id__in=uids, retired__isnull=True)
    by_uid = dict(known.order_by("-account_id").values_list("unique_id", "pk"))
    if not by_uid:
        return
    with transaction.atomic():  # the vehicles locked: a stream and a sync of one vehicle never both open one
        list(Device.objects.select_for_update().filter(pk__in=reports.keys()).order_by("pk").values_list("pk"))
        newest = DriverAssignment.objects.filter(device_id=OuterRef("device_id")).order_by("-start").values("start")
        latest = DriverAssignment.objects.filter(device_id__in=reports.keys(), start=Subquery(newest[:1]))
        closed, opened = _changes(organization_id, reports, by_uid, {a.device_id: a for a in latest})
        DriverAssignment.objects.bulk_update([a for a in closed if a.pk], ["end"])
        DriverAssignment.objects.bulk_create(opened)  # one opened and closed within this batch has its end


def _changes(organization_id: int, reports: dict, by_uid: dict[str, int], latest: dict[int, DriverAssignment]):
    """The assignments to close and to open for the reported driver ids, vehicle by vehicle in time order."""
    closed, opened = [], []
    for device_id, rows in reports.items():
        current = latest.get(device_id)
        for when, uid in rows:
            driver_id = by_uid.get(uid)
            if driver_id is None or (current is not None and when <= current.start):
                continue
            if current is not None and (current.end is None or when < current.end):
                if current.driver_id == driver_id or current.end is not None:
                    continue
                current.end = when
                closed.append(current)
            current = DriverAssignment(
                organization_id=organization_id,
                device_id=device_id,
                driver_id=driver_id,
                start=when,
                source=DriverAssignment.Source.VENDOR,
            )
            opened.append(current)
    return closed, opened
