"""Thin Celery tasks of the geo app."""

from celery import shared_task


@shared_task(time_limit=600, soft_time_limit=570, ignore_result=True)
def fill_address_cache() -> dict[str, int]:
    """Beat, every minute, and woken when a report or the device card misses the cache: ask the geocoding
    provider for the queued cells (``fleet.geo.geocoding.fill``)."""
    from fleet.geo.geocoding import fill

    return fill.run()
