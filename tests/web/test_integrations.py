"""The Integrations page: organisation admins only, scoped to their organisations, credentials write-only,
a new account's login checked once before it is saved, and what failed said in plain words."""

import pytest
from django.urls import reverse

from fleet.core.models import Membership
from fleet.vendors.models import SyncRun, VendorAccount
from tests.conftest import make_account, make_user
from tests.web.test_accounts import COUNTS

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "6f1c2d7e-4b1a-4c55-9a3e-2f0d8b7c9e11"


@pytest.fixture
def admin_client(client, user_a):
    client.force_login(user_a)
    return client


@pytest.fixture
def sim(simulator):
    return simulator("fleetv2", devices=3, history=900, lag=0, token=API_KEY, rate_window=6.0)


def add_form(org, sim_url: str, **fields) -> dict:
    return {
        "organization": org.pk,
        "name": "Telemax",
        "kind": "fleetv2",
        "base_url": sim_url,
        "username": "",
        "password": "",
        "token": API_KEY,
        **fields,
    }


def test_only_organisation_admins_see_the_page_and_its_nav_entry(client, django_user_model, org_a, user_a):
    dispatcher = make_user(django_user_model, "dave", org_a, role=Membership.Role.DISPATCHER, staff=False)
    client.force_login(dispatcher)
    assert client.get(reverse("integrations")).status_code == 403
    assert b'href="/integrations/"' not in client.get(reverse("home")).content
    client.force_login(user_a)
    assert b'href="/integrations/"' in client.get(reverse("home")).content
    assert client.get(reverse("integrations")).status_code == 200


def test_another_organisations_account_is_a_404_for_every_action(admin_client, org_b):
    other = make_account(org_b, "B acct", kind="datatrak")
    assert b"B acct" not in admin_client.get(reverse("integrations")).content
    for action in ("sync", "enable", "disable", "delete"):
        assert admin_client.post(reverse("integration-action", args=[other.pk, action])).status_code == 404
    assert admin_client.get(reverse("integration-edit", args=[other.pk])).status_code == 404
    assert VendorAccount.objects.filter(pk=other.pk, enabled=True).exists()
    assert [a["id"] for a in admin_client.get(reverse("integrations-status")).json()["accounts"]] == []


def test_wrong_credentials_are_refused_in_plain_words_and_nothing_is_saved(admin_client, org_a, sim):
    response = admin_client.post(reverse("integrations"), add_form(org_a, sim.url, token="wrong-key"))
    assert response.status_code == 400
    assert "The vendor refused these credentials" in response.content.decode()
    assert not VendorAccount.objects.filter(name="Telemax").exists()
    response = admin_client.post(reverse("integrations"), add_form(org_a, "http://127.0.0.1:9"))
    assert "could not reach the vendor at http://127.0.0.1:9" in response.content.decode()


def test_an_account_whose_login_works_is_added_and_its_secret_never_shown(admin_client, org_a, sim):
    response = admin_client.post(reverse("integrations"), add_form(org_a, sim.url))
    assert response.status_code == 302
    account = VendorAccount.objects.get(name="Telemax")
    assert account.kind == "fleetv2" and account.credentials == {"token": API_KEY}
    assert sim.stats()["logins"] == 1
    for url in (reverse("integrations"), reverse("integration-edit", args=[account.pk])):
        assert API_KEY not in admin_client.get(url).content.decode()


def test_only_kinds_with_a_connector_are_offered(admin_client, org_a):
    page = admin_client.get(reverse("integrations")).content.decode()
    for kind in ("datatrak", "safectory", "metrotec", "fleetv2"):
        assert f'value="{kind}"' in page
    response = admin_client.post(reverse("integrations"), add_form(org_a, "http://127.0.0.1:9", kind="itrack"))
    assert response.status_code == 400 and not VendorAccount.objects.exists()


def test_editing_keeps_a_blank_secret_and_clears_an_error_that_disabled_the_account(admin_client, org_a, sim):
    account = make_account(
        org_a, "Telemax", kind="fleetv2", base_url="http://127.0.0.1:9", credentials={"token": API_KEY}
    )
    VendorAccount.objects.filter(pk=account.pk).update(disabled_by_error=True, last_error="login refused")
    form = {"base_url": sim.url, "username": "", "password": "", "token": ""}
    response = admin_client.post(reverse("integration-edit", args=[account.pk]), form)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.base_url == sim.url and account.credentials == {"token": API_KEY}
    assert not account.disabled_by_error
    response = admin_client.post(reverse("integration-edit", args=[account.pk]), {**form, "token": "wrong"})
    assert response.status_code == 400 and "refused these credentials" in response.content.decode()
    account.refresh_from_db()
    assert account.credentials == {"token": API_KEY}


def test_sync_now_runs_a_sync_and_the_page_shows_its_counts(admin_client, org_a, sim, eager_celery):
    account = make_account(org_a, "Telemax", kind="fleetv2", base_url=sim.url, credentials={"token": API_KEY})
    assert admin_client.post(reverse("integration-action", args=[account.pk, "sync"])).status_code == 302
    run = SyncRun.objects.get(account=account)
    assert run.status == "ok", run.error
    state = admin_client.get(reverse("integrations-status")).json()["accounts"][0]
    assert state["last_run"]["positions"]["created"] == run.counts["positions"]["created"] > 0
    assert state["day"]["positions"]["created"] == run.counts["positions"]["created"]
    assert state["rate"]["burst"] == 4 and state["status"] == "waiting for its next sync"
    page = admin_client.get(reverse("integrations")).content.decode()
    assert "Vendor notice" in page and "2027" in page  # the Sunset of the V1 battery route
    assert "Alert rules at the vendor" in page
    assert "<tr><td>Depot exit</td><td>Geofence Exit</td><td>geofenceExit</td><td>no</td></tr>" in page
    assert "<tr><td>Speeding</td><td>Overspeed</td><td>deviceOverspeed</td><td>yes</td></tr>" in page


def test_the_vendors_alert_rules_are_shown_as_text_from_the_last_run_that_read_them(admin_client, org_a):
    account = make_account(org_a, "Telemax", kind="fleetv2")
    rule = {"id": "9", "name": "<script>x()</script>", "type": "<i>Door</i>", "event": "alarm", "enabled": None}
    SyncRun.objects.create(account=account, status="ok", counts={"alert_rules": {"fetched": 1, "items": [rule]}})
    SyncRun.objects.create(account=account, status="error", counts={})  # a later run that did not get to them
    page = admin_client.get(reverse("integrations")).content.decode()
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page
    assert "&lt;i&gt;Door&lt;/i&gt;</td><td>alarm</td><td>unknown</td>" in page


def test_enable_disable_and_delete(admin_client, org_a):
    account = make_account(org_a, "Data Trak", kind="datatrak")
    admin_client.post(reverse("integration-action", args=[account.pk, "disable"]))
    account.refresh_from_db()
    assert not account.enabled
    assert "disabled" in admin_client.get(reverse("integrations-status")).json()["accounts"][0]["status"]
    admin_client.post(reverse("integration-action", args=[account.pk, "enable"]))
    account.refresh_from_db()
    assert account.enabled
    admin_client.post(reverse("integration-action", args=[account.pk, "delete"]))
    assert not VendorAccount.objects.filter(pk=account.pk).exists()


def test_rejection_reasons_and_vendor_strings_are_text(admin_client, org_a):
    account = make_account(org_a, "<b>acct</b>", kind="datatrak")
    SyncRun.objects.create(account=account, status="ok", counts=COUNTS)
    page = admin_client.get(reverse("integrations")).content.decode()
    assert "&lt;b&gt;acct&lt;/b&gt;" in page and "<b>acct</b>" not in page
    assert "2 × geofences: area: not WKT" in page


def test_the_device_page_shows_the_vendors_battery_health_as_text(admin_client, org_a):
    from tests.conftest import make_device

    account = make_account(org_a, "Telemax", kind="fleetv2")
    health = {"prediction": "Failing", "voltage": 11.7, "score": 8, "forecast": "<b>replace</b>"}
    device = make_device(org_a, "Hino", account, attributes={"battery_health": health})
    page = admin_client.get(reverse("device-detail", args=[device.pk])).content.decode()
    assert "Failing, 11.70 V, score 8" in page
    assert "&lt;b&gt;replace&lt;/b&gt;" in page and "<b>replace</b>" not in page


def test_a_vendor_that_takes_credentials_on_every_call_has_them_tried_with_one_call(admin_client, org_a, simulator):
    datatrak = simulator("datatrak", devices=2, history=600, lag=0)
    form = add_form(org_a, datatrak.url, kind="datatrak", token="", username="demo", password="wrong")
    response = admin_client.post(reverse("integrations"), form)
    assert response.status_code == 400
    assert "The vendor refused these credentials" in response.content.decode()
    response = admin_client.post(reverse("integrations"), {**form, "password": "demo"})
    assert response.status_code == 302 and VendorAccount.objects.get(name="Telemax").kind == "datatrak"


def test_an_unknown_action_is_a_missing_page(admin_client, org_a):
    account = make_account(org_a, "A acct", kind="datatrak")
    response = admin_client.post(reverse("integration-action", args=[account.pk, "explode"]))
    assert response.status_code == 404 and VendorAccount.objects.filter(pk=account.pk, enabled=True).exists()
