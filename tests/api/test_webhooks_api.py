"""Webhook endpoints through the API: admins only, the secret in the creation's answer once, the address rule,
a test message and the delivery log, and another organisation's endpoints are 404 everywhere."""

import uuid

import pytest
from rest_framework.test import APIClient

from fleet.api.models import ApiToken
from fleet.celery import app
from fleet.core.models import Membership
from fleet.webhooks.models import Delivery, Endpoint
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def api(user, scope="write") -> APIClient:
    _, key = ApiToken.issue(user, "test", scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture(autouse=True)
def own_cache(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}


@pytest.fixture
def boss(org_a, django_user_model):
    return make_user(django_user_model, "boss", org_a, role=Membership.Role.ADMIN, staff=False)


def body(org, **kw) -> dict:
    return {"organization": org.pk, "name": "ERP", "url": "https://erp.example.com/hooks", **kw}


def test_an_admin_makes_an_endpoint_and_sees_its_secret_once(boss, org_a):
    client = api(boss)
    made = client.post("/api/v1/webhooks/", body(org_a, types=["geofenceEnter", "taskStatusChanged"]), format="json")
    assert made.status_code == 201, made.json()
    secret = made.json()["secret"]
    assert secret.startswith("whsec_") and Endpoint.objects.get().secret == secret
    listed = client.get("/api/v1/webhooks/")
    assert (
        secret not in listed.content.decode()
        and "secret" not in client.get(f"/api/v1/webhooks/{made.json()['id']}/").json()
    )
    assert listed.json()["results"][0]["types"] == ["geofenceEnter", "taskStatusChanged"]
    fresh = client.post(f"/api/v1/webhooks/{made.json()['id']}/new-secret/").json()["secret"]
    assert fresh != secret and Endpoint.objects.get().secret == fresh


def test_bad_input_is_a_400_that_names_the_field(boss, org_a, settings):
    client = api(boss)
    unknown = client.post("/api/v1/webhooks/", body(org_a, types=["nonsense"]), format="json").json()["error"]
    assert unknown["fields"]["types"] == ['0: "nonsense" is not a valid choice.']
    assert (
        "url" in client.post("/api/v1/webhooks/", body(org_a, url="ftp://x"), format="json").json()["error"]["fields"]
    )
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    for url in ("http://127.0.0.1:9/", "http://169.254.169.254/latest/"):
        refused = client.post("/api/v1/webhooks/", body(org_a, url=url), format="json")
        assert refused.status_code == 400 and "public addresses only" in refused.json()["error"]["fields"]["url"][0]
    client.post("/api/v1/webhooks/", body(org_a), format="json")
    again = client.post("/api/v1/webhooks/", body(org_a), format="json").json()["error"]
    assert again["fields"]["name"] == ["The organisation already has a webhook ERP."]


def test_dispatchers_and_read_only_tokens_cannot_and_other_organisations_do_not_exist(
    boss, org_a, org_b, django_user_model
):
    theirs = Endpoint.objects.create(organization=org_b, name="Theirs", url="https://b.example.com/")
    dispatcher = make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False)
    assert api(dispatcher).get("/api/v1/webhooks/").status_code == 403
    assert api(boss, scope="read").post("/api/v1/webhooks/", body(org_a), format="json").status_code == 403
    client = api(boss)
    assert client.get("/api/v1/webhooks/").json()["results"] == []
    for path in ("", "deliveries/"):
        assert client.get(f"/api/v1/webhooks/{theirs.pk}/{path}").status_code == 404
    for path in ("test/", "new-secret/"):
        assert client.post(f"/api/v1/webhooks/{theirs.pk}/{path}").status_code == 404
    assert client.patch(f"/api/v1/webhooks/{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{theirs.pk}/").status_code == 404
    refused = client.post("/api/v1/webhooks/", body(org_b), format="json").json()["error"]
    assert refused["fields"]["organization"] == [f'Invalid pk "{org_b.pk}" - object does not exist.']
    assert (
        client.get(f"/api/v1/webhooks/?organization={org_b.pk}").status_code == 400
        or not client.get(f"/api/v1/webhooks/?organization={org_b.pk}").json()["results"]
    )
    assert Endpoint.objects.get(pk=theirs.pk).name == "Theirs"


def test_a_test_message_lands_in_the_delivery_log(boss, org_a, django_capture_on_commit_callbacks):
    client = api(boss)
    made = client.post("/api/v1/webhooks/", body(org_a, url="http://127.0.0.1:9/"), format="json").json()
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            queued = client.post(f"/api/v1/webhooks/{made['id']}/test/")
    finally:
        app.conf.task_always_eager = False
    assert queued.status_code == 202 and queued.json()["type"] == "test"
    log = client.get(f"/api/v1/webhooks/{made['id']}/deliveries/").json()["results"]
    assert [(d["type"], d["status"], d["attempts"]) for d in log] == [("test", "failed", 1)]
    assert log[0]["attempts_made"][0]["error"] == "could not connect: ConnectError"
    assert Delivery.objects.get().endpoint_id == made["id"]


def test_switching_a_disabled_endpoint_on_clears_its_failures(boss, org_a):
    from django.utils import timezone

    endpoint = Endpoint.objects.create(organization=org_a, name="ERP", url="https://erp.example.com/")
    Endpoint.objects.filter(pk=endpoint.pk).update(
        active=False, consecutive_failures=30, disabled_at=timezone.now(), disabled_reason="Switched off…"
    )
    on = api(boss).patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": True}, format="json").json()
    assert (on["active"], on["consecutive_failures"], on["disabled_reason"], on["disabled_at"]) == (True, 0, "", None)
