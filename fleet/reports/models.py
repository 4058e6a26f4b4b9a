"""Long reports run as Celery jobs (``fleet.reports.jobs``): the query, its progress and its computed result."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from fleet.core.models import Job
from fleet.reports import serial
from fleet.reports.tables import Report


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
