"""GPX uploads as Celery jobs: the upload page stores the file in a ``GpxImport`` row and queues it; a worker
imports it under a time and a memory limit, writing progress and then the result or the reason it failed.
The limits and why: docs/positions-store.md (GPX import)."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleet.core import jobs
from fleet.tracking.gpximport import GpxError, import_segments, parse
from fleet.tracking.models import Device, GpxImport

# Celery limits of ``tasks.run_gpx_import``: the soft limit raises inside the import, which fails the job;
# the hard limit kills a worker stuck past it (the job page then reports it lost).
SOFT_TIME_LIMIT = 5 * 60
TIME_LIMIT = 6 * 60
KEEP_DAYS = 7  # a job's page stays this long (tasks.prune_gpx_imports, daily)

logger = logging.getLogger(__name__)


def start(user, device: Device, file_name: str, data: bytes, zone: zoneinfo.ZoneInfo) -> GpxImport:
    """Store the upload as a queued job and send it to the workers once the transaction commits."""
    job = GpxImport.objects.create(
        organization_id=device.organization_id,
        user=user,
        device=device,
        file_name=file_name[:255],
        data=data,
        timezone=str(zone),
    )
    transaction.on_commit(lambda: enqueue(job))
    return job


def enqueue(job: GpxImport) -> None:
    """Send the job to the workers: on the queue ``settings.IMPORTS_QUEUE`` when set, else the default one."""
    from fleet.tracking.tasks import run_gpx_import

    queue = getattr(settings, "IMPORTS_QUEUE", None)
    result = run_gpx_import.apply_async((job.pk,), **({"queue": queue} if queue else {}))
    GpxImport.objects.filter(pk=job.pk).update(task_id=result.id or "")


def claim(job_id: int) -> GpxImport | None:
    """Mark a queued job running and return it; None when it is gone, over, or running elsewhere."""
    return jobs.claim(GpxImport.objects.select_related("device", "organization"), job_id, TIME_LIMIT)


def run(job: GpxImport) -> None:
    """Import the job's file (status done, with the result's summary) or record why not (status failed);
    either way the stored file is dropped."""
    data, job.data = bytes(job.data or b""), None
    try:
        # Reading is what grows with the file; storing goes in batches.
        with jobs.memory_limit(settings.GPX_IMPORT_MEMORY_MB * 1024 * 1024):
            segments = parse(data)
        del data
        result = import_segments(job.device, segments, zoneinfo.ZoneInfo(job.timezone), jobs.Progress(job))
    except Exception as exc:
        jobs.fail(job, _failure(job, exc), data=None)
    else:
        warned = bool((result.rejected and not result.stored) or result.zoneless)
        jobs.finish(job, summary=result.summary(), warned=warned, data=None)


def _failure(job: GpxImport, exc: Exception) -> str:
    """Why the import failed, for the user."""
    if isinstance(exc, GpxError):
        return f"Cannot import this file: {exc}."
    if isinstance(exc, MemoryError):
        return f"Cannot import this file: reading it needs more than {settings.GPX_IMPORT_MEMORY_MB} MB of memory."
    if isinstance(exc, SoftTimeLimitExceeded):
        return _stopped(f"took longer than {SOFT_TIME_LIMIT // 60} minutes")
    logger.error("GPX import %s failed", job.pk, exc_info=exc)
    return f"The import failed ({type(exc).__name__})."


def _stopped(why: str) -> str:
    return (
        f"The import {why}. Points stored before it stopped are kept; importing the file again stores the rest "
        "(points already stored are not stored twice)."
    )


def check_lost(job: GpxImport) -> None:
    """Fail a job whose worker was killed or crashed (it will not run again)."""
    jobs.fail_if_lost(job, TIME_LIMIT, _stopped("stopped without finishing (its worker was lost)"))


def prune(keep_days: int = KEEP_DAYS) -> int:
    """Delete jobs created more than ``keep_days`` ago, with any file never imported."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted, _ = GpxImport.objects.filter(created__lt=cutoff).delete()
    return deleted
