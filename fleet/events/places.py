"""An organisation's zones for the event engine, loaded from its geofences, POIs and open tasks, kept per
process and rebuilt when one of them changes (signals bump a version in the shared cache, so every process sees
it) or at the latest after ``TTL_S`` (for changes that bypass signals, such as a vendor mirror's bulk update)."""

from __future__ import annotations

import logging

import numpy as np
from django.db.models.signals import m2m_changed, post_delete, post_save

from fleet.events.kept import Kept
from fleet.events.zones import GEOFENCE, POI, TASK, Zone, ZoneIndex
from fleet.geo import calendar
from fleet.geo.shapes import Circle, geofence_shape

log = logging.getLogger(__name__)
TTL_S = 60.0
OPEN_TASKS = ("assigned", "en_route", "arrived", "in_progress")  # dispatch.lifecycle.TRACKED


def index_for(organization_id: int) -> ZoneIndex:
    """The organisation's zones, kept by this process (``kept.Kept``: while the shared cache cannot be read the
    index goes by ``TTL_S`` alone, as failing here would leave the batch's fixes unevaluated for good)."""
    return _indexes.get(organization_id)


def changed(organization_id: int) -> None:
    """Tell every process that the organisation's zones changed."""
    _indexes.changed(organization_id)


def forget() -> None:
    _indexes.forget()


def org_zone(organization_id: int) -> str:
    """The organisation's time zone name (floating calendar times are read in it)."""
    from fleet.core.models import Organization

    return Organization.objects.filter(pk=organization_id).values_list("timezone", flat=True).first() or "UTC"


def group_members(organization_id: int) -> dict[int, set[int]]:
    """Device pks of each of the organisation's groups, in one query."""
    from fleet.tracking.models import Device

    members: dict[int, set[int]] = {}
    rows = Device.objects.filter(organization_id=organization_id, group__isnull=False).values_list("group_id", "pk")
    for group, device in rows:
        members.setdefault(group, set()).add(device)
    return members


def applies_to(owner, members: dict[int, set[int]]) -> frozenset[int] | None:
    """The devices a geofence or a rule (prefetched ``devices`` and ``groups``) applies to; None: every device."""
    devices = {d.pk for d in owner.devices.all()}
    groups = [g.pk for g in owner.groups.all()]
    for group in groups:
        devices |= members.get(group, set())
    return frozenset(devices) if devices or groups else None


def load(organization_id: int) -> list[Zone]:
    from fleet.dispatch.models import Task
    from fleet.geo.models import POI as PoiModel
    from fleet.geo.models import Geofence

    zone_name, members = org_zone(organization_id), group_members(organization_id)
    zones: list[Zone] = []
    fences = Geofence.objects.filter(organization_id=organization_id, retired__isnull=True).prefetch_related(
        "devices", "groups"
    )
    for fence in fences:
        shape = geofence_shape(fence)
        if shape is None:
            continue
        try:
            cal = calendar.parse(fence.calendar, zone_name)
        except calendar.CalendarError as exc:  # stored before the check existed: the geofence is always active
            log.warning("geofence %s: calendar ignored (%s)", fence.pk, exc)
            cal = None
        applies = applies_to(fence, members)
        zones.append(
            Zone(
                f"geofence:{fence.pk}",
                GEOFENCE,
                fence.pk,
                fence.name,
                shape,
                float(fence.dwell_s),
                fence.speed_limit_kmh,
                cal,
                applies,
            )
        )
    for pk, name, point, radius in PoiModel.objects.filter(organization_id=organization_id).values_list(
        "pk", "name", "point", "radius_m"
    ):
        zones.append(Zone(f"poi:{pk}", POI, pk, name, Circle(point.y, point.x, float(radius))))
    tasks = Task.objects.filter(
        organization_id=organization_id, status__in=OPEN_TASKS, device__isnull=False
    ).values_list("pk", "order_ref", "destination", "destination_radius_m", "device_id")
    for pk, ref, point, radius, device in tasks:
        if point is not None and np.isfinite(radius) and radius > 0:
            zones.append(
                Zone(f"task:{pk}", TASK, pk, ref, Circle(point.y, point.x, float(radius)), devices=frozenset({device}))
            )
    return zones


def _on_change(sender, instance, **kwargs) -> None:
    changed(instance.organization_id)


def connect_signals() -> None:
    from fleet.dispatch.models import Task
    from fleet.geo.models import POI as PoiModel
    from fleet.geo.models import Geofence

    for model in (Geofence, PoiModel, Task):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"events-zones-save-{model.__name__}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"events-zones-delete-{model.__name__}")
    for through in (Geofence.devices.through, Geofence.groups.through):
        m2m_changed.connect(_on_change, sender=through, dispatch_uid=f"events-zones-m2m-{through.__name__}")


_indexes: Kept[ZoneIndex] = Kept("zones", TTL_S, lambda organization_id: ZoneIndex(load(organization_id)))
