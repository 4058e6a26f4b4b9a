"""Vendor credentials appear in no log line, SyncRun error or admin page."""

import logging

import pytest
from django.urls import reverse

from fleet.vendors import sync
from fleet.vendors.models import SyncRun
from tests.vendors.conftest import make_sim_account

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Pa55-very-secret-word"
TOKEN = "tok-0123456789-secret"


def sim_account(sim, kind: str, **kwargs):
    """An account on the simulator (Metrotec's and iTrack's base URLs name their API root)."""
    account = make_sim_account(sim, kind, **kwargs)
    if kind in ("metrotec", "itrack"):
        type(account).objects.filter(pk=account.pk).update(base_url=sim.url + "/api")
        account.refresh_from_db()
    return account


@pytest.mark.parametrize("kind", ["datatrak", "metrotec", "itrack", "fleetv2"])
@pytest.mark.parametrize(
    "creds", [{"username": "demo", "password": PASSWORD}, {"token": TOKEN}], ids=["password", "token"]
)
def test_credentials_appear_in_no_log_line_sync_error_or_admin_page(simulator, caplog, client, superuser, creds, kind):
    caplog.set_level(logging.DEBUG)
    sim = simulator(kind, devices=2, password=PASSWORD, token=TOKEN)
    account = sim_account(sim, kind, **creds)
    assert sync.sync_account(account).status == "ok"
    sim.set_faults(errors={"status": 500, "count": 10}, expire_sessions=True)
    account.refresh_from_db()
    sync.sync_account(account)
    wrong = sim_account(
        sim,
        kind,
        org=account.organization,
        name="wrong",
        **{k: v + "-wrong" if k != "username" else v for k, v in creds.items()},
    )
    assert sync.sync_account(wrong).status == "error"
    client.force_login(superuser)
    pages = [
        client.get(reverse("admin:vendors_vendoraccount_change", args=[account.pk])),
        client.get(reverse("admin:vendors_vendoraccount_changelist")),
        client.get(reverse("admin:vendors_syncrun_changelist")),
        client.get(reverse("account-list")),
        client.get(reverse("integrations")),
        client.get(reverse("integration-edit", args=[account.pk])),
        client.get(reverse("integrations-status")),
    ]
    secret = creds.get("password") or creds["token"]
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for text in [r.getMessage() for r in caplog.records] + [r.error for r in SyncRun.objects.all()]:
        assert secret not in text
        assert secret + "-wrong" not in text
    for page in pages:
        assert page.status_code == 200
        assert secret not in page.content.decode()
    assert secret not in repr(sync.connector_for(account))
