"""GeoJSON for the live map's overlay layers: plain dicts, one builder per model."""

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task
from fleet.geo.models import POI, Geofence
from fleet.tracking.models import Beacon

OPEN_TASKS = lifecycle.OPEN
CLOSED_TASKS_SHOWN_FOR = timedelta(hours=24)


def collection(features: Iterable[dict]) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def feature(geometry, **properties: object) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": geometry.geom_type, "coordinates": geometry.coords},
        "properties": properties,
    }


def geofence_feature(g: Geofence) -> dict:
    return feature(
        g.geometry,
        id=g.pk,
        org=g.organization_id,
        name=g.name,
        kind=g.kind,
        colour=g.colour,
        radius_m=g.radius_m,
        width_m=g.width_m,
        description=g.description,
    )


def poi_feature(p: POI) -> dict:
    return feature(
        p.point,
        id=p.pk,
        org=p.organization_id,
        name=p.name,
        purpose=p.purpose,
        colour=p.colour,
        radius_m=p.radius_m,
        address=p.address,
    )


def task_feature(t: Task) -> dict:
    return feature(
        t.destination,
        id=t.pk,
        org=t.organization_id,
        order_ref=t.order_ref,
        title=t.title,
        status=t.status,
        device=t.device_id,
        address=t.destination_address,
    )


def beacon_feature(b: Beacon) -> dict:
    return feature(b.point, id=b.pk, org=b.organization_id, name=str(b), floor=b.floor, battery_level=b.battery_level)


def shown_tasks(tasks):
    """Open tasks, plus tasks closed in the last day (so a dispatcher sees what just finished)."""
    recent = timezone.now() - CLOSED_TASKS_SHOWN_FOR
    return tasks.filter(Q(status__in=OPEN_TASKS) | Q(updated__gte=recent))


def layers(geofences, pois, tasks, beacons) -> dict:
    return {
        "geofences": collection(geofence_feature(g) for g in geofences),
        "pois": collection(poi_feature(p) for p in pois),
        "tasks": collection(task_feature(t) for t in shown_tasks(tasks)),
        "beacons": collection(beacon_feature(b) for b in beacons.exclude(point=None)),
    }
