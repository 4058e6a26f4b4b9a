"""Long reports as Celery jobs: whether a report is too big to compute inside a request (device-days, then a
bounded count of positions; for the summary, what the closed-day cache leaves to compute), starting one, running
it and pruning old ones. The thresholds and their reasons are in docs/reports-engine.md (Background jobs)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import QueryDict
from django.utils.module_loading import import_string

from fleet.core import jobs
from fleet.reports import cache
from fleet.reports.engine import Params
from fleet.reports.models import ReportJob
from fleet.tracking import store

MAX_DEVICE_DAYS = 62
# Jobs that are not report kinds: their builder (same signature as a kind's), by job kind.
OTHER_BUILDERS = {"charts": "fleet.reports.charts.days_report"}
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


# Kinds that read every device's range through the closed-day cache, planned for all devices at once: they
# decide by what the cache leaves to compute (``cache.cheap``, as the fleet charts do), not by device-days.
CACHED_KINDS = {"summary"}


def should_run_in_background(organization, devices, start: datetime, end: datetime, kind: str | None = None) -> bool:
    """True when the report is too big for a request (see the module docstring for the thresholds)."""
    if kind in CACHED_KINDS:
        params = Params.for_org(organization)
        planned = cache.CachedRange.many(_ids(devices), params, start, end, organization.timezone, rows_only=True)
        if cache.cheap(planned):
            return False
        logger.info(
            "reports: the %s of %d devices runs as a job: %d closed days not cached (%d devices' rows from the "
            "fleet's entry)",
            kind,
            len(planned),
            sum(p.closed_misses for p in planned),
            sum(p.known_rows is not None for p in planned),
        )
        return True
    if device_days(devices, start, end) > MAX_DEVICE_DAYS:
        return True
    limit = MAX_ROUTE_POSITIONS if kind == "route" else MAX_POSITIONS
    return position_count(devices, start, end, limit + 1) > limit


class TooManyJobs(Exception):
    """The user or the organisation already has its share of jobs queued or running; the message says which."""


def start(user, kind: str, query) -> ReportJob:
    """Create a job for the report ``kind`` over the form query ``query`` (a QueryDict or a dict) and enqueue it
    after commit. The same report asked again while its job is fresh gets that job: the query is compared in its
    canonical spelling (``ReportForm.canonical_query``), so stray or reordered parameters make no new job.

    Raises ValueError when the query does not validate (the view validated it already, so this is a bug or a
    race such as a device deleted meanwhile), TooManyJobs when a cap (``REPORT_JOBS_PER_USER``,
    ``REPORT_JOBS_PER_ORGANIZATION``) is reached."""
    from fleet.reports.forms import ReportForm

    form = ReportForm(query, user=user, kind=kind)
    if not form.is_valid():
        raise ValueError(f"invalid report query: {form.errors.as_text()}")
    params, organization = form.canonical_query(), form.cleaned_data["organization"]
    with transaction.atomic():
        _lock(user, organization)
        active = _active()
        recent = active.filter(
            organization=organization, user=user, kind=kind, params=params, created__gte=_now() - DEDUPLICATE_WITHIN
        ).first()
        if recent is not None:
            return recent
        _check_caps(active, user, organization)
        job = ReportJob.objects.create(
            organization=organization, user=user, kind=kind, params=params, total=len(form.cleaned_data["devices"])
        )
        transaction.on_commit(lambda: enqueue(job))
    return job


def _lock(user, organization) -> None:
    """Serialise job starts of this user and organisation, so that two requests at once cannot both pass a cap
    (SQLite's IMMEDIATE transactions serialise them already)."""
    for model, pk in ((get_user_model(), user.pk), (type(organization), organization.pk)):
        list(model.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True))


def _active():
    """Jobs that hold a place under the caps: queued or running, and younger than ``ACTIVE_FOR`` (an older one
    lost its worker, or waits behind stopped workers, and no longer blocks anyone)."""
    live = [ReportJob.Status.QUEUED, ReportJob.Status.RUNNING]
    return ReportJob.objects.filter(status__in=live, created__gte=_now() - ACTIVE_FOR)


def _check_caps(active, user, organization) -> None:
    per_user, per_org = settings.REPORT_JOBS_PER_USER, settings.REPORT_JOBS_PER_ORGANIZATION
    if active.filter(user=user).count() >= per_user:
        raise TooManyJobs(
            f"You already have {per_user} reports being computed in the background: "
            "ask for this one again when one of them is done."
        )
    if active.filter(organization=organization).count() >= per_org:
        raise TooManyJobs(
            f"{organization.name} already has {per_org} reports being computed in the background: "
            "ask for this one again in a few minutes."
        )


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
ACTIVE_FOR = timedelta(seconds=2 * TIME_LIMIT)  # how long a queued or running job counts under the caps


class Progress(jobs.Progress):
    """The ``progress(done, total)`` callback handed to the builder: saves done / total (and the rows so far
    when the builder reports them) to the job row, throttled."""

    def __init__(self, job: ReportJob) -> None:
        super().__init__(job, PROGRESS_EVERY_S)

    def __call__(self, done: int, total: int, rows: int | None = None) -> None:
        super().__call__(done, total, **({} if rows is None else {"rows": rows}))


def claim(job_id: int) -> ReportJob | None:
    """Mark a queued job running and return it; None when it is gone, finished, or running elsewhere (a job
    still "running" a minute past the hard time limit lost its worker: it may be claimed again)."""
    return jobs.claim(ReportJob.objects.select_related("organization", "user"), job_id, TIME_LIMIT)


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
    jobs.finish(job, result=job.result, rows=sum(len(table.rows) for table in report.tables))


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
    build = import_string(OTHER_BUILDERS[job.kind]) if job.kind in OTHER_BUILDERS else partial(build_report, job.kind)
    return build(
        data["organization"], devices, data["start"], data["end"], options=options(data), progress=Progress(job)
    )


def options(cleaned_data: dict) -> dict:
    """The builder's options: the form's fields other than the ones passed positionally."""
    positional = {"organization", "devices", "start", "end", "preset"}
    return {k: v for k, v in cleaned_data.items() if k not in positional}


def fail(job: ReportJob, message: str) -> None:
    jobs.fail(job, message)


def prune(keep_days: int = KEEP_DAYS) -> int:
    """Delete jobs created more than ``keep_days`` ago that are over, or stuck (never claimed, or lost)."""
    cutoff = _now() - timedelta(days=keep_days)
    deleted, _ = ReportJob.objects.filter(created__lt=cutoff).delete()
    return deleted
