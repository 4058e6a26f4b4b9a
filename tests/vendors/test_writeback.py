import pytest
from django.contrib.gis.geos import LineString, Point, Polygon
from django.core.exceptions import ValidationError

from fleet.geo import services
from fleet.geo.models import Geofence
from fleet.vendors import sync
from fleet.vendors.models import VendorLink
from tests.conftest import make_user
from tests.vendors.conftest import make_sim_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def eager(eager_celery):
    """Every write-back here runs at once."""


def vendor_copy(sim, vendor_id: str) -> dict | None:
    return next((g for g in sim.truth()["geofences"] if str(g["id"]) == vendor_id), None)


def vendor_geofences(sim) -> list[dict]:
    return sorted(sim.truth()["geofences"], key=lambda g: g["id"])


def test_a_geofence_drawn_in_fleet_is_created_at_the_vendor_lat_first(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    depot = services.save_geofence(
        Geofence(
            organization=account.organization,
            name="New depot",
            geometry=Polygon(((24.90, 60.10), (24.95, 60.10), (24.95, 60.15), (24.90, 60.10))),
        )
    )
    link = VendorLink.objects.get(object_id=depot.pk, account=account)
    copy = vendor_copy(sim, link.vendor_id)
    assert copy["name"] == "New depot"
    assert copy["area"].replace(" ", "").startswith("POLYGON((60.1")  # latitude first, as Traccar wants


def test_editing_and_deleting_in_fleet_update_and_delete_the_vendors_copy(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    yard = services.save_geofence(
        Geofence(
            organization=account.organization, name="Yard", kind="circle", geometry=Point(24.9, 60.2), radius_m=150
        )
    )
    vendor_id = VendorLink.objects.get(object_id=yard.pk).vendor_id
    assert vendor_copy(sim, vendor_id)["area"].startswith("CIRCLE (60.2 24.9, 150")
    yard.radius_m = 300
    services.save_geofence(yard)
    assert vendor_copy(sim, vendor_id)["area"].startswith("CIRCLE (60.2 24.9, 300")
    services.delete_geofence(yard)
    assert vendor_copy(sim, vendor_id) is None
    assert not VendorLink.objects.filter(vendor_id=vendor_id).exists()


def test_a_corridor_keeps_its_width_and_a_sync_does_not_echo_it_back(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    road = services.save_geofence(
        Geofence(
            organization=account.organization,
            name="Ring road",
            kind="corridor",
            width_m=40,
            geometry=LineString((24.9, 60.2), (24.95, 60.21)),
        )
    )
    vendor_id = VendorLink.objects.get(object_id=road.pk).vendor_id
    assert vendor_copy(sim, vendor_id)["attributes"]["polylineDistance"] == 20  # half the width
    before = len(sim.truth()["geofences"])
    sync.sync_account(account)
    assert len(sim.truth()["geofences"]) == before  # nothing pushed back by the pull
    assert Geofence.objects.filter(name="Ring road").count() == 1  # the link matched the vendor's copy


def test_an_invalid_geofence_is_refused_and_nothing_is_pushed(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    before = vendor_geofences(sim)
    with pytest.raises(ValidationError, match="radius"):
        services.save_geofence(
            Geofence(organization=account.organization, name="No radius", kind="circle", geometry=Point(24.9, 60.2))
        )
    assert not Geofence.objects.filter(name="No radius").exists()
    assert vendor_geofences(sim) == before


def test_a_plain_model_save_and_a_sync_pull_push_nothing(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    before = vendor_geofences(sim)
    assert before, "the simulator serves geofences of its own"
    Geofence.objects.create(
        organization=account.organization, name="Scratch", kind="circle", geometry=Point(24.9, 60.2), radius_m=50
    )
    sync.sync_account(account)
    assert Geofence.objects.filter(organization=account.organization).count() == len(before) + 1
    assert vendor_geofences(sim) == before  # neither the scratch row nor the pulled ones were pushed
    assert not VendorLink.objects.filter(account=account, last_pushed__isnull=False).exists()


def admin_client(client, django_user_model, account):
    client.force_login(make_user(django_user_model, "geoadmin", account.organization))
    return client


def test_the_admin_saves_and_deletes_a_geofence_through_the_service(simulator, client, django_user_model):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    client = admin_client(client, django_user_model, account)
    form = {
        "organization": account.organization_id,
        "name": "Admin yard",
        "description": "",
        "kind": "circle",
        "geometry": "SRID=4326;POINT (24.9 60.2)",
        "radius_m": "120",
        "width_m": "",
        "calendar": "",
        "colour": "#3388ff",
        "dwell_s": "0",
        "attributes": "{}",
    }
    response = client.post("/admin/geo/geofence/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    yard = Geofence.objects.get(name="Admin yard")
    vendor_id = VendorLink.objects.get(object_id=yard.pk, account=account).vendor_id
    assert vendor_copy(sim, vendor_id)["area"].startswith("CIRCLE (60.2 24.9, 120")

    response = client.post(f"/admin/geo/geofence/{yard.pk}/change/", {**form, "radius_m": "240"})
    assert response.status_code == 302
    assert vendor_copy(sim, vendor_id)["area"].startswith("CIRCLE (60.2 24.9, 240")

    response = client.post(f"/admin/geo/geofence/{yard.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Geofence.objects.filter(pk=yard.pk).exists()
    assert vendor_copy(sim, vendor_id) is None
    assert not VendorLink.objects.filter(vendor_id=vendor_id, account=account).exists()


def test_the_admins_bulk_delete_removes_every_vendor_copy(simulator, client, django_user_model):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    client = admin_client(client, django_user_model, account)
    fences = [
        services.save_geofence(
            Geofence(
                organization=account.organization,
                name=f"Pin {i}",
                kind="circle",
                geometry=Point(24.9 + i / 100, 60.2),
                radius_m=50,
            )
        )
        for i in range(2)
    ]
    vendor_ids = [VendorLink.objects.get(object_id=g.pk, account=account).vendor_id for g in fences]
    assert all(vendor_copy(sim, v) for v in vendor_ids)
    response = client.post(
        "/admin/geo/geofence/",
        {"action": "delete_selected", "_selected_action": [g.pk for g in fences], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Geofence.objects.filter(pk__in=[g.pk for g in fences]).exists()
    assert [vendor_copy(sim, v) for v in vendor_ids] == [None, None]
    assert not VendorLink.objects.filter(vendor_id__in=vendor_ids, account=account).exists()
