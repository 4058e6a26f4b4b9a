"""Thin Celery tasks: one delivery attempt at a time, the next one scheduled with a countdown (no worker waits)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from fleet.webhooks import send
from fleet.webhooks.models import Delivery

LATE_S = 120  # a pending delivery this late was lost by the broker (a restart): queued again


@shared_task(time_limit=60, soft_time_limit=50, ignore_result=True)
def deliver(delivery_id: int) -> None:
    delay = send.attempt(delivery_id)
    if delay is not None:
        deliver.apply_async((delivery_id,), countdown=delay)


@shared_task(time_limit=60, soft_time_limit=50, ignore_result=True)
def deliver_overdue() -> int:
    """Beat: queue again the pending deliveries whose attempt is well overdue (an attempt claims its delivery,
    so one queued twice is still sent once)."""
    late = timezone.now() - timedelta(seconds=LATE_S)
    due = Q(next_at__lt=late) | Q(next_at__isnull=True, attempts=0, created__lt=late)
    ids = list(Delivery.objects.filter(due, status=Delivery.Status.PENDING).values_list("pk", flat=True)[:1000])
    send.queue(ids)
    return len(ids)


@shared_task(time_limit=300, soft_time_limit=280, ignore_result=True)
def prune_deliveries() -> int:
    """Beat: forget finished deliveries (and their attempts) older than WEBHOOK_LOG_DAYS."""
    old = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_DAYS)
    return Delivery.objects.filter(created__lt=old).exclude(status=Delivery.Status.PENDING).delete()[0]
