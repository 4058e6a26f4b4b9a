"""Scheduled reports: when each runs next (local hour of the organisation's time zone, across DST), the period a
run covers, and a run: the report computed exactly as its page computes it, emailed as XLSX or as an HTML table.
"""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail import EmailMultiAlternatives
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import escape
from django.utils.text import slugify

from fleet.core.scoping import EDITORS, org_ids_where
from fleet.reports import exports
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.models import ScheduledReport
from fleet.reports.tables import LINK, Report, Units

logger = logging.getLogger(__name__)

RANGE_FIELDS = ("preset", "start", "end")
HTML_ROWS = 5000  # rows of a table in an HTML email; the XLSX has them all
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------------------------------------- timing


def next_run(schedule: ScheduledReport, after: datetime) -> datetime:
    """The first run strictly after ``after``, in UTC: the schedule's hour on its next matching local day. An hour
    that a spring DST change skips runs at the first moment after the gap; one an autumn change repeats, once (at
    its first occurrence)."""
    zone = ZoneInfo(schedule.organization.timezone)
    day = after.astimezone(zone).date()
    for _ in range(64):
        if _matches(schedule, day):
            at = datetime.combine(day, time(schedule.hour), tzinfo=zone).astimezone(UTC)
            if at > after:
                return at
        day += timedelta(days=1)
    raise ValueError("no run day within two months")  # unreachable: monthday is at most 28


def _matches(schedule: ScheduledReport, day: date) -> bool:
    if schedule.frequency == ScheduledReport.Frequency.WEEKLY:
        return day.weekday() == schedule.weekday
    if schedule.frequency == ScheduledReport.Frequency.MONTHLY:
        return day.day == schedule.monthday
    return True


def period_dates(period: str, run_at: datetime, tz: str) -> tuple[date, date]:
    """The first and last local days (inclusive) that a run at ``run_at`` covers."""
    today = run_at.astimezone(ZoneInfo(tz)).date()
    yesterday = today - timedelta(days=1)
    if period == ScheduledReport.Period.YESTERDAY:
        return yesterday, yesterday
    if period == ScheduledReport.Period.LAST_7_DAYS:
        return today - timedelta(days=7), yesterday
    if period == ScheduledReport.Period.LAST_WEEK:
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if period == ScheduledReport.Period.LAST_MONTH:
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last.replace(day=calendar.monthrange(last.year, last.month)[1])
    raise ValueError(f"unknown period {period!r}")


def schedule_next(schedule: ScheduledReport, now: datetime | None = None) -> None:
    """Set ``next_run_at`` from now (None while disabled); the caller saves."""
    schedule.next_run_at = next_run(schedule, now or timezone.now()) if schedule.enabled else None


# ---------------------------------------------------------------------------------------------- running


class RunError(Exception):
    """A run that cannot compute its report, with a message for the schedule's page."""


def query(schedule: ScheduledReport, first: date, last: date) -> QueryDict:
    """The report form's query of a run: the saved parameters and the period as a custom range."""
    data = QueryDict(mutable=True)
    for key, values in schedule.params.items():
        if key not in RANGE_FIELDS:
            data.setlist(key, values)
    data.update({"preset": "custom", "start": first.isoformat(), "end": last.isoformat()})
    return data


def compute(schedule: ScheduledReport, run_at: datetime) -> tuple[Report, dict]:
    """The report of the run at ``run_at`` and the form's cleaned data, validated with the owner's rights now."""
    from fleet.reports.forms import ReportForm
    from fleet.reports.jobs import options

    owner, org = schedule.owner, schedule.organization
    if owner is None or not owner.is_active or org.pk not in org_ids_where(owner, EDITORS):
        raise RunError("Its owner is no longer an admin or dispatcher of the organisation: save it again.")
    if schedule.kind not in KINDS:
        raise RunError(f"There is no report {schedule.kind!r} any more.")
    first, last = period_dates(schedule.period, run_at, org.timezone)
    form = ReportForm(query(schedule, first, last), user=owner, kind=schedule.kind, now=run_at)
    if not form.is_valid():
        raise RunError(f"The report's parameters are no longer valid: {_errors(form)}")
    data = form.cleaned_data
    if data["organization"].pk != org.pk:
        raise RunError("The report's parameters name another organisation.")
    report = build_report(schedule.kind, org, data["devices"], data["start"], data["end"], options=options(data))
    return report, data


def _errors(form) -> str:
    """The form's errors in one line: "Device: Select a valid choice. …"."""
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label or name.capitalize() if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return "; ".join(parts)


def message(schedule: ScheduledReport, run_at: datetime) -> EmailMultiAlternatives:
    """The email of the run at ``run_at``, to the schedule's recipients."""
    report, data = compute(schedule, run_at)
    org = schedule.organization
    units = Units.for_org(org)
    first, last = period_dates(schedule.period, run_at, org.timezone)
    days = f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} – {last:%Y-%m-%d}"
    title = KINDS[schedule.kind].title
    body = (
        f"{title} report “{schedule.name}” of {org.name}: {data['scope']}, {days} ({org.timezone}).\n\n"
        f"{_summary(report)}\n\nSent by fleet on its schedule; an admin or dispatcher changes it on the "
        "Scheduled reports page.\n"
    )
    mail = EmailMultiAlternatives(f"{schedule.name}: {title}, {days}", body, to=schedule.recipient_list)
    if schedule.format == ScheduledReport.Format.XLSX:
        name = f"{schedule.kind}_{slugify(data['scope'])[:40] or 'devices'}_{first:%Y-%m-%d}"
        name += "" if first == last else f"_{last:%Y-%m-%d}"
        mail.attach(f"{name}.xlsx", exports.to_xlsx(report, units), XLSX_TYPE)
    else:
        mail.attach_alternative(html_body(report, units, body), "text/html")
    return mail


def _summary(report: Report) -> str:
    return "\n".join(f"{t.title}: {len(t.rows)} row{'s' if len(t.rows) != 1 else ''}" for t in report.tables)


def html_body(report: Report, units: Units, intro: str) -> str:
    """The report's tables as plain HTML tables (every value escaped; links to the app left out)."""
    parts = [f"<p>{escape(line)}</p>" for line in intro.strip().split("\n\n")[:1]]
    for table in report.tables:
        columns = [c for c in table.columns if c.kind != LINK]
        parts.append(f"<h2>{escape(table.title)}</h2>")
        head = "".join(f"<th>{escape(units.header(c))}</th>" for c in columns)
        rows = [
            "<tr>" + "".join(f"<td>{escape(units.text(c, row.get(c.key)))}</td>" for c in columns) + "</tr>"
            for row in table.rows[:HTML_ROWS]
        ]
        if table.totals:
            cells = [units.text(c, table.totals.get(c.key)) for c in columns]
            cells[0] = cells[0] or "Total"
            rows.append("<tr>" + "".join(f"<th>{escape(text)}</th>" for text in cells) + "</tr>")
        parts.append(f'<table border="1" cellpadding="4" cellspacing="0"><tr>{head}</tr>{"".join(rows)}</table>')
        if len(table.rows) > HTML_ROWS:
            parts.append(f"<p>The first {HTML_ROWS} of {len(table.rows)} rows; choose XLSX for them all.</p>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def send(schedule: ScheduledReport, run_at: datetime | None = None) -> bool:
    """Run the schedule now (its period relative to ``run_at``, default now) and record the outcome; True when sent.
    A failure is recorded in ``last_error`` and logged, never raised."""
    run_at = run_at or timezone.now()
    try:
        message(schedule, run_at).send()
    except RunError as exc:
        error = str(exc)
    except SoftTimeLimitExceeded:
        error = "The report took too long to compute; choose fewer devices or a shorter period."
    except Exception as exc:
        logger.exception("scheduled report %s failed", schedule.pk)
        error = f"The report could not be computed or sent ({type(exc).__name__}: {exc})."
    else:
        error = ""
    ScheduledReport.objects.filter(pk=schedule.pk).update(last_run_at=timezone.now(), last_error=error)
    schedule.last_error = error
    return not error


def send_due(now: datetime | None = None) -> int:
    """Hand every enabled schedule whose run is due to a worker (``tasks.send_scheduled_report``); returns how
    many. Each is claimed by moving its ``next_run_at`` on first, so two beats at once send it once; its period is
    that of its due time, however late the beat or the worker comes."""
    from fleet.reports.tasks import send_scheduled_report

    now = now or timezone.now()
    due = ScheduledReport.objects.filter(enabled=True, next_run_at__lte=now).select_related("organization")
    claimed = 0
    for schedule in due:
        run_at = schedule.next_run_at
        if ScheduledReport.objects.filter(pk=schedule.pk, next_run_at=run_at).update(
            next_run_at=next_run(schedule, now)
        ):
            send_scheduled_report.delay(schedule.pk, run_at.isoformat())
            claimed += 1
    return claimed
