from celery import shared_task
from django.conf import settings

from fleet.tracking import gpxjobs, ingest, partitions
from fleet.tracking.store import archive


@shared_task(time_limit=600, soft_time_limit=540)
def maintain_partitions() -> dict:
    created = partitions.ensure_partitions(settings.POSITION_PARTITION_DAYS_AHEAD)
    dropped = partitions.drop_expired(settings.POSITION_RETENTION_DAYS)
    return {"created": created, "dropped_positions": dropped}


@shared_task(time_limit=300, soft_time_limit=280, ignore_result=True)
def recover_ingest_backlog() -> int:
    """Beat, every minute: evaluate the stored batches whose process died before their event engine ran."""
    return ingest.recover_backlog()


@shared_task(time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60, ignore_result=True)
def archive_closed_days(days: int = 31) -> int:
    """Beat, daily: archive the closed days of the last ``days`` that no report has read yet (or whose
    positions changed since), then drop the archived days the positions' retention dropped or whose device
    is gone."""
    built = archive.archive_recent_days(days)[0]
    archive.prune_expired()
    return built


@shared_task(time_limit=gpxjobs.TIME_LIMIT, soft_time_limit=gpxjobs.SOFT_TIME_LIMIT, ignore_result=True)
def run_gpx_import(job_id: int) -> str | None:
    """An uploaded GPX file into its device's positions (``fleet.tracking.gpxjobs``)."""
    job = gpxjobs.claim(job_id)
    if job is None:
        return None
    gpxjobs.run(job)
    return job.status


@shared_task(time_limit=120, soft_time_limit=110, ignore_result=True)
def prune_gpx_imports(keep_days: int = gpxjobs.KEEP_DAYS) -> int:
    """Beat, daily: drop GPX import jobs older than ``keep_days``."""
    return gpxjobs.prune(keep_days)
