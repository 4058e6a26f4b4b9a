"""Help for assigning a task: the vehicles nearest to its destination, with an ETA and their open task load."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.db.models import Count, Q
from django.utils import timezone

from fleet.core.geodesy import haversine_m
from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task
from fleet.tracking.models import Device, Position

ETA_SPEED_KMH = 30.0  # when a vehicle's recent average speed is unknown


def nearest(task: Task, limit: int = 5) -> list[dict]:
    """The organisation's vehicles nearest to the task's destination (straight-line), with an ETA from each one's
    average speed over its last hour of fixes (30 km/h when unknown) and its open task load."""
    devices = list(
        Device.objects.filter(
            organization_id=task.organization_id, retired__isnull=True, disabled=False, last_latitude__isnull=False
        )
        .annotate(load=Count("tasks", filter=Q(tasks__status__in=lifecycle.TRACKED)))
        .select_related("driver")
    )
    if not devices:
        return []
    lat = np.array([d.last_latitude for d in devices])
    lon = np.array([d.last_longitude for d in devices])
    metres = haversine_m(task.destination.y, task.destination.x, lat, lon)
    order = np.argsort(metres)[:limit]
    since = timezone.now() - timedelta(hours=1)
    out = []
    for k in order.tolist():
        device = devices[k]
        speeds = Position.objects.filter(device=device, fix_time__gte=since, speed__gt=1).values_list(
            "speed", flat=True
        )
        speeds = list(speeds[:2000])
        kmh = float(np.mean(speeds)) if speeds else ETA_SPEED_KMH
        out.append(
            {
                "device": device,
                "km": metres[k] / 1000,
                "eta_min": metres[k] / 1000 / max(kmh, 5.0) * 60,
                "speed": kmh,
                "load": device.load,
                "driver": device.driver,
            }
        )
    return out
