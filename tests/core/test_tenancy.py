"""A user of org A never sees org B's objects: every page and admin view answers 404."""

import pytest
from django.contrib import admin
from django.urls import reverse

from fleet.core.scoping import for_user
from fleet.tracking.models import Device, Position


def admin_url(obj, view: str) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


OBJECTS = [
    "organization",
    "vendoraccount",
    "devicegroup",
    "driver",
    "device",
    "position",
    "geofence",
    "poi",
    "task",
    "event",
    "beacon",
    "syncrun",
    "vendorlink",
    "membership",
    "ingestbacklog",
]


@pytest.mark.parametrize("name", OBJECTS)
@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_another_orgs_object_is_404_in_the_admin(client, user_a, world_a, world_b, name, view):
    client.force_login(user_a)
    assert client.get(admin_url(world_a[name], view)).status_code == 200
    assert client.get(admin_url(world_b[name], view)).status_code == 404


@pytest.mark.parametrize(
    "model",
    [m for m in admin.site._registry if m._meta.app_label in {"core", "tracking", "geo", "dispatch", "vendors"}],
    ids=str,
)
def test_admin_lists_show_only_the_users_organisation(client, user_a, world_a, world_b, model):
    from fleet.core.admin.users import SuperuserOnly

    client.force_login(user_a)
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    if isinstance(admin.site._registry[model], SuperuserOnly):  # data of no organisation: superusers only
        assert response.status_code == 403
        return
    assert response.status_code == 200
    visible = set(response.context["cl"].queryset.values_list("pk", flat=True))
    theirs = {o.pk for o in world_b.values() if isinstance(o, model)}
    ours = {o.pk for o in world_a.values() if isinstance(o, model)}
    assert ours <= visible
    assert not theirs & visible


def test_admin_forms_offer_only_the_users_organisations(client, user_a, world_a, world_b):
    client.force_login(user_a)
    form = client.get(reverse("admin:tracking_device_add")).context["adminform"].form
    assert list(form.fields["organization"].queryset) == [world_a["organization"]]
    assert list(form.fields["group"].queryset) == [world_a["devicegroup"]]


def test_a_device_page_of_another_org_is_404(client, user_a, world_a, world_b):
    client.force_login(user_a)
    assert client.get(reverse("device-detail", args=[world_a["device"].pk])).status_code == 200
    assert client.get(reverse("device-detail", args=[world_b["device"].pk])).status_code == 404


def test_the_device_list_shows_only_the_users_devices(client, user_a, world_a, world_b):
    client.force_login(user_a)
    body = client.get(reverse("device-list")).content.decode()
    assert world_a["device"].name in body
    assert world_b["device"].name not in body


def test_the_accounts_page_lists_only_the_users_accounts(client, user_a, world_a, world_b):
    client.force_login(user_a)
    body = client.get(reverse("account-list")).content.decode()
    assert world_a["vendoraccount"].name in body
    assert world_b["vendoraccount"].name not in body


def test_positions_are_scoped_through_their_device(user_a, world_a, world_b):
    assert list(for_user(Position.objects.all(), user_a)) == [world_a["position"]]


def test_a_superuser_sees_every_organisation(superuser, world_a, world_b):
    assert for_user(Device.objects.all(), superuser).count() == 2


def test_a_user_without_membership_sees_nothing(django_user_model, world_a):
    nobody = django_user_model.objects.create_user("nobody", password="x")
    assert not for_user(Device.objects.all(), nobody).exists()
