"""Write-back to iTrack through the write-back service: zones of each shape, places and tasks made in fleet are
created, updated and deleted at the vendor, with their ids in the link table; read back, each shape is the same
within 1 m."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon

from fleet.core.geodesy import haversine_m
from fleet.dispatch import services as dispatch_services
from fleet.dispatch.models import Task
from fleet.geo import services as geo_services
from fleet.geo.models import POI, Geofence
from fleet.tracking.models import Device
from fleet.vendors import sync
from fleet.vendors.models import VendorLink
from tests.vendors.conftest import itrack_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def itrack(simulator):
    sim = simulator("itrack", devices=3)
    return sim, itrack_account(sim)


def link_of(account, obj) -> str:
    return VendorLink.objects.get(account=account, object_id=obj.pk, content_type__model=obj._meta.model_name).vendor_id


def their(sim, table: str, vendor_id: str) -> dict | None:
    return next((row for row in sim.truth()[table] if str(row["id"]) == vendor_id), None)


def within_1m(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return len(a) == len(b) and all(haversine_m(y1, x1, y2, x2) <= 1.0 for (x1, y1), (x2, y2) in zip(a, b, strict=True))


def read_back(account, vendor_id: str):
    with sync.connector_for(account) as connector:
        return next(r for r in connector.geofences() if r.vendor_id == vendor_id)


def coords(g) -> list:
    if g.geom_type == "Point":
        return [g.coords]
    return list(g.exterior_ring.coords if g.geom_type == "Polygon" else g.coords)


SHAPES = {
    "circle": {"geometry": Point(24.9, 60.2), "radius_m": 150},
    "polygon": {"geometry": Polygon(((24.90, 60.10), (24.95, 60.10), (24.95, 60.15), (24.90, 60.10)))},
    "corridor": {"geometry": LineString((24.90, 60.10), (24.93, 60.11), (24.95, 60.12)), "width_m": 60},
}


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_a_zone_of_each_shape_round_trips_within_a_metre(itrack, eager_celery, kind):
    from django.contrib.gis.geos import GEOSGeometry

    sim, account = itrack
    fence = geo_services.save_geofence(
        Geofence(organization=account.organization, name=f"Z {kind}", kind=kind, **SHAPES[kind])
    )
    vendor_id = link_of(account, fence)
    zone = their(sim, "zones", vendor_id)
    assert zone["type"] == {"circle": "circle", "polygon": "polygon", "corridor": "sausage"}[kind]
    record = read_back(account, vendor_id)
    back, sent = GEOSGeometry(record.wkt), fence.geometry
    assert within_1m(coords(back), coords(sent))
    assert (record.radius_m, record.width_m) == (fence.radius_m, fence.width_m)
    if kind == "circle":
        fence.radius_m = 300
    else:
        fence.geometry = (
            Polygon(((24.90, 60.10), (24.96, 60.10), (24.96, 60.15), (24.90, 60.10)))
            if kind == "polygon"
            else LineString((24.90, 60.10), (24.97, 60.13))
        )
    geo_services.save_geofence(fence)
    assert within_1m(coords(GEOSGeometry(read_back(account, vendor_id).wkt)), coords(fence.geometry))
    assert read_back(account, vendor_id).radius_m == fence.radius_m
    assert len([z for z in sim.truth()["zones"] if str(z["id"]) == vendor_id]) == 1  # updated, not created again
    geo_services.delete_geofence(fence)
    assert their(sim, "zones", vendor_id) is None


def test_a_place_saved_in_fleet_is_created_then_updated_and_round_trips(itrack, eager_celery):
    sim, account = itrack
    poi = POI(organization=account.organization, name="Warehouse", point=Point(24.95, 60.19), radius_m=75)
    poi.address, poi.description = "Satamakatu 1", "dock 3"
    geo_services.save_poi(poi)
    vendor_id = link_of(account, poi)
    place = their(sim, "places", vendor_id)
    assert place["location"] == {"lat": 60.19, "lng": 24.95, "address": "Satamakatu 1", "radius": 75}
    assert (place["label"], place["description"]) == ("Warehouse", "dock 3")
    poi.radius_m = 120
    geo_services.save_poi(poi)
    assert their(sim, "places", vendor_id)["location"]["radius"] == 120
    with sync.connector_for(account) as connector:
        record = next(r for r in connector.pois() if r.vendor_id == vendor_id)
        assert haversine_m(record.latitude, record.longitude, 60.19, 24.95) < 1.0 and record.radius_m == 120
        connector.delete_poi(vendor_id)
    assert their(sim, "places", vendor_id) is None


def new_task(account, **kw) -> Task:
    device = Device.objects.filter(account=account).order_by("vendor_id").first()
    start = datetime(2026, 12, 10, 8, 0, tzinfo=UTC)
    task = Task(organization=account.organization, order_ref="ORD-9", device=device, destination=Point(24.9, 60.2))
    task.planned_start, task.planned_stop, task.title = start, start + timedelta(hours=4), "Deliver pallets"
    for key, value in kw.items():
        setattr(task, key, value)
    return dispatch_services.save_task(task)


def test_a_task_is_created_assigned_reassigned_and_cancelled_at_itrack(itrack, eager_celery):
    sim, account = itrack
    sync.sync_account(account)
    task = new_task(account)
    vendor_id = link_of(account, task)
    theirs = their(sim, "tasks", vendor_id)
    assert (theirs["external_id"], theirs["tracker_id"], theirs["status"]) == (
        "ORD-9",
        int(task.device.vendor_id),
        "assigned",
    )
    assert (theirs["from"], theirs["to"]) == ("2026-12-10 10:00:00", "2026-12-10 14:00:00")  # Helsinki, UTC+2
    other = Device.objects.filter(account=account).order_by("vendor_id").last()
    task.device, task.title = other, "Deliver more pallets"
    dispatch_services.save_task(task)
    theirs = their(sim, "tasks", vendor_id)
    assert (theirs["tracker_id"], theirs["label"]) == (int(other.vendor_id), "Deliver more pallets")
    with sync.connector_for(account) as connector:
        record = next(r for r in connector.tasks() if r.vendor_id == vendor_id)
    assert (record.planned_start, record.planned_stop) == (task.planned_start, task.planned_stop)
    assert haversine_m(record.latitude, record.longitude, 60.2, 24.9) < 1.0
    task.status = "cancelled"
    dispatch_services.save_task(task)
    assert their(sim, "tasks", vendor_id) is None  # Navixy has no cancelled status: the task is deleted


def test_a_status_set_at_itrack_comes_back_on_the_next_sync(itrack):
    sim, account = itrack
    sync.sync_account(account)
    (task_id,) = [t["id"] for t in sim.truth()["tasks"]]
    sim.sim.set_task_status(task_id, "done")
    account.refresh_from_db()
    sync.sync_account(account)
    task = Task.objects.get(organization=account.organization, order_ref=str(task_id))
    assert task.status == "completed"
