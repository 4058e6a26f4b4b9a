"""The vendor account page: what the latest sync did with each resource's rows, only for the account's
organisation, every vendor string shown as text."""

from django.urls import reverse

from fleet.vendors.models import SyncRun
from tests.conftest import make_account

COUNTS = {
    "devices": {
        "fetched": 4,
        "created": 3,
        "updated": 0,
        "duplicates": 0,
        "rejected": 1,
        "reasons": {"no id": 1},
        "examples": {},
        "notes": {},
        "retired": 2,
    },
    "geofences": {
        "fetched": 3,
        "created": 1,
        "updated": 0,
        "duplicates": 0,
        "rejected": 2,
        "reasons": {"area: not WKT": 2},
        "examples": {"area: not WKT": "<script>alert(1)</script>"},
        "notes": {},
    },
    "groups": {
        "fetched": 0,
        "created": 0,
        "updated": 0,
        "duplicates": 0,
        "rejected": 0,
        "reasons": {},
        "examples": {},
        "notes": {},
        "error": "groups: expected a list, got dict",
    },
}


def test_the_account_page_shows_each_resource_with_reasons_and_an_example(client, user_a, org_a):
    account = make_account(org_a, name="Data Trak")
    SyncRun.objects.create(account=account, status="partial", counts=COUNTS, fetched=7, created=4, rejected=3)
    client.force_login(user_a)
    body = client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert "Latest sync: partial" in body
    assert "2 × area: not WKT" in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body
    assert "failed: groups: expected a list, got dict" in body and "2 retired" in body
    assert reverse("account-detail", args=[account.pk]) in client.get(reverse("account-list")).content.decode()


def test_another_organisations_account_is_not_found(client, user_a, org_b):
    account = make_account(org_b, name="Theirs")
    client.force_login(user_a)
    assert client.get(reverse("account-detail", args=[account.pk])).status_code == 404
