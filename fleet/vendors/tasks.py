"""Thin Celery tasks: take ids, re-fetch, delegate to the sync and write-back services."""

import functools
import logging
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from fleet.dispatch.models import Task, TaskFile
from fleet.geo.models import POI, Geofence
from fleet.vendors import poireports, sync, writeback
from fleet.vendors.errors import VendorError
from fleet.vendors.models import PoiReport, SyncRun, VendorAccount

log = logging.getLogger(__name__)


def writeback_task(fn: Callable[..., None]):
    """A write-back Celery task: retried with backoff on a transient vendor error; a permanent one (the vendor
    cannot hold this object, e.g. a corridor at Metrotec) is logged once, never retried."""

    @functools.wraps(fn)
    def run(*args) -> None:
        try:
            fn(*args)
        except VendorError as exc:
            if not exc.permanent:
                raise
            log.warning("%s%s not retried: %s", fn.__name__, args, exc.message)

    return shared_task(
        name=f"{fn.__module__}.{fn.__name__}",
        time_limit=60,
        soft_time_limit=55,
        ignore_result=True,
        autoretry_for=(VendorError,),
        retry_backoff=True,
        max_retries=5,
    )(run)


@shared_task(time_limit=600, soft_time_limit=540, ignore_result=True)
def sync_account(account_id: int) -> str | None:
    account = VendorAccount.objects.filter(pk=account_id, enabled=True, disabled_by_error=False).first()
    if account is None:
        return None
    try:
        run = sync.sync_account(account)
    except sync.Busy:
        return "busy"
    return run.status


@shared_task(time_limit=30, soft_time_limit=25, ignore_result=True)
def enqueue_due_syncs() -> int:
    """Beat: queue every enabled account whose next run is due, and push its next run out so it is queued once."""
    now = timezone.now()
    due = VendorAccount.objects.filter(Q(next_run__lte=now), enabled=True, disabled_by_error=False)
    queued = 0
    for account in due:
        # Claim it: only the beat tick that moves next_run forward queues the sync.
        claimed = VendorAccount.objects.filter(pk=account.pk, next_run=account.next_run).update(
            next_run=now + timedelta(seconds=max(account.sync_interval_s, 30))
        )
        if claimed:
            sync_account.delay(account.pk)
            queued += 1
    return queued


@shared_task(time_limit=60, soft_time_limit=55, ignore_result=True)
def prune_sync_runs(keep_days: int = 14) -> int:
    cutoff = timezone.now() - timedelta(days=keep_days)
    # One DELETE statement: nothing cascades from a SyncRun and no delete signal listens to it.
    deleted, _ = SyncRun.objects.filter(started__lt=cutoff).delete()
    return deleted


@writeback_task
def push_geofence_task(geofence_id: int, account_id: int) -> None:
    geofence = Geofence.objects.filter(pk=geofence_id).first()
    account = VendorAccount.objects.filter(pk=account_id, enabled=True).first()
    if geofence and account:
        writeback.push_geofence(geofence, account)


@writeback_task
def delete_geofence_task(account_id: int, vendor_id: str) -> None:
    account = VendorAccount.objects.filter(pk=account_id, enabled=True).first()
    if account:
        writeback.delete_geofence(account, vendor_id)


@writeback_task
def push_task_task(task_id: int, account_id: int) -> None:
    task = Task.objects.filter(pk=task_id).select_related("device").first()
    account = VendorAccount.objects.filter(pk=account_id, enabled=True).first()
    if task and account:
        writeback.push_task(task, account)


@writeback_task
def push_task_file_task(task_file_id: int, account_id: int) -> None:
    task_file = TaskFile.objects.filter(pk=task_file_id).select_related("task").first()
    account = VendorAccount.objects.filter(pk=account_id, enabled=True).first()
    if task_file and account:
        writeback.push_task_file(task_file, account)


@writeback_task
def push_poi_task(poi_id: int, account_id: int) -> None:
    poi = POI.objects.filter(pk=poi_id).first()
    account = VendorAccount.objects.filter(pk=account_id, enabled=True).first()
    if poi and account:
        writeback.push_poi(poi, account)


@shared_task(time_limit=60, soft_time_limit=55, ignore_result=True, autoretry_for=(VendorError,), max_retries=5)
def poi_report_task(report_id: int) -> None:
    """One step of a POI report; scheduled again (not waiting) until the report is finished."""
    report = PoiReport.objects.filter(pk=report_id).select_related("account").first()
    if report is None:
        return
    delay = poireports.advance(report)
    if delay is not None:
        poi_report_task.apply_async((report_id,), countdown=delay)
