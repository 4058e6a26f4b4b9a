"""Kinds without a connector: refused when an account is added, harmless when one is already stored."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.utils import timezone

from fleet.geo import services
from fleet.geo.models import Geofence
from fleet.vendors import base, reports, stream, sync, tasks, writeback
from fleet.vendors.models import SyncRun, VendorAccount, VendorLink
from fleet.vendors.registry import CONNECTORS, KIND_CHOICES, capabilities, connector_class
from tests.conftest import make_account, make_device, make_user


def test_the_registry_lists_only_kinds_whose_connector_exists():
    assert sorted(CONNECTORS) == ["datatrak", "fleetv2", "itrack", "metrotec", "safectory"]
    assert VendorAccount._meta.get_field("kind").choices == KIND_CHOICES
    with pytest.raises(LookupError, match="no connector for kind 'acme'"):
        connector_class("acme")
    assert capabilities("acme") == frozenset()
    assert base.STREAM in capabilities("safectory")


@pytest.fixture
def orphan(org_a) -> VendorAccount:
    """An account stored before its kind left the registry (create() does not validate choices)."""
    return make_account(org_a, name="Old Acme", kind="acme", next_run=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def staff_client(client, django_user_model, org_a):
    client.force_login(make_user(django_user_model, "staffer", org_a))
    return client


def account_form(org, **fields) -> dict:
    return {
        "organization": org.pk,
        "name": "New",
        "base_url": "https://track.example.com",
        "enabled": "on",
        "sync_interval_s": "60",
        "username": "ops",
        "password": "secret",
        "token": "",
        **fields,
    }


def test_the_admin_refuses_a_kind_without_a_connector(staff_client, org_a):
    response = staff_client.post("/admin/vendors/vendoraccount/add/", account_form(org_a, kind="acme"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["kind"]
    assert errors["kind"] == [
        "No connector for kind 'acme': fleet can sync datatrak, fleetv2, itrack, metrotec, safectory."
    ]
    assert not VendorAccount.objects.filter(name="New").exists()


def test_the_admin_still_adds_a_kind_with_a_connector(staff_client, org_a):
    response = staff_client.post("/admin/vendors/vendoraccount/add/", account_form(org_a, kind="safectory"))
    assert response.status_code == 302
    assert VendorAccount.objects.get(name="New").kind == "safectory"


def test_addaccount_refuses_a_kind_without_a_connector(org_a):
    with pytest.raises(
        CommandError,
        match=r"--kind: invalid choice: 'acme' \(choose from 'datatrak', 'fleetv2', 'itrack', 'metrotec', 'safectory'",
    ):
        call_command(
            "addaccount",
            "--org",
            org_a.slug,
            "--kind",
            "acme",
            "--name",
            "x",
            "--base-url",
            "http://h",
            "--token",
            "t",
        )
    assert not VendorAccount.objects.filter(name="x").exists()


def test_a_sync_of_a_stored_account_without_a_connector_disables_it_with_a_clear_error(orphan):
    run = sync.sync_account(orphan)
    assert (run.status, run.error) == (SyncRun.Status.ERROR, "no connector for kind 'acme'")
    orphan.refresh_from_db()
    assert orphan.disabled_by_error
    assert orphan.last_error == "no connector for kind 'acme'"


def test_the_sync_loop_tries_it_once_and_then_leaves_it_alone(orphan, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.sync_account, "delay", queued.append)
    assert tasks.enqueue_due_syncs() == 1
    assert tasks.sync_account(queued[0]) == SyncRun.Status.ERROR
    VendorAccount.objects.filter(pk=orphan.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    assert tasks.enqueue_due_syncs() == 0  # disabled until an admin fixes its kind
    assert tasks.sync_account(orphan.pk) is None


def test_pages_listing_a_stored_account_without_a_connector_still_render(staff_client, orphan, org_a):
    make_device(org_a, "Old van", orphan)
    for url in [
        "/accounts/",
        "/devices/",
        "/",
        "/admin/vendors/vendoraccount/",
        f"/admin/vendors/vendoraccount/{orphan.pk}/change/",
        "/admin/vendors/syncrun/",
    ]:
        assert staff_client.get(url).status_code == 200, url
    change = staff_client.get(f"/admin/vendors/vendoraccount/{orphan.pk}/change/").content.decode()
    assert "No connector for kind &#x27;acme&#x27;" in change


def test_stream_and_write_back_skip_an_account_without_a_connector(orphan, org_a, django_capture_on_commit_callbacks):
    assert stream.streamable() == []
    assert writeback.writable_accounts(org_a.pk, base.GEOFENCE_WRITE) == []
    with django_capture_on_commit_callbacks(execute=True):
        fence = services.save_geofence(
            Geofence(organization=org_a, name="Depot", kind="circle", geometry=Point(24.9, 60.2), radius_m=80)
        )
    assert not VendorLink.objects.filter(object_id=fence.pk).exists()
    VendorLink.objects.create(account=orphan, target=fence, vendor_id="41")  # pulled back when it had a connector
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.delete_geofence(fence)
    assert callbacks == []  # no delete queued for a connector that does not exist
    assert not VendorLink.objects.filter(account=orphan).exists()


@pytest.mark.django_db(transaction=True)
def test_a_stream_task_of_an_account_without_a_connector_ends_at_once(org_a):
    account = make_account(org_a, name="Old Acme", kind="acme")
    asyncio.run(asyncio.wait_for(stream.stream_account(account.pk, asyncio.Event()), timeout=5))
    assert not VendorAccount.objects.get(pk=account.pk).stream_connected


def test_the_vendor_report_tab_names_the_missing_connector(orphan):
    window = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), None)
    answer = reports.fetch("trips", orphan, ["1"], [window])
    assert answer == {"vendor": "acme", "offers": True, "rows": [], "error": "no connector for kind 'acme'"}
