"""Webhook delivery against a real receiver on loopback that checks every signature itself (its own HMAC code,
not fleet's): events, task moves and failed syncs become signed messages; retries with backoff until a 2xx;
nothing reaches another organisation's endpoint; an endpoint that keeps failing is switched off with a reason;
loopback and metadata addresses are refused unless private networks are allowed."""

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from fleet.celery import app
from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task
from fleet.events import places
from fleet.vendors.models import SyncRun
from fleet.webhooks import send, signing
from fleet.webhooks.models import Delivery, Endpoint
from tests.conftest import make_account, make_device
from tests.events.test_run import records, square

pytestmark = pytest.mark.django_db


class Receiver(ThreadingHTTPServer):
    """Answers the statuses of ``script`` in turn (then 200) and keeps each request with whether its
    Fleet-Signature verified with ``secret`` (recomputed here, independently of fleet.webhooks.signing)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = ""
        self.script: list[int] = []
        self.got: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/fleet"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Receiver = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = dict(part.split("=", 1) for part in self.headers["Fleet-Signature"].split(","))
        expected = hmac.new(server.secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        server.got.append(
            {
                "body": json.loads(body),
                "verified": hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 60,
                "event": self.headers["Fleet-Event"],
                "delivery": self.headers["Fleet-Delivery"],
            }
        )
        self.send_response(server.script.pop(0) if server.script else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def eager(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    settings.WEBHOOK_RETRY_BASE_S = 0  # retries at once (an eager task runs its countdown's task immediately)
    app.conf.task_always_eager = True
    places.forget()
    yield
    app.conf.task_always_eager = False


def endpoint(org, receiver: Receiver, name="ERP", **kw) -> Endpoint:
    made = Endpoint.objects.create(organization=org, name=name, url=receiver.url, **kw)
    made.refresh_from_db()
    receiver.secret = made.secret
    return made


def test_an_event_reaches_the_endpoint_signed_with_its_secret(org_a, receiver, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    square(org_a)
    hook = endpoint(org_a, receiver, types=["geofenceEnter"])
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40
    with django_capture_on_commit_callbacks(execute=True):
        from fleet.tracking import ingest

        ingest.positions(org_a.pk, None, records(van, [-100, 50, 150]))
    assert [g["event"] for g in receiver.got] == ["geofenceEnter"]  # the exit is not a type it chose
    got = receiver.got[0]
    assert got["verified"]
    assert got["body"]["type"] == "geofenceEnter" and got["body"]["organization"] == org_a.pk
    assert got["body"]["data"]["device"] == van.pk and got["body"]["data"]["attributes"]["zone"] == "Yard"
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, str(delivery.uuid)) == ("delivered", 1, got["delivery"])
    assert list(delivery.tries.values_list("number", "status_code")) == [(1, 200)]


def test_a_receiver_that_fails_at_first_gets_the_message_on_a_later_attempt(org_a, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_S = 0
    hook = endpoint(org_a, receiver)
    receiver.script = [500, 503, 500]
    with_callbacks = send.emit(org_a.pk, [("syncFailed", {"run": 1})])
    send.queue([d.pk for d in with_callbacks])
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_code) == ("delivered", 4, 200)
    assert list(delivery.tries.values_list("number", "status_code", "error")) == [
        (1, 500, "HTTP 500"),
        (2, 503, "HTTP 503"),
        (3, 500, "HTTP 500"),
        (4, 200, ""),
    ]
    assert all(g["verified"] for g in receiver.got) and len({g["delivery"] for g in receiver.got}) == 1
    assert len({json.dumps(g["body"]) for g in receiver.got}) == 1  # the same body, signed anew each time
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures, hook.failing_since) == (True, 0, None)


def test_retries_back_off_exponentially_within_a_day(settings):
    settings.WEBHOOK_RETRY_BASE_S, settings.WEBHOOK_RETRY_MAX_S = 30, 1800
    assert [send.backoff(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1800, 1800]


def test_an_attempt_schedules_the_next_and_a_message_that_comes_early_does_nothing(org_a, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_S = 30
    endpoint(org_a, receiver)
    receiver.script = [500]
    delivery = send.emit(org_a.pk, [("syncFailed", {})])[0]
    assert send.attempt(delivery.pk) == 30.0
    delivery.refresh_from_db()
    assert delivery.status == "pending" and 25 < (delivery.next_at - timezone.now()).total_seconds() <= 30
    assert send.attempt(delivery.pk) is None and len(receiver.got) == 1  # too early: nothing sent
    Delivery.objects.filter(pk=delivery.pk).update(next_at=timezone.now())
    assert send.attempt(delivery.pk) is None and len(receiver.got) == 2
    assert Delivery.objects.get().status == "delivered"


def test_retries_end_a_day_after_the_message(org_a, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_S = 30
    endpoint(org_a, receiver)
    receiver.script = [500]
    delivery = send.emit(org_a.pk, [("syncFailed", {})])[0]
    day_almost_over = timezone.now() - timezone.timedelta(hours=23, minutes=59, seconds=45)
    Delivery.objects.filter(pk=delivery.pk).update(created=day_almost_over)
    assert send.attempt(delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "HTTP 500")


def test_no_message_reaches_another_organisations_endpoint(org_a, org_b, receiver, django_capture_on_commit_callbacks):
    theirs = endpoint(org_b, receiver, name="Theirs")
    van = make_device(org_a)
    task = Task.objects.create(organization=org_a, order_ref="A-1", destination="POINT(24.9 60.1)")
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.assign(task, van)
    assert receiver.got == [] and not Delivery.objects.filter(endpoint=theirs).exists()
    mine = endpoint(org_a, receiver, name="Mine", types=["taskStatusChanged"])
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.transition(task, Task.Status.EN_ROUTE, "dispatcher", note="off we go")
    assert [g["body"]["data"] for g in receiver.got] == [
        {
            "task": task.pk,
            "order_ref": "A-1",
            "old": "assigned",
            "new": "en_route",
            "source": "dispatcher",
            "time": receiver.got[0]["body"]["data"]["time"],
            "device": van.pk,
            "note": "off we go",
        }
    ]
    assert Delivery.objects.get().endpoint == mine and receiver.got[0]["verified"]


def test_a_failed_sync_run_is_a_message(org_a, receiver, django_capture_on_commit_callbacks):
    from fleet.vendors import sync

    endpoint(org_a, receiver, types=["syncFailed"])
    account = make_account(org_a, "Broken", kind="no-such-vendor")
    with django_capture_on_commit_callbacks(execute=True):
        run = sync.sync_account(account)
    assert run.status == SyncRun.Status.ERROR
    [got] = receiver.got
    assert got["verified"] and got["body"]["data"]["account_name"] == "Broken"
    assert "no connector for kind" in got["body"]["data"]["error"] and got["body"]["data"]["account_disabled"]


def test_an_endpoint_that_keeps_failing_is_switched_off_with_the_reason(org_a, receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES, settings.WEBHOOK_DISABLE_AFTER_S = 3, 0
    hook = endpoint(org_a, receiver)
    receiver.script = [500] * 10
    first, waiting = send.emit(org_a.pk, [("syncFailed", {"n": 1}), ("syncFailed", {"n": 2})])
    send.queue([first.pk])
    hook.refresh_from_db()
    assert not hook.active and hook.consecutive_failures == 3
    assert "3 attempts in a row failed" in hook.disabled_reason and "HTTP 500" in hook.disabled_reason
    assert len(receiver.got) == 3
    waiting.refresh_from_db()
    assert (waiting.status, waiting.last_error) == ("failed", "the endpoint was switched off")
    assert send.emit(org_a.pk, [("syncFailed", {})]) == []  # nothing more is queued for it


def test_the_failure_count_needs_the_time_too(org_a, receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES, settings.WEBHOOK_DISABLE_AFTER_S = 3, 3600
    settings.WEBHOOK_RETRY_FOR_S = 0  # one attempt each
    hook = endpoint(org_a, receiver)
    receiver.script = [500] * 5
    send.queue([d.pk for d in send.emit(org_a.pk, [("syncFailed", {"n": n}) for n in range(5)])])
    hook.refresh_from_db()
    assert hook.active and hook.consecutive_failures == 5  # five failures in a few seconds: not a day of them


def test_loopback_and_metadata_addresses_are_refused_unless_allowed(org_a, receiver, settings):
    from django.core.exceptions import ValidationError

    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data/", "http://[::1]:8000/"):
        with pytest.raises(ValidationError, match="public addresses only"):
            Endpoint(organization=org_a, name="x", url=url).full_clean()
    hook = Endpoint.objects.create(organization=org_a, name="Saved before", url=receiver.url)
    send.queue([send.emit(org_a.pk, [("syncFailed", {})])[0].pk])
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1  # refused at connection time, never retried
    assert "loopback" in delivery.last_error and receiver.got == []
    assert hook.deliveries.get().tries.get().error.startswith("refused: the address 127.0.0.1 is a loopback")


def test_a_test_message_goes_to_a_switched_off_endpoint_once(org_a, receiver):
    hook = endpoint(org_a, receiver, active=False, types=["geofenceEnter"])
    receiver.script = [500]
    send.queue([send.send_test(hook).pk])
    assert [g["body"]["type"] for g in receiver.got] == ["test"] and receiver.got[0]["verified"]
    assert Delivery.objects.get().status == "failed"  # a test is tried once


def test_the_signing_helper_verifies_and_refuses_old_or_altered_messages():
    body = b'{"id":"x"}'
    header = signing.header("whsec_k", body, timestamp=1_800_000_000)
    assert signing.verify("whsec_k", body, header, now=1_800_000_010)
    assert not signing.verify("whsec_k", body, header, now=1_800_000_000 + 301)  # a replay, later
    assert not signing.verify("whsec_k", body + b" ", header, now=1_800_000_010)
    assert not signing.verify("whsec_other", body, header, now=1_800_000_010)
    assert not signing.verify("whsec_k", body, "v1=abc", now=1_800_000_010)


def test_a_rule_with_the_webhook_channel_sends_its_notices_once_per_interval(
    org_a, receiver, django_capture_on_commit_callbacks
):
    from fleet.events import notify
    from fleet.events.models import Notification, NotificationRule
    from fleet.tracking import ingest

    notify.forget()
    van, other = make_device(org_a), make_device(org_a, "Van 2")
    square(org_a)
    endpoint(org_a, receiver, types=["ruleMatched"])
    rule = NotificationRule.objects.create(
        organization=org_a, name="Van 1 at the yard", event_types=["geofenceEnter"], web=False, webhook=True
    )
    rule.devices.set([van])
    with django_capture_on_commit_callbacks(execute=True):
        ingest.positions(org_a.pk, None, records(van, [-100, 50, 150, 50, 150]))  # enters twice
        ingest.positions(org_a.pk, None, records(other, [-100, 50]))  # not a device of the rule
    notify.forget()
    [got] = receiver.got  # the second entry is within the rule's interval
    assert got["verified"] and got["event"] == "ruleMatched"
    data = got["body"]["data"]
    assert (data["rule"], data["rule_name"], data["test"]) == (rule.pk, "Van 1 at the yard", False)
    assert data["event"]["type"] == "geofenceEnter" and data["event"]["device"] == van.pk
    assert list(Notification.objects.values_list("channel", "recipient")) == [("webhook", "webhooks")]
