"""An organisation's admin, with every permission the role grants, walks the whole admin: changelists and their
filters, add and change forms, raw-id and autocomplete lookups, the "view on site" shortcut. Nothing of the
other organisation (named "zulu" here, so any trace of it is easy to spot) appears, and its objects answer
exactly as missing ones. Users, groups and tokens are for superusers only."""

import io
import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse

from fleet.core.admin import OrgScopedAdmin, ReadOnlyAdmin, ScopedRelatedFieldListFilter
from fleet.core.admin.users import SuperuserOnly
from fleet.core.models import Membership, Organization
from fleet.reports.models import ReportJob, ScheduledReport
from fleet.tracking.models import DriverAssignment, Event
from fleet.vendors.models import CommandLog, SyncRun, VendorLink
from tests.conftest import T0, make_org, make_user

MISSING = 987654321


def page(response) -> str:
    """The page without its CSRF token, which is masked differently in every response (the 404 page's log-out form)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


SCOPED = [model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, OrgScopedAdmin)]
# Written by fleet itself, added by superusers only (organisations) or on the Members page (memberships).
NO_ADD = {ScheduledReport, SyncRun, Organization, Membership} | {
    model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, ReadOnlyAdmin)
}


@pytest.fixture
def org_b(db):
    return make_org("zulu")  # every name of the other organisation's objects contains "zulu"


@pytest.fixture
def user_a(django_user_model, org_a):
    """Org A's admin: staff, with the permissions of every app it administers (reports included)."""
    user = make_user(django_user_model, "alice", org_a)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="reports"))
    return user


@pytest.fixture
def user_b(django_user_model, org_b):
    return make_user(django_user_model, "zulu-bob", org_b)


@pytest.fixture
def jobs(world_a, world_b, user_a, user_b) -> dict:
    a = ReportJob.objects.create(organization=world_a["organization"], user=user_a, kind="trips")
    b = ReportJob.objects.create(organization=world_b["organization"], user=user_b, kind="zulu")
    for world in (world_a, world_b):  # who drives: listed with the driver's and the vehicle's names
        world["driverassignment"] = DriverAssignment.objects.create(
            organization=world["organization"], device=world["device"], driver=world["driver"], start=T0
        )
        world["commandlog"] = CommandLog.objects.create(  # a command sent to the device, and its answer
            organization=world["organization"], device=world["device"], type="engineStop", status="ok"
        )
    return {"a": a, "b": b}


@pytest.fixture
def alice(client, user_a, world_a, world_b, jobs):
    client.force_login(user_a)
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def theirs(world_b: dict, jobs: dict) -> set:
    return {(type(o), o.pk) for o in [*world_b.values(), jobs["b"]] if o is not None}


def assert_nothing_of_zulu(response, world_b: dict) -> None:
    body = response.content.decode().lower()
    assert "zulu" not in body
    assert str(world_b["position"]).lower() not in body  # a position's label: device id and time


@pytest.mark.parametrize("model", SCOPED, ids=str)
def test_every_changelist_and_its_filters_show_nothing_of_another_org(alice, world_b, jobs, model):
    for query in ("", "?_facets=True"):
        response = alice.get(url(model, "changelist") + query)
        assert response.status_code == 200
        assert_nothing_of_zulu(response, world_b)
    for spec in response.context["cl"].filter_specs:
        if isinstance(spec, ScopedRelatedFieldListFilter):
            related = spec.field.related_model
            assert not {(related, pk) for pk, _ in spec.lookup_choices} & theirs(world_b, jobs)


@pytest.mark.parametrize("model", SCOPED, ids=str)
def test_every_relation_filter_is_scoped(rf, user_a, model):
    request = rf.get("/")
    request.user = user_a
    model_admin = admin.site._registry[model]
    for entry in model_admin.get_list_filter(request):
        if isinstance(entry, str):
            assert not get_fields_from_path(model, entry)[-1].is_relation, entry


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_another_orgs_object_answers_every_object_view_as_a_missing_one(alice, world_b, jobs, view):
    for obj in [o for o in world_b.values() if o is not None] + [jobs["b"]]:
        other, missing = alice.get(url(type(obj), view, obj.pk)), alice.get(url(type(obj), view, MISSING))
        assert other.status_code == missing.status_code == 404, obj
        assert page(other) == page(missing)


def test_filtering_on_another_orgs_object_answers_as_filtering_on_a_missing_one(alice, world_a, world_b):
    listed = {}
    for key, pk in (("theirs", world_b["organization"].pk), ("missing", MISSING)):
        response = alice.get(url(Event, "changelist") + f"?organization__id__exact={pk}")
        assert response.status_code == 200
        assert_nothing_of_zulu(response, world_b)
        listed[key] = list(response.context["cl"].result_list)
    assert listed["theirs"] == listed["missing"]


def test_a_superuser_still_filters_by_every_organisation(client, superuser, world_a, world_b):
    client.force_login(superuser)
    response = client.get(url(Event, "changelist"))
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "field_path", "") == "organization")
    assert {label for _, label in spec.lookup_choices} == {"Org A", "Org ZULU"}


def form_pages(world_a: dict, jobs: dict) -> list[tuple[type, str, list]]:
    """Every add page the user may open and the change page of one object of their own of every model."""
    pages = [(m, "add", []) for m in SCOPED if m not in NO_ADD]
    own = [o for o in [*world_a.values(), jobs["a"]] if o is not None]
    return pages + [(type(o), "change", [o.pk]) for o in own]


def test_every_add_and_change_form_offers_nothing_of_another_org(alice, world_a, world_b, jobs):
    for model, view, args in form_pages(world_a, jobs):
        response = alice.get(url(model, view, *args))
        assert response.status_code == 200, (model, view)
        assert_nothing_of_zulu(response, world_b)
        form = response.context["adminform"].form
        for name, field in form.fields.items():
            if hasattr(field, "queryset"):
                choices = {(field.queryset.model, pk) for pk in field.queryset.values_list("pk", flat=True)}
                assert not choices & theirs(world_b, jobs), (model, name)
    for model in NO_ADD:
        assert alice.get(url(model, "add")).status_code == 403


def position_widget(response) -> str:
    return str(response.context["adminform"].form["position"])


def test_a_rejected_form_labels_another_orgs_raw_id_as_a_missing_one(alice, world_a, world_b):
    change = url(Event, "change", world_a["event"].pk)
    theirs_posted = alice.post(change, {"position": world_b["position"].pk})
    missing_posted = alice.post(change, {"position": MISSING})
    assert theirs_posted.status_code == missing_posted.status_code == 200  # re-rendered with errors
    assert_nothing_of_zulu(theirs_posted, world_b)
    widget = position_widget(theirs_posted).replace(f'value="{world_b["position"].pk}"', 'value="ID"')
    assert widget == position_widget(missing_posted).replace(f'value="{MISSING}"', 'value="ID"')
    errors = theirs_posted.context["adminform"].form.errors["position"]
    assert errors == missing_posted.context["adminform"].form.errors["position"]


def test_a_raw_id_of_the_users_own_org_still_shows_its_label(alice, world_a, world_b):
    response = alice.post(url(Event, "change", world_a["event"].pk), {"position": world_a["position"].pk})
    assert str(world_a["position"]) in position_widget(response)


def test_an_add_page_ignores_another_orgs_object_given_as_initial_value(alice, world_a, world_b):
    b = world_b
    query = f"?position={b['position'].pk}&device={b['device'].pk}&organization={b['organization'].pk}"
    response = alice.get(url(Event, "add") + query)
    assert_nothing_of_zulu(response, world_b)
    assert f'value="{b["device"].pk}" selected' not in response.content.decode()


@pytest.mark.parametrize("model_name", ["event", "position"])
def test_the_autocomplete_finds_only_the_users_devices(alice, world_a, world_b, model_name):
    params = {"app_label": "tracking", "model_name": model_name, "field_name": "device"}
    for term in ("", "van", "zulu"):
        response = alice.get(reverse("admin:autocomplete"), {**params, "term": term})
        assert response.status_code == 200
        expected = [] if term == "zulu" else [str(world_a["device"].pk)]
        assert [r["id"] for r in response.json()["results"]] == expected


def test_the_raw_id_lookup_popup_lists_only_the_users_positions(alice, world_a, world_b):
    response = alice.get(url(type(world_a["position"]), "changelist") + "?_to_field=id&_popup=1")
    assert list(response.context["cl"].result_list) == [world_a["position"]]
    assert_nothing_of_zulu(response, world_b)


def shortcut(obj_or_model, pk=None) -> str:
    model = obj_or_model if pk is not None else type(obj_or_model)
    content_type = ContentType.objects.get_for_model(model)
    return reverse("admin:view_on_site", args=[content_type.pk, obj_or_model.pk if pk is None else pk])


def test_view_on_site_redirects_to_the_users_own_object(alice, jobs):
    response = alice.get(shortcut(jobs["a"]))
    assert response.status_code == 302 and response.url == jobs["a"].get_absolute_url()


def test_view_on_site_answers_another_orgs_object_as_a_missing_one(alice, world_b, jobs, user_b):
    for obj in [*[o for o in world_b.values() if o is not None], jobs["b"], user_b]:
        other, missing = alice.get(shortcut(obj)), alice.get(shortcut(type(obj), MISSING))
        assert other.status_code == missing.status_code == 404, obj
        assert page(other) == page(missing)
    assert alice.get(reverse("admin:view_on_site", args=[MISSING, 1])).status_code == 404


def test_view_on_site_still_redirects_a_superuser_to_any_object(client, superuser, jobs):
    client.force_login(superuser)
    assert client.get(shortcut(jobs["b"])).status_code == 302


@pytest.fixture
def alice_with_auth_permissions(alice, user_a):
    auth_apps = ["auth", "authtoken"]
    user_a.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=auth_apps))
    return alice


def test_users_groups_and_tokens_are_closed_to_an_org_admin_even_with_permissions(
    alice_with_auth_permissions, user_a, user_b
):
    client = alice_with_auth_permissions
    user_model = type(user_a)
    closed = [
        url(user_model, "changelist"),
        url(user_model, "add"),
        url(user_model, "change", user_a.pk),
        url(user_model, "change", user_b.pk),
        reverse("admin:auth_user_password_change", args=[user_b.pk]),
        reverse("admin:auth_group_changelist"),
        reverse("admin:authtoken_tokenproxy_changelist"),
    ]
    for address in closed:
        assert client.get(address).status_code == 403, address
    assert client.post(closed[4], {"password1": "x-Secret-99", "password2": "x-Secret-99"}).status_code == 403
    params = {"app_label": "core", "model_name": "membership", "field_name": "user", "term": ""}
    assert client.get(reverse("admin:autocomplete"), params).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert url(user_model, "changelist") not in index and "zulu" not in index.lower()


def test_every_admin_is_org_scoped_or_for_superusers_only():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, OrgScopedAdmin | SuperuserOnly), model


def test_an_org_admin_adds_no_membership_and_picks_no_user_in_the_admin(alice, world_a):
    assert alice.get(url(Membership, "add")).status_code == 403
    form = alice.get(url(Membership, "change", world_a["membership"].pk)).context["adminform"].form
    assert list(form.fields) == ["role"]


def test_the_admin_keeps_the_last_admin_of_an_organisation(alice, world_a):
    membership = world_a["membership"]  # alice, the only admin of org A
    response = alice.post(url(Membership, "change", membership.pk), {"role": "viewer"})
    assert response.status_code == 200 and "needs at least one admin" in response.content.decode()
    response = alice.post(url(Membership, "delete", membership.pk), {"post": "yes"})
    assert "needs at least one admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Membership.Role.ADMIN


def test_the_admin_changes_only_memberships_of_orgs_the_user_administers(alice, django_user_model, user_a):
    other = make_org("c")
    Membership.objects.create(user=user_a, organization=other, role=Membership.Role.DISPATCHER)
    colleague = make_user(django_user_model, "carol", other, role=Membership.Role.ADMIN).memberships.get()
    assert alice.get(url(Membership, "delete", colleague.pk)).status_code == 403
    alice.post(url(Membership, "change", colleague.pk), {"role": "viewer"})
    action = {"action": "delete_selected", "_selected_action": [colleague.pk], "post": "yes"}
    alice.post(url(Membership, "changelist"), action)
    colleague.refresh_from_db()
    assert colleague.role == Membership.Role.ADMIN


def test_a_vendor_link_to_another_orgs_object_is_refused_as_a_missing_one(alice, world_a, world_b):
    geofences = ContentType.objects.get_for_model(type(world_a["geofence"]))
    data = {"account": world_a["vendoraccount"].pk, "content_type": geofences.pk, "vendor_id": "99"}
    errors = {}
    for key, pk in (("theirs", world_b["geofence"].pk), ("missing", MISSING)):
        response = alice.post(url(VendorLink, "add"), {**data, "object_id": pk})
        errors[key] = [e.replace(f"id {pk} ", "id ID ") for e in response.context["adminform"].form.errors["object_id"]]
    assert errors["theirs"] == errors["missing"] and errors["theirs"]
    assert not VendorLink.objects.filter(vendor_id="99").exists()


def nav_links(client) -> list[str]:
    return re.findall(r"<nav>(.*?)</nav>", client.get(reverse("device-list")).content.decode(), re.S)


def test_the_nav_shows_admin_only_to_staff_who_can_use_it(client, django_user_model, org_a, user_a, superuser):
    dispatcher = make_user(django_user_model, "dan", org_a, role=Membership.Role.DISPATCHER, staff=False)
    idle_staff = django_user_model.objects.create_user("sam", password="x", is_staff=True)
    expected = {dispatcher: False, idle_staff: False, user_a: True, superuser: True}
    for user, shown in expected.items():
        client.force_login(user)
        assert (reverse("admin:index") in nav_links(client)[0]) is shown, user


def test_the_demo_dispatcher_is_not_staff(db, client):
    call_command("seeddemo", stdout=io.StringIO())
    user_model = Membership._meta.get_field("user").related_model
    dispatcher, admin_user = user_model.objects.get(username="dispatcher"), user_model.objects.get(username="admin")
    assert not dispatcher.is_staff and admin_user.is_staff and admin_user.is_superuser
    client.force_login(dispatcher)
    assert reverse("admin:index") not in nav_links(client)[0]
