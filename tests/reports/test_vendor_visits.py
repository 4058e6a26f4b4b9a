"""The visits report shows the vendor's own POI report beside ours ("Metrotec's figures"): the visits of the
chosen devices in the period, from the newest finished report covering it, as escaped text; without one, a
button asks the vendor for it (admins and dispatchers of the account's organisation only)."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from fleet.core.models import Membership
from fleet.vendors import tasks
from fleet.vendors.models import PoiReport
from tests.conftest import make_account, make_device, make_user
from tests.reports.conftest import cell_texts

DAY = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def visit(vehicle: str, poi: str, enter: datetime, minutes: int) -> dict:
    leave = enter.replace(minute=enter.minute + minutes)
    return {"device_id": vehicle, "poi": poi, "enter": enter.isoformat(), "exit": leave.isoformat()} | {
        "duration_s": minutes * 60.0,
        "distance_m": 440.0,
    }


@pytest.fixture
def metrotec_van(world_a):
    org = world_a["organization"]
    account = make_account(org, name="Metrotec EE", kind="metrotec")
    return account, make_device(org, "Van M", account, vendor_id="123ABC")


def visits_page(client, device) -> str:
    return reverse("reports:report", args=["visits"]) + "?" + urlencode({**DAY, "device": device.pk})


def test_a_finished_vendor_report_shows_its_visits_of_the_devices_and_period_as_text(alice, metrotec_van):
    account, van = metrotec_van
    rows = [
        visit("123ABC", "Shop <script>alert(1)</script>", utc(2026, 11, 20, 10, 0), 10),
        visit("999ZZZ", "Shop", utc(2026, 11, 20, 11, 0), 5),  # another vehicle
        visit("123ABC", "Depot", utc(2026, 11, 21, 9, 0), 5),  # another day
    ]
    PoiReport.objects.create(account=account, start=utc(2026, 11, 19), end=utc(2026, 11, 23), status="done", rows=rows)
    page = alice.get(visits_page(alice, van)).content.decode()
    section = page.split('id="vendor-visits-', 1)[1]
    assert "Metrotec's figures" in page and "Metrotec EE" in section
    body = [cell_texts(row) for row in section.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("</tr>")[:-1]]
    assert len(body) == 1 and body[0][:2] == ["Van M", "Shop <script>alert(1)</script>"]  # read as text...
    assert "<script>alert(1)" not in page  # ...never as markup
    assert "Ask Metrotec" not in section


def test_without_a_covering_report_a_button_asks_the_vendor_for_one(alice, metrotec_van, monkeypatch):
    account, van = metrotec_van
    PoiReport.objects.create(account=account, start=utc(2026, 11, 20, 12), end=utc(2026, 11, 23), status="done")
    asked = []
    monkeypatch.setattr(tasks.poi_report_task, "delay", asked.append)
    url = visits_page(alice, van)
    page = alice.get(url).content.decode()
    assert "No finished POI report of this account covers the period" in page and "Ask Metrotec for its figures" in page
    section = page.split('id="vendor-visits-', 1)[1]
    start, end = (section.split(f'name="{name}" value="')[1].split('"')[0] for name in ("start", "end"))
    response = alice.post(reverse("ask-poi-report", args=[account.pk]), {"start": start, "end": end, "next": url})
    assert response.status_code == 302 and response.url == url, response.content
    report = PoiReport.objects.get(status="pending")
    assert (report.start.isoformat(), report.end.isoformat(), asked) == (start, end, [report.pk])
    again = alice.get(url).content.decode()
    assert "one is being made" in again and "Ask Metrotec for its figures" not in again


def test_only_admins_and_dispatchers_of_the_accounts_organisation_may_ask(
    client, django_user_model, metrotec_van, world_b, monkeypatch
):
    account, _van = metrotec_van
    monkeypatch.setattr(tasks.poi_report_task, "delay", lambda pk: None)
    period = {"start": "2026-11-20T00:00:00+00:00", "end": "2026-11-21T00:00:00+00:00", "next": "https://evil.example/"}
    viewer = make_user(django_user_model, "viewer", account.organization, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.post(reverse("ask-poi-report", args=[account.pk]), period).status_code == 403
    client.force_login(make_user(django_user_model, "stranger", world_b["organization"]))
    assert client.post(reverse("ask-poi-report", args=[account.pk]), period).status_code == 404
    client.force_login(make_user(django_user_model, "dispatcher", account.organization, Membership.Role.DISPATCHER))
    response = client.post(reverse("ask-poi-report", args=[account.pk]), period)
    assert response.status_code == 302 and response.url == reverse("account-detail", args=[account.pk])  # not off-site
    bad = client.post(reverse("ask-poi-report", args=[account.pk]), {**period, "end": period["start"]})
    assert bad.status_code == 400 and PoiReport.objects.count() == 1
    datatrak = world_b["vendoraccount"]
    client.force_login(make_user(django_user_model, "b-admin", datatrak.organization))
    assert client.post(reverse("ask-poi-report", args=[datatrak.pk]), period).status_code == 400  # makes none
