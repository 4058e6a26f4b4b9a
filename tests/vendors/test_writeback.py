import pytest
from django.contrib.gis.geos import LineString, Point, Polygon

from fleet.geo.models import Geofence
from fleet.vendors import sync
from fleet.vendors.models import VendorLink
from tests.vendors.conftest import make_sim_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def eager_celery(settings):
    from fleet.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def vendor_copy(sim, vendor_id: str) -> dict | None:
    return next((g for g in sim.truth()["geofences"] if str(g["id"]) == vendor_id), None)


def test_a_geofence_drawn_in_fleet_is_created_at_the_vendor_lat_first(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    depot = Geofence.objects.create(
        organization=account.organization,
        name="New depot",
        geometry=Polygon(((24.90, 60.10), (24.95, 60.10), (24.95, 60.15), (24.90, 60.10))),
    )
    link = VendorLink.objects.get(object_id=depot.pk, account=account)
    copy = vendor_copy(sim, link.vendor_id)
    assert copy["name"] == "New depot"
    assert copy["area"].replace(" ", "").startswith("POLYGON((60.1")  # latitude first, as Traccar wants


def test_editing_and_deleting_in_fleet_update_and_delete_the_vendors_copy(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    yard = Geofence.objects.create(
        organization=account.organization, name="Yard", kind="circle", geometry=Point(24.9, 60.2), radius_m=150
    )
    vendor_id = VendorLink.objects.get(object_id=yard.pk).vendor_id
    assert vendor_copy(sim, vendor_id)["area"].startswith("CIRCLE (60.2 24.9, 150")
    yard.radius_m = 300
    yard.save()
    assert vendor_copy(sim, vendor_id)["area"].startswith("CIRCLE (60.2 24.9, 300")
    yard.delete()
    assert vendor_copy(sim, vendor_id) is None
    assert not VendorLink.objects.filter(vendor_id=vendor_id).exists()


def test_a_corridor_keeps_its_width_and_a_sync_does_not_echo_it_back(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    road = Geofence.objects.create(
        organization=account.organization, name="Ring road", kind="corridor", width_m=40,
        geometry=LineString((24.9, 60.2), (24.95, 60.21)),
    )  # fmt: skip
    vendor_id = VendorLink.objects.get(object_id=road.pk).vendor_id
    assert vendor_copy(sim, vendor_id)["attributes"]["polylineDistance"] == 40
    before = len(sim.truth()["geofences"])
    sync.sync_account(account)
    assert len(sim.truth()["geofences"]) == before  # nothing pushed back by the pull
    assert Geofence.objects.filter(name="Ring road").count() == 1  # the link matched the vendor's copy
