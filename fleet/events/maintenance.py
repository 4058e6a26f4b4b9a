"""Service reminders: when each vehicle's next service of each plan is due, and a ``maintenanceDue`` event (for
the notification rules) once per service cycle when it is.

A vehicle's readings are its latest fix's ``odometer_m`` and ``engine_hours_s`` attributes (as its vendor
reports them). The next service is the last record's readings + the plan's intervals; whichever interval comes
first decides. Due **soon** within a tenth of an interval (a week at most for days); **overdue** once reached.
A vehicle with no record of the plan gets a baseline one (its readings then, the plan's start) the first time the
plan sees it, so a plan made today for a 150,000 km truck is due in ``every_km``, not overdue by years."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from fleet.events import places, run
from fleet.events.engine import MAINTENANCE_DUE, Found
from fleet.events.models import ServicePlan, ServiceRecord
from fleet.tracking.attributes import number
from fleet.tracking.models import Device, Event

OK, SOON, OVERDUE = "ok", "soon", "overdue"
RANK = {OVERDUE: 0, SOON: 1, OK: 2}


@dataclass
class Due:
    plan: ServicePlan
    device: Device
    last: ServiceRecord
    status: str = OK
    left: list[str] = field(default_factory=list)  # "in 420 km", "3 days overdue"...
    next_km: float | None = None
    next_engine_h: float | None = None
    next_date: datetime | None = None
    unknown: list[str] = field(default_factory=list)  # intervals the vehicle reports no reading for

    @property
    def key(self) -> str:
        """One service cycle of the plan on the vehicle: its event is raised once."""
        return f"service:{self.plan.pk}:{self.last.pk}"


def readings(device: Device) -> tuple[float | None, float | None]:
    """(odometer km, engine hours) from the vehicle's latest fix, None where its vendor reports none."""
    attrs = device.last_attributes if isinstance(device.last_attributes, dict) else {}
    metres, seconds = number(attrs.get("odometer_m")), number(attrs.get("engine_hours_s"))
    return (metres / 1000 if metres is not None else None, seconds / 3600 if seconds is not None else None)


def assess(plan: ServicePlan, device: Device, last: ServiceRecord, now: datetime) -> Due:
    due = Due(plan, device, last)
    km, hours = readings(device)
    statuses = []
    for every, base, current, unit, attr in (
        (plan.every_km, last.odometer_km, km, "km", "next_km"),
        (plan.every_engine_h, last.engine_h, hours, "engine hours", "next_engine_h"),
    ):
        if every is None:
            continue
        if base is None or current is None:
            due.unknown.append(unit)
            continue
        target = base + every
        setattr(due, attr, target)
        left = target - current
        statuses.append(OVERDUE if left <= 0 else SOON if left <= every / 10 else OK)
        due.left.append(f"{abs(left):,.0f} {unit} {'overdue' if left <= 0 else 'left'}")
    if plan.every_days is not None:
        target = last.done_at + timedelta(days=plan.every_days)
        due.next_date = target
        left_s = (target - now).total_seconds()
        soon = min(plan.every_days / 10, 7) * 86400
        statuses.append(OVERDUE if left_s <= 0 else SOON if left_s <= soon else OK)
        days = abs(left_s) / 86400
        due.left.append(f"{days:,.0f} days {'overdue' if left_s <= 0 else 'left'}" if days >= 1 else "today")
    due.status = min(statuses, key=RANK.__getitem__) if statuses else OK
    return due


def vehicles(plan: ServicePlan, members: dict[int, set[int]]) -> list[Device]:
    applies = places.applies_to(plan, members)
    devices = Device.objects.filter(organization_id=plan.organization_id, retired__isnull=True, disabled=False)
    if applies is not None:
        devices = devices.filter(pk__in=applies)
    return list(devices.order_by("name"))


def schedule(organization_ids, now: datetime | None = None) -> list[Due]:
    """Every (plan, vehicle) of the organisations with its due state, overdue first; baselines made as needed."""
    now = now or timezone.now()
    out: list[Due] = []
    plans = ServicePlan.objects.filter(organization_id__in=organization_ids).prefetch_related("devices", "groups")
    members_of: dict[int, dict[int, set[int]]] = {}
    for plan in plans:
        members = members_of.setdefault(plan.organization_id, places.group_members(plan.organization_id))
        devices = vehicles(plan, members)
        last = latest_records(plan, devices)
        for device in devices:
            record = last.get(device.pk) or baseline(plan, device, now)
            out.append(assess(plan, device, record, now))
    out.sort(key=lambda d: (RANK[d.status], d.device.name, d.plan.name))
    return out


def latest_records(plan: ServicePlan, devices: list[Device]) -> dict[int, ServiceRecord]:
    last: dict[int, ServiceRecord] = {}
    for record in ServiceRecord.objects.filter(plan=plan, device__in=devices).order_by("device_id", "-done_at", "-pk"):
        last.setdefault(record.device_id, record)
    return last


def baseline(plan: ServicePlan, device: Device, now: datetime) -> ServiceRecord:
    km, hours = readings(device)
    return ServiceRecord.objects.create(
        plan=plan, device=device, done_at=now, odometer_km=km, engine_h=hours, baseline=True
    )


def record_service(due: Due, user, note: str = "", done_at: datetime | None = None) -> ServiceRecord:
    """A service done now (or at ``done_at``) at the vehicle's current readings: the next cycle starts."""
    km, hours = readings(due.device)
    return ServiceRecord.objects.create(
        plan=due.plan,
        device=due.device,
        done_at=done_at or timezone.now(),
        odometer_km=km,
        engine_h=hours,
        note=note,
        user=user,
    )


def check(now: datetime | None = None) -> int:
    """Beat: a ``maintenanceDue`` event for every vehicle whose service is overdue, once per service cycle."""
    now = now or timezone.now()
    org_ids = ServicePlan.objects.values_list("organization_id", flat=True).distinct()
    raised = 0
    for org_id in set(org_ids):
        overdue = [d for d in schedule([org_id], now) if d.status == OVERDUE]
        if not overdue:
            continue
        told = set(
            Event.objects.filter(
                device_id__in={d.device.pk for d in overdue}, type=MAINTENANCE_DUE, key__in={d.key for d in overdue}
            ).values_list("device_id", "key")
        )
        found = [
            Found(d.device.pk, MAINTENANCE_DUE, now.timestamp(), d.key, attributes=_attributes(d))
            for d in overdue
            if (d.device.pk, d.key) not in told
        ]
        if not found:
            continue
        with transaction.atomic():
            created = run.store(org_id, found, [])
        if created:
            transaction.on_commit(lambda o=org_id, c=created: run.tell(o, c))
        raised += len(created)
    return raised


def _attributes(due: Due) -> dict:
    """What the feed, the toast and the e-mail say after the vehicle's name (``zone``: the line's "where")."""
    return {"zone": f"{due.plan.name} ({', '.join(due.left)})", "plan_id": due.plan.pk}
