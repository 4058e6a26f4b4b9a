"""Reports kept in the database: long ones run as Celery jobs (``fleet.reports.jobs``), and scheduled ones
emailed by beat (``fleet.reports.schedules``)."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from fleet.core.models import Job
from fleet.reports import serial
from fleet.reports.tables import Report

RECIPIENT_SEPARATORS = re.compile(r"[\s,;]+")


class ReportJob(Job):
    """One report computed in the background.

    ``params`` is the report form's query (``{field: [values]}``, as ``QueryDict.lists()``), so the job
    can be re-validated and re-run exactly. ``result`` is the computed ``Report`` itself, in the versioned
    format of ``fleet.reports.serial``: every export renders from it without recomputing, and it lives and dies
    with the row (organisation cascade, no orphan files) in the one store every process shares.
    """

    kind = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0, help_text="Devices computed so far.")
    total = models.PositiveIntegerField(default=0, help_text="Devices to compute.")
    rows = models.PositiveIntegerField(default=0, help_text="Table rows so far.")
    result = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["organization", "-created"])]

    def __str__(self) -> str:
        return f"{self.kind} report #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("reports:job", args=[self.pk])

    @property
    def finished_ok(self) -> bool:
        return self.status == self.Status.DONE and self.result is not None

    def store_report(self, report: Report) -> None:
        self.result = serial.dumps(report, compress=True)

    def load_report(self) -> Report | None:
        """The stored report; None when there is none or it was stored in another format (run it again)."""
        if self.result is None:
            return None
        try:
            return serial.loads(self.result)
        except serial.FormatError:
            return None


class ScheduledReport(models.Model):
    """A report saved with its parameters and emailed on a schedule (``fleet.reports.schedules``).

    ``params`` is the report form's query without its range (``{field: [value]}``); each run covers ``period``,
    relative to the run's time in the organisation's time zone. ``next_run_at`` is the next run in UTC.
    """

    class Period(models.TextChoices):
        YESTERDAY = "yesterday", "Yesterday"
        LAST_7_DAYS = "last_7_days", "The last 7 days (to yesterday)"
        LAST_WEEK = "last_week", "Last week (Monday to Sunday)"
        LAST_MONTH = "last_month", "Last month"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Every day"
        WEEKLY = "weekly", "Every week"
        MONTHLY = "monthly", "Every month"

    class Format(models.TextChoices):
        XLSX = "xlsx", "Excel (XLSX) attachment"
        HTML = "html", "Table in the email (HTML)"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    organization = models.ForeignKey("core.Organization", on_delete=models.CASCADE, related_name="scheduled_reports")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="scheduled_reports",
        help_text="Whose view of the organisation the report is computed with.",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    period = models.CharField(max_length=16, choices=Period.choices, default=Period.YESTERDAY)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.MONDAY, help_text="The day of a weekly report."
    )
    monthday = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text="The day of the month of a monthly report (1 to 28).",
    )
    hour = models.PositiveSmallIntegerField(
        default=7, validators=[MaxValueValidator(23)], help_text="The hour (0 to 23) in the organisation's time zone."
    )
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.XLSX)
    recipients = models.TextField(help_text="Email addresses, one a line or separated by commas.")
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    last_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["organization", "name", "pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("reports:scheduled-edit", args=[self.pk])

    @property
    def recipient_list(self) -> list[str]:
        return [r for r in RECIPIENT_SEPARATORS.split(self.recipients) if r]


class FleetRows(models.Model):
    """A fleet's summary rows over closed local days (``fleet.reports.cache.keep_rows``): each device's rows
    under the day keys they were computed at, one row per (devices, days, parameters). Kept in the database
    rather than in the cache, so that after a cache (Redis) restart the next summary of a big fleet still reads
    one row instead of computing every device's days again. Rows not written for ``cache.TIMEOUT`` are pruned
    daily (``tasks.prune_report_jobs``)."""

    key = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    updated = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name_plural = "fleet rows"

    def __str__(self) -> str:
        return self.key
