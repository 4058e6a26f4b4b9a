"""Queueing messages for an organisation's endpoints and making one delivery attempt.

``emit`` stores one ``Delivery`` per message and endpoint that wants its type and queues it after the commit.
``attempt`` claims the delivery (a conditional update: a duplicate task message does nothing), posts the body
signed (``signing``) through the checked transport the vendor connectors use (no loopback, private or metadata
address unless ``VENDOR_ALLOW_PRIVATE_NETWORKS``; no redirect followed; the answer's body is never read), logs the
``Attempt`` and says when to try again: exponential backoff from ``WEBHOOK_RETRY_BASE_S``, at most
``WEBHOOK_RETRY_MAX_S`` apart, for ``WEBHOOK_RETRY_FOR_S`` after the message was made. An endpoint whose attempts
all failed ``WEBHOOK_DISABLE_AFTER_FAILURES`` times in a row over ``WEBHOOK_DISABLE_AFTER_S`` is switched off,
with the reason on its page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from fleet.core import egress
from fleet.vendors.http import CheckedTransport, user_agent
from fleet.webhooks import signing
from fleet.webhooks.models import Attempt, Delivery, Endpoint

MAX_ATTEMPTS = 100


def envelope(delivery: Delivery, organization_id: int, data: dict) -> str:
    message = {
        "id": str(delivery.uuid),
        "type": delivery.type,
        "created": delivery.created.isoformat(),
        "organization": organization_id,
        "data": data,
    }
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def emit(organization_id: int, messages: Iterable[tuple[str, dict]], endpoints: list[Endpoint] | None = None):
    """Store a delivery of each (type, data) message for each active endpoint of the organisation that wants its
    type, and queue them once the transaction commits."""
    messages = list(messages)
    if not messages:
        return []
    if endpoints is None:
        endpoints = list(Endpoint.objects.filter(organization_id=organization_id, active=True))
    rows = []
    for kind, data in messages:
        for endpoint in endpoints:
            if endpoint.wants(kind):
                row = Delivery(endpoint=endpoint, type=kind)
                row.body = envelope(row, organization_id, data)
                rows.append(row)
    if rows:
        Delivery.objects.bulk_create(rows)
        transaction.on_commit(lambda: queue([row.pk for row in rows]))
    return rows


def queue(delivery_ids: list[int]) -> None:
    from fleet.webhooks.tasks import deliver

    for pk in delivery_ids:
        deliver.delay(pk)


def backoff(number: int) -> float:
    """Seconds between attempt ``number`` (1 is the first) and the next."""
    return float(min(settings.WEBHOOK_RETRY_BASE_S * 2 ** (number - 1), settings.WEBHOOK_RETRY_MAX_S))


def attempt(delivery_id: int) -> float | None:
    """Make the delivery's next attempt, if it is due; the seconds until the one after, or None when done."""
    now = timezone.now()
    delivery = Delivery.objects.select_related("endpoint").filter(pk=delivery_id, status="pending").first()
    if delivery is None or (delivery.next_at and delivery.next_at > now):
        return None  # done, gone, or a message that came early: the one scheduled for next_at will do it
    claimed = Delivery.objects.filter(pk=delivery.pk, status="pending", attempts=delivery.attempts)
    if not claimed.update(attempts=delivery.attempts + 1, next_at=None):
        return None  # another worker has it
    delivery.attempts += 1
    endpoint = delivery.endpoint
    if not endpoint.active and delivery.type != "test":
        _finish(delivery, Delivery.Status.FAILED, error="the endpoint is switched off")
        return None
    code, error, permanent, ms = post(endpoint, delivery)
    Attempt.objects.create(delivery=delivery, number=delivery.attempts, status_code=code, error=error, duration_ms=ms)
    delivery.last_code, delivery.last_error = code, error
    if code is not None and 200 <= code < 300:
        Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0, failing_since=None)
        _finish(delivery, Delivery.Status.DELIVERED)
        return None
    still_on = _failed(endpoint, now, error or f"HTTP {code}")
    delay = backoff(delivery.attempts)
    over = now + timedelta(seconds=delay) > delivery.created + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_S)
    if permanent or over or not still_on or delivery.type == "test" or delivery.attempts >= MAX_ATTEMPTS:
        _finish(delivery, Delivery.Status.FAILED)
        return None
    delivery.next_at = now + timedelta(seconds=delay)
    delivery.save(update_fields=["next_at", "last_code", "last_error"])
    return delay


def post(endpoint: Endpoint, delivery: Delivery) -> tuple[int | None, str, bool, int]:
    """(status code, error, permanent?, milliseconds) of one signed POST of the delivery's body."""
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        signing.HEADER: signing.header(endpoint.secret, body),
        "Fleet-Event": delivery.type,
        "Fleet-Delivery": str(delivery.uuid),
    }
    timeout = settings.WEBHOOK_TIMEOUT_S
    started = time.monotonic()
    code, error, permanent = None, "", False
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                transport=CheckedTransport(),
                follow_redirects=False,
                trust_env=False,
            ) as client,
            client.stream("POST", endpoint.url, content=body, headers=headers) as response,
        ):
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
    except egress.RefusedAddress as exc:
        error, permanent = f"refused: {exc}", True
    except httpx.TimeoutException:
        error = f"no answer within {timeout:g} s"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        error = f"could not connect: {type(exc).__name__}"
    return code, error[:500], permanent, int((time.monotonic() - started) * 1000)


def _finish(delivery: Delivery, status: str, error: str = "") -> None:
    delivery.status, delivery.finished = status, timezone.now()
    if error:
        delivery.last_error = error
    delivery.save(update_fields=["status", "finished", "last_code", "last_error"])


def _failed(endpoint: Endpoint, now, error: str) -> bool:
    """Count a failed attempt; switch the endpoint off when it has failed for long enough. Whether it is on."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce("failing_since", Value(now, output_field=DateTimeField())),
    )
    endpoint.refresh_from_db(fields=["consecutive_failures", "failing_since", "active"])
    if not endpoint.active:
        return False
    long_enough = now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_S)
    if endpoint.consecutive_failures < settings.WEBHOOK_DISABLE_AFTER_FAILURES or not long_enough:
        return True
    reason = (
        f"Switched off on {now:%Y-%m-%d %H:%M} UTC: {endpoint.consecutive_failures} attempts in a row failed since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC (the last: {error}). Fix the receiver, then switch it on again."
    )
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk, active=True).update(
            active=False, disabled_at=now, disabled_reason=reason
        )
        Delivery.objects.filter(endpoint=endpoint, status="pending").exclude(type="test").update(
            status=Delivery.Status.FAILED, finished=now, last_error="the endpoint was switched off"
        )
    return False


def send_test(endpoint: Endpoint) -> Delivery:
    """A test message to the endpoint now (whatever types it chose, and even when it is switched off)."""
    data = {"endpoint": endpoint.pk, "name": endpoint.name, "message": "A test message from fleet."}
    return emit(endpoint.organization_id, [("test", data)], endpoints=[endpoint])[0]
