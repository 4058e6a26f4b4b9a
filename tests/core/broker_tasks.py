"""A task for tests/core/test_broker.py's worker (loaded with ``celery worker -I``): it marks that it started, then
takes its time, so that the broker can be restarted while it is in flight."""

import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.nap")
def nap(seconds: float, marker: str = "") -> str:
    if marker:
        Path(marker).touch()
    time.sleep(seconds)
    return "rested"
