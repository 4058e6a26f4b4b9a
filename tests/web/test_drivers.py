"""The Drivers pages: list, create, edit, delete; assignments by hand (times in the organisation's zone, overlaps
refused with a message); roles and organisation scoping."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from fleet.core.models import Membership
from fleet.tracking import drivers
from fleet.tracking.models import Driver, DriverAssignment
from tests.conftest import make_device, make_user


@pytest.fixture
def viewer(django_user_model, org_a):
    return make_user(django_user_model, "vera", org_a, role=Membership.Role.VIEWER, staff=False)


def test_the_list_shows_the_organisations_drivers_and_who_drives_what_now(client, user_a, world_a, world_b):
    aino = Driver.objects.create(organization=world_a["organization"], name="Aino", unique_id="0A1B", licence="B")
    now = datetime.now(UTC)
    drivers.save_assignment(
        DriverAssignment(device=world_a["device"], driver=aino, start=now - timedelta(hours=1)), UTC
    )
    client.force_login(user_a)
    response = client.get(reverse("driver-list"))
    rows = {d.name: d for d in response.context["drivers"]}
    assert set(rows) == {"Aino", "a driver"}  # not org B's
    assert rows["Aino"].vehicle == world_a["device"] and rows["a driver"].vehicle is None
    assert "0A1B" in response.content.decode()
    assert [d.name for d in client.get(reverse("driver-list"), {"q": "0a1"}).context["drivers"]] == ["Aino"]


def test_a_dispatcher_creates_edits_and_deletes_a_driver(client, user_a, org_a):
    client.force_login(user_a)
    fields = {"organization": org_a.pk, "name": "Liisa", "unique_id": "RF-9", "phone": "+358 40 1", "licence": "C"}
    response = client.post(reverse("driver-new"), fields)
    liisa = Driver.objects.get(name="Liisa")
    assert response.status_code == 302 and (liisa.unique_id, liisa.licence, liisa.account) == ("RF-9", "C", None)
    client.post(reverse("driver-edit", args=[liisa.pk]), {**fields, "licence": "C, CE"})
    liisa.refresh_from_db()
    assert liisa.licence == "C, CE"
    assert client.post(reverse("driver-delete", args=[liisa.pk])).status_code == 302
    assert not Driver.objects.filter(pk=liisa.pk).exists()


def test_a_vendors_driver_keeps_the_vendors_fields_and_is_not_deleted(client, user_a, world_a):
    synced = Driver.objects.create(
        organization=world_a["organization"], account=world_a["vendoraccount"], vendor_id="7", name="Synced"
    )
    client.force_login(user_a)
    fields = {"organization": world_a["organization"].pk, "name": "Renamed", "unique_id": "X", "licence": "B"}
    client.post(reverse("driver-edit", args=[synced.pk]), fields)
    synced.refresh_from_db()
    assert (synced.name, synced.unique_id, synced.licence) == ("Synced", "", "B")
    client.post(reverse("driver-delete", args=[synced.pk]))
    assert Driver.objects.filter(pk=synced.pk).exists()


def test_an_assignment_is_read_in_the_organisations_time_zone(client, user_a, world_a):
    org = world_a["organization"]
    org.timezone = "Europe/Helsinki"
    org.save()
    driver, van = world_a["driver"], world_a["device"]
    client.force_login(user_a)
    url = reverse("driver-assign", args=[driver.pk])
    response = client.post(url, {"device": van.pk, "start": "2026-11-20T10:00", "end": ""})
    assert response.status_code == 302
    a = DriverAssignment.objects.get()
    assert (a.device, a.start, a.end, a.source) == (van, datetime(2026, 11, 20, 8, 0, tzinfo=UTC), None, "fleet")
    page = client.get(reverse("driver-edit", args=[driver.pk])).content.decode()
    assert "2026-11-20 10:00" in page and "until further notice" in page


def test_an_overlapping_assignment_is_refused_with_a_message(client, user_a, world_a):
    driver, van = world_a["driver"], world_a["device"]
    other = Driver.objects.create(organization=world_a["organization"], name="Other")
    client.force_login(user_a)
    client.post(reverse("driver-assign", args=[driver.pk]), {"device": van.pk, "start": "2026-11-20T10:00"})
    response = client.post(
        reverse("driver-assign", args=[other.pk]),
        {"device": van.pk, "start": "2026-11-20T09:00", "end": "2026-11-20T11:00"},
    )
    assert response.status_code == 400
    assert "overlaps another assignment: a driver drives a van from 2026-11-20 10:00 with no end" in (
        response.content.decode()
    )
    assert DriverAssignment.objects.count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"device": "", "start": "2026-11-20T10:00"},
        {"start": "tomorrow"},
        {"start": "2026-11-20T10:00", "end": "2026-11-20T09:00"},
    ],
)
def test_bad_assignment_input_is_a_form_error(client, user_a, world_a, data):
    client.force_login(user_a)
    data = {"device": world_a["device"].pk, **data}
    response = client.post(reverse("driver-assign", args=[world_a["driver"].pk]), data)
    assert response.status_code == 400 and not DriverAssignment.objects.exists()


def test_another_organisations_vehicle_or_driver_cannot_be_used(client, user_a, world_a, world_b):
    client.force_login(user_a)
    theirs = {"device": world_b["device"].pk, "start": "2026-11-20T10:00"}
    assert client.post(reverse("driver-assign", args=[world_a["driver"].pk]), theirs).status_code == 400
    ours = {"device": world_a["device"].pk, "start": "2026-11-20T10:00"}
    assert client.post(reverse("driver-assign", args=[world_b["driver"].pk]), ours).status_code == 404
    assert client.get(reverse("driver-edit", args=[world_b["driver"].pk])).status_code == 404
    assert client.post(reverse("driver-delete", args=[world_b["driver"].pk])).status_code == 404
    b_assignment = drivers.save_assignment(
        DriverAssignment(device=world_b["device"], driver=world_b["driver"], start=datetime.now(UTC)), UTC
    )
    assert client.post(reverse("assignment-delete", args=[b_assignment.pk])).status_code == 404
    assert not DriverAssignment.objects.filter(organization=world_a["organization"]).exists()


def test_a_viewer_sees_drivers_but_changes_nothing(client, world_a, viewer):
    client.force_login(viewer)
    assert client.get(reverse("driver-list")).status_code == 200
    assert client.get(reverse("driver-edit", args=[world_a["driver"].pk])).status_code == 200
    assert client.get(reverse("driver-new")).status_code == 403
    assign = {"device": world_a["device"].pk, "start": "2026-11-20T10:00"}
    assert client.post(reverse("driver-assign", args=[world_a["driver"].pk]), assign).status_code == 403
    assert client.post(reverse("driver-delete", args=[world_a["driver"].pk])).status_code == 403


def test_removing_an_assignment(client, user_a, world_a):
    a = drivers.save_assignment(
        DriverAssignment(device=world_a["device"], driver=world_a["driver"], start=datetime.now(UTC)), UTC
    )
    client.force_login(user_a)
    assert client.post(reverse("assignment-delete", args=[a.pk])).status_code == 302
    assert not DriverAssignment.objects.exists()


def test_the_device_page_names_the_driver_now(client, user_a, org_a):
    van = make_device(org_a, "Van")
    aino = Driver.objects.create(organization=org_a, name="Aino")
    drivers.save_assignment(
        DriverAssignment(device=van, driver=aino, start=datetime.now(UTC) - timedelta(hours=1)), UTC
    )
    client.force_login(user_a)
    response = client.get(reverse("device-detail", args=[van.pk]))
    assert response.context["driver"] == aino and "Aino" in response.content.decode()
