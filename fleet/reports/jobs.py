"""Long reports as Celery jobs: whether a report is too big to compute inside a request (device-days, then a
bounded count of positions), starting one, running it and pruning old ones. The thresholds and their reasons
are in docs/reports-engine.md (Background jobs)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict

from fleet.reports.models import ReportJob
from fleet.tracking import store

MAX_DEVICE_DAYS = 62
MAX_POSITIONS = 1_000_000
MAX_ROUTE_POSITIONS = 300_000
# A second identical request within this time (double click, reload) gets the job already running.
DEDUPLICATE_WITHIN = timedelta(minutes=2)

logger = logging.getLogger(__name__)


def device_days(devices: Iterable, start: datetime, end: datetime) -> int:
    days = max(1, math.ceil((end - start).total_seconds() / 86400))
    return _count(devices) * days


def _count(devices) -> int:
    return devices.count() if hasattr(devices, "count") and not isinstance(devices, list | tuple) else len(devices)


def _ids(devices) -> list[int]:
    return [d if isinstance(d, int) else d.pk for d in devices]


def position_count(devices, start: datetime, end: datetime, limit: int) -> int:
    """Positions of ``devices`` in [start, end), counted up to about ``limit``."""
    return store.count(_ids(devices), start, end, limit)


def should_run_in_background(organization, devices, start: datetime, end: datetime, kind: str | None = None) -> bool:
    """True when the report is too big for a request (see the module docstring for the thresholds)."""
    if device_days(devices, start, end) > MAX_DEVICE_DAYS:
        return True
    limit = MAX_ROUTE_POSITIONS if kind == "route" else MAX_POSITIONS
    return position_count(devices, start, end, limit + 1) > limit


def _params(querydict) -> dict[str, list[str]]:
    """The query as ``{field: [values]}``, without the page's own switches."""
    if isinstance(querydict, QueryDict):
        items = querydict.lists()
    else:
        items = ((k, v if isinstance(v, list) else [v]) for k, v in dict(querydict).items())
    return {k: [str(x) for x in v] for k, v in items if k not in ("format", "page")}


def start(user, kind: str, querydict) -> ReportJob:
    """Create a job for the report ``kind`` over the validated form query and enqueue it after commit.

    Raises ValueError when the query does not validate (the view validated it already, so this is a bug
    or a race such as a device deleted meanwhile)."""
    from fleet.reports.forms import ReportForm

    params = _params(querydict)
    form = ReportForm(_querydict(params), user=user, kind=kind)
    if not form.is_valid():
        raise ValueError(f"invalid report query: {form.errors.as_text()}")
    organization = form.cleaned_data["organization"]
    recent = ReportJob.objects.filter(
        organization=organization,
        user=user,
        kind=kind,
        params=params,
        status__in=[ReportJob.Status.QUEUED, ReportJob.Status.RUNNING],
        created__gte=_now() - DEDUPLICATE_WITHIN,
    ).first()
    if recent is not None:
        return recent
    job = ReportJob.objects.create(
        organization=organization, user=user, kind=kind, params=params, total=len(form.cleaned_data["devices"])
    )
    transaction.on_commit(lambda: enqueue(job))
    return job


def enqueue(job: ReportJob) -> None:
    """Send the job to the workers: on the queue ``settings.REPORTS_QUEUE`` when set (a deployment that
    keeps long reports off the sync workers runs ``celery worker -Q <that queue>``), else the default one."""
    from fleet.reports.tasks import run_report_job

    queue = getattr(settings, "REPORTS_QUEUE", None)
    result = run_report_job.apply_async((job.pk,), **({"queue": queue} if queue else {}))
    ReportJob.objects.filter(pk=job.pk).update(task_id=result.id or "")


def _querydict(params: dict[str, list[str]]) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, values in params.items():
        query.setlist(key, values)
    return query


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


# ------------------------------------------------------------------------------------------------ running

# Celery limits of ``tasks.run_report_job``: the soft limit raises inside the job, which records it as
# failed; the hard limit kills a worker stuck past that (e.g. inside one long database query).
SOFT_TIME_LIMIT = 25 * 60
TIME_LIMIT = 30 * 60
PROGRESS_EVERY_S = 0.5  # at most two progress writes a second
KEEP_DAYS = 7  # a job's page and downloads stay this long (tasks.prune_report_jobs, daily)


class Progress:
    """The ``progress(done, total)`` callback handed to the builder: saves done / total (and the rows so far
    when the builder reports them) to the job row, throttled."""

    def __init__(self, job: ReportJob) -> None:
        self.job, self.last = job, 0.0

    def __call__(self, done: int, total: int, rows: int | None = None) -> None:
        now = time.monotonic()
        if done < total and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        fields = {"done": done, "total": total} if rows is None else {"done": done, "total": total, "rows": rows}
        ReportJob.objects.filter(pk=self.job.pk).update(**fields)


def claim(job_id: int) -> ReportJob | None:
    """Mark a queued job running and return it; None when it is gone, finished, or running elsewhere.

    A job still "running" long after the hard time limit lost its worker (acks_late redelivers the task):
    it may be claimed again."""
    now = _now()
    stale = now - timedelta(seconds=TIME_LIMIT + 60)
    claimable = Q(status=ReportJob.Status.QUEUED) | Q(status=ReportJob.Status.RUNNING, started__lt=stale)
    if not ReportJob.objects.filter(claimable, pk=job_id).update(status=ReportJob.Status.RUNNING, started=now):
        return None
    return ReportJob.objects.select_related("organization", "user").get(pk=job_id)


def run(job: ReportJob) -> None:
    """Compute the job's report and store it (status done), or record why it failed (status failed)."""
    try:
        report = compute(job)
    except SoftTimeLimitExceeded:
        fail(job, f"The report took longer than {SOFT_TIME_LIMIT // 60} minutes; choose fewer devices or days.")
        return
    except JobError as exc:
        fail(job, str(exc))
        return
    except Exception as exc:
        logger.exception("report job %s failed", job.pk)
        fail(job, f"The report could not be computed ({type(exc).__name__}).")
        return
    job.store_report(report)
    rows = sum(len(table.rows) for table in report.tables)
    finished = {"status": ReportJob.Status.DONE, "finished": _now(), "error": "", "rows": rows}
    # An update, not save(): the progress callback wrote done / total to the row meanwhile.
    ReportJob.objects.filter(pk=job.pk).update(result=job.result, **finished)
    job.refresh_from_db()


class JobError(Exception):
    """A job that cannot run, with a message for the user."""


def compute(job: ReportJob):
    from fleet.reports.forms import ReportForm
    from fleet.reports.kinds import build_report

    if job.user is None or not job.user.is_active:
        raise JobError("The user who asked for this report no longer exists.")
    # The range as it was when asked ("today" ends when the job was created, not when a worker got to it).
    form = ReportForm(_querydict(job.params), user=job.user, kind=job.kind, now=job.created)
    if not form.is_valid():
        raise JobError(f"The report query is no longer valid: {form.errors.as_text()}")
    data = form.cleaned_data
    if data["organization"].pk != job.organization_id:
        raise JobError("The report query names another organisation.")
    devices = list(data["devices"])
    ReportJob.objects.filter(pk=job.pk).update(total=len(devices))
    job.total = len(devices)
    return build_report(
        job.kind,
        data["organization"],
        devices,
        data["start"],
        data["end"],
        options=options(data),
        progress=Progress(job),
    )


def options(cleaned_data: dict) -> dict:
    """The builder's options: the form's fields other than the ones passed positionally."""
    positional = {"organization", "devices", "start", "end", "preset"}
    return {k: v for k, v in cleaned_data.items() if k not in positional}


def fail(job: ReportJob, message: str) -> None:
    ReportJob.objects.filter(pk=job.pk).update(status=ReportJob.Status.FAILED, error=message, finished=_now())
    job.refresh_from_db()


def prune(keep_days: int = KEEP_DAYS) -> int:
    """Delete jobs created more than ``keep_days`` ago that are over, or stuck (never claimed, or lost)."""
    cutoff = _now() - timedelta(days=keep_days)
    deleted, _ = ReportJob.objects.filter(created__lt=cutoff).delete()
    return deleted
