"""Thin Celery tasks: take ids, re-fetch, delegate to ``fleet.reports.jobs`` and ``fleet.reports.cache``."""

from celery import shared_task

from fleet.reports import jobs


@shared_task(time_limit=jobs.TIME_LIMIT, soft_time_limit=jobs.SOFT_TIME_LIMIT, ignore_result=True)
def run_report_job(job_id: int) -> str | None:
    job = jobs.claim(job_id)
    if job is None:
        return None
    jobs.run(job)
    return job.status


@shared_task(time_limit=120, soft_time_limit=110, ignore_result=True)
def prune_report_jobs(keep_days: int = jobs.KEEP_DAYS) -> int:
    """Beat, daily: drop finished jobs (and their stored reports) older than ``keep_days``, and the fleet rows
    entries no summary wrote for a month."""
    from fleet.reports.cache import prune_fleet_rows

    return jobs.prune(keep_days) + prune_fleet_rows()


@shared_task(time_limit=3300, soft_time_limit=3240)  # its count kept: bench/soak.py waits for it
def warm_report_cache() -> int:
    """Beat, at :05 and :35 of every hour (soon after any local midnight): each organisation's last closed local
    day into the reports' day cache, computing only the devices whose day the cache lacks (after local
    midnight it is yesterday; until then the runs find it cached and cost a few queries per organisation)."""
    from fleet.core.models import Organization
    from fleet.reports.cache import warm_yesterday

    return sum(warm_yesterday(org) for org in Organization.objects.all())


@shared_task(time_limit=120, soft_time_limit=110, ignore_result=True)
def send_scheduled_reports() -> int:
    """Beat, every few minutes: hand the scheduled reports that are due to the workers."""
    from fleet.reports.schedules import send_due

    return send_due()


@shared_task(time_limit=jobs.TIME_LIMIT, soft_time_limit=jobs.SOFT_TIME_LIMIT, ignore_result=True)
def send_scheduled_report(schedule_id: int, run_at: str | None = None) -> bool | None:
    """Compute and email one scheduled report, its period relative to ``run_at`` (ISO 8601; None: now)."""
    from datetime import datetime

    from fleet.reports.models import ScheduledReport
    from fleet.reports.schedules import send

    schedule = ScheduledReport.objects.select_related("organization", "owner").filter(pk=schedule_id).first()
    if schedule is None:
        return None
    return send(schedule, datetime.fromisoformat(run_at) if run_at else None)
