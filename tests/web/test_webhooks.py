"""The Webhooks page: organisation admins only, the secret shown once, every URL scoped (another organisation's
endpoint is a 404), vendor strings and names shown as text, the switched-off notice, the test button's log."""

import pytest
from django.utils import timezone

from fleet.core.models import Membership
from fleet.webhooks.models import Attempt, Delivery, Endpoint
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client, org_a, django_user_model):
    user = make_user(django_user_model, "boss", org_a, role=Membership.Role.ADMIN, staff=False)
    client.force_login(user)
    return user


def form(org, **kw) -> dict:
    return {"organization": org.pk, "name": "ERP", "url": "https://erp.example.com/hook", "active": "on", **kw}


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(client, boss, org_a):
    page = client.get("/webhooks/")
    assert page.status_code == 200 and b'href="/webhooks/"' in page.content  # the top bar's link
    added = client.post("/webhooks/", form(org_a, types=["geofenceEnter", "syncFailed"]))
    endpoint = Endpoint.objects.get()
    assert endpoint.types == ["geofenceEnter", "syncFailed"]
    assert endpoint.secret in added.content.decode()
    assert endpoint.secret not in client.get("/webhooks/").content.decode()
    assert endpoint.secret not in client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    fresh = client.post(f"/webhooks/{endpoint.pk}/secret/")
    endpoint.refresh_from_db()
    assert endpoint.secret in fresh.content.decode()


def test_a_refused_address_and_a_repeated_name_are_form_errors(client, boss, org_a, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    refused = client.post("/webhooks/", form(org_a, url="http://169.254.169.254/latest/"))
    assert refused.status_code == 200 and "public addresses only" in refused.content.decode()
    client.post("/webhooks/", form(org_a))
    again = client.post("/webhooks/", form(org_a))
    assert again.status_code == 200 and Endpoint.objects.count() == 1
    assert "already exists" in again.content.decode()


def test_dispatchers_get_403_and_no_link(client, org_a, django_user_model):
    client.force_login(make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False))
    assert client.get("/webhooks/").status_code == 403
    assert b'href="/webhooks/"' not in client.get("/api-tokens/").content


def test_another_organisations_webhook_is_404_at_every_url(client, boss, org_a, org_b):
    theirs = Endpoint.objects.create(organization=org_b, name="Theirs", url="https://b.example.com/")
    assert b"Theirs" not in client.get("/webhooks/").content
    assert client.get(f"/webhooks/{theirs.pk}/").status_code == 404
    assert client.post(f"/webhooks/{theirs.pk}/", form(org_a, name="Mine now")).status_code == 404
    for action in ("test", "secret", "delete"):
        assert client.post(f"/webhooks/{theirs.pk}/{action}/").status_code == 404
    refused = client.post("/webhooks/", form(org_b, name="Into B"))
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert list(Endpoint.objects.values_list("name", flat=True)) == ["Theirs"]


def test_names_errors_and_the_switched_off_notice_are_text(client, boss, org_a):
    endpoint = Endpoint.objects.create(organization=org_a, name="<b>ERP</b>", url="https://erp.example.com/")
    Endpoint.objects.filter(pk=endpoint.pk).update(
        active=False, disabled_at=timezone.now(), disabled_reason="Switched off: 20 attempts in a row failed."
    )
    delivery = Delivery.objects.create(endpoint=endpoint, type="test", body="{}", status="failed", attempts=1)
    Attempt.objects.create(delivery=delivery, number=1, error="<script>x</script>", duration_ms=12)
    listed = client.get("/webhooks/").content.decode()
    assert "Switched off: 20 attempts in a row failed." in listed and "&lt;b&gt;ERP&lt;/b&gt;" in listed
    detail = client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in detail and "<script>x" not in detail and "12 ms" in detail


def test_the_test_button_queues_a_test_message(client, boss, org_a, django_capture_on_commit_callbacks, monkeypatch):
    from fleet.webhooks import tasks

    endpoint = Endpoint.objects.create(organization=org_a, name="ERP", url="https://erp.example.com/")
    queued = []
    monkeypatch.setattr(tasks.deliver, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(f"/webhooks/{endpoint.pk}/test/", follow=True)
    delivery = Delivery.objects.get()
    assert queued == [delivery.pk] and delivery.type == "test"
    assert "Sent a test message" in page.content.decode() and "not tried yet" in page.content.decode()


def test_deleting_a_webhook(client, boss, org_a):
    endpoint = Endpoint.objects.create(organization=org_a, name="ERP", url="https://erp.example.com/")
    client.post(f"/webhooks/{endpoint.pk}/delete/")
    assert not Endpoint.objects.exists()
