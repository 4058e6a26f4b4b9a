from celery import shared_task
from django.conf import settings

from fleet.tracking import partitions
from fleet.tracking.store import archive


@shared_task(time_limit=600, soft_time_limit=540)
def maintain_partitions() -> dict:
    created = partitions.ensure_partitions(settings.POSITION_PARTITION_DAYS_AHEAD)
    dropped = partitions.drop_expired(settings.POSITION_RETENTION_DAYS)
    return {"created": created, "dropped_positions": dropped}


@shared_task(time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60, ignore_result=True)
def archive_closed_days(days: int = 31) -> int:
    """Beat, daily: archive the closed days of the last ``days`` that no report has read yet (or whose
    positions changed since), then drop the archived days the positions' retention dropped or whose device
    is gone."""
    built = archive.archive_recent_days(days)[0]
    archive.prune_expired()
    return built
