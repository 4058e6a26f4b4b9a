"""The vendors' asynchronous POI visit reports: ask, then poll until the vendor is done, then keep the rows.
Each step is short; between steps the Celery task is scheduled again (``poi_report_task``), so no worker waits
for the vendor. A report not done within ``POI_REPORT_TIMEOUT_S`` ends with an error saying so."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from fleet.vendors.base import POI_REPORTS
from fleet.vendors.errors import VendorError
from fleet.vendors.models import PoiReport, VendorAccount
from fleet.vendors.registry import capabilities
from fleet.vendors.sync import connector_for

POLL_S = 2.0  # between two looks at the vendor's status


def request(account: VendorAccount, start: datetime, end: datetime) -> PoiReport:
    """Record the report and start its task; a vendor without POI reports is refused at once."""
    if POI_REPORTS not in capabilities(account.kind):
        raise ValueError(f"{account.kind} makes no POI reports")
    report = PoiReport.objects.create(account=account, start=start, end=end)
    from fleet.vendors.tasks import poi_report_task

    poi_report_task.delay(report.pk)
    return report


def advance(report: PoiReport) -> float | None:
    """One step: ask the vendor (first time), else look at its status and fetch the rows once done. Returns the
    seconds until the next step, or None when the report is finished (done or failed)."""
    if report.status != PoiReport.Status.PENDING:
        return None
    try:
        with connector_for(report.account) as connector:
            if not report.vendor_id:
                report.vendor_id = connector.create_poi_report(report.start, report.end)
                report.save(update_fields=["vendor_id"])
                return POLL_S
            if connector.poi_report_status(report.vendor_id) == "done":
                rows = connector.poi_report_rows(report.vendor_id)
                return _finish(report, PoiReport.Status.DONE, rows=[_stored(row) for row in rows])
    except VendorError as exc:
        if exc.permanent:
            return _finish(report, PoiReport.Status.ERROR, error=exc.message)
        raise
    waited = (timezone.now() - report.requested).total_seconds()
    limit = settings.POI_REPORT_TIMEOUT_S
    if waited > limit:
        error = f"the vendor had not made the POI report {report.vendor_id} after {limit:g} s: given up"
        return _finish(report, PoiReport.Status.ERROR, error=error)
    return POLL_S


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON keeps it: times in ISO 8601."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _finish(report: PoiReport, status: str, rows: list | None = None, error: str = "") -> None:
    report.status, report.rows, report.error, report.finished = status, rows or [], error, timezone.now()
    report.save(update_fields=["status", "rows", "error", "finished"])
