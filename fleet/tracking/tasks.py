from celery import shared_task
from django.conf import settings

from fleet.tracking import partitions


@shared_task(time_limit=600, soft_time_limit=540)
def maintain_partitions() -> dict:
    created = partitions.ensure_partitions(settings.POSITION_PARTITION_DAYS_AHEAD)
    dropped = partitions.drop_expired(settings.POSITION_RETENTION_DAYS)
    return {"created": created, "dropped_positions": dropped}
