"""What every kind of background job (``fleet.core.models.Job``) shares: claiming a queued job, writing its
progress, finishing or failing it, and bounding the memory a task may take. How jobs run:
docs/reports-engine.md (Background jobs), docs/positions-store.md (GPX import)."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.db.models import Q, QuerySet
from django.utils import timezone

from fleet.core.models import Job

PROGRESS_EVERY_S = 0.5  # at most two progress writes a second
LOST_AFTER_S = 60  # past its task's hard time limit, a job still running lost its worker


def claim(queryset: QuerySet, pk: int, time_limit_s: int) -> Job | None:
    """Mark a queued job running and return it (from ``queryset``); None when it is gone, over, or running
    elsewhere. A job still running ``LOST_AFTER_S`` after its task's hard time limit lost its worker: it may
    be claimed again (a redelivered task)."""
    model = queryset.model
    now = timezone.now()
    stale = now - timedelta(seconds=time_limit_s + LOST_AFTER_S)
    claimable = Q(status=model.Status.QUEUED) | Q(status=model.Status.RUNNING, started__lt=stale)
    if not model.objects.filter(claimable, pk=pk).update(status=model.Status.RUNNING, started=now):
        return None
    return queryset.get(pk=pk)


def finish(job: Job, **fields) -> None:
    """Mark the job done, with ``fields`` (its result) written in the same update."""
    _update(job, status=job.Status.DONE, finished=timezone.now(), error="", **fields)


def fail(job: Job, message: str, **fields) -> None:
    """Mark the job failed with ``message``, for the user."""
    _update(job, status=job.Status.FAILED, error=message, finished=timezone.now(), **fields)


def fail_if_lost(job: Job, time_limit_s: int, message: str) -> None:
    """Fail a job still running ``LOST_AFTER_S`` past its task's hard time limit: its worker was killed (or
    crashed) and the task will not be delivered again."""
    stale = timezone.now() - timedelta(seconds=time_limit_s + LOST_AFTER_S)
    if job.status == job.Status.RUNNING and job.started is not None and job.started < stale:
        fail(job, message)


def _update(job: Job, **fields) -> None:
    # An update, not save(): the progress callback wrote done / total to the row meanwhile.
    type(job).objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()


class Progress:
    """The ``progress(done, total)`` callback of a running job: saves done / total (and any other counters
    given) to the job's row, at most every ``every_s`` seconds, and always the last call (done == total)."""

    def __init__(self, job: Job, every_s: float = PROGRESS_EVERY_S) -> None:
        self.job, self.every_s, self.last = job, every_s, 0.0

    def __call__(self, done: int, total: int, **counters: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every_s:
            return
        self.last = now
        type(self.job).objects.filter(pk=self.job.pk).update(done=done, total=total, **counters)


@contextmanager
def memory_limit(extra_bytes: int) -> Iterator[None]:
    """Let the process grow by at most ``extra_bytes`` of address space while the block runs (``RLIMIT_AS``:
    an allocation past it raises MemoryError), then restore the limit. Meant for a task in a prefork worker's
    child, which runs one task at a time; in a threaded process the limit binds every thread. Where the
    process's size cannot be read (no /proc), the block runs without a limit."""
    size = _address_space()
    if size is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra_bytes
    for bound in (soft, hard):
        if bound != resource.RLIM_INFINITY:
            limit = min(limit, bound)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize()
