from celery import shared_task


@shared_task(time_limit=60, soft_time_limit=50)
def refresh_device_states() -> dict:
    """Beat: publish devices that turned stale (and offline) without new data; see fleet/live/status.py."""
    from fleet.live.status import push_silent_changes

    return {"changed": push_silent_changes()}
