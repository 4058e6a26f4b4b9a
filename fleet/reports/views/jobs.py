"""Background report jobs (/reports/jobs/<id>/): progress, the finished report and its downloads. Another
organisation's job is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from fleet.core.jsonout import JsonResponse
from fleet.core.scoping import get_for_user
from fleet.reports.kinds import KINDS
from fleet.reports.models import ReportJob
from fleet.reports.tables import DATETIME, Column, Units
from fleet.reports.views.charts import CHART_KIND, chart_url
from fleet.reports.views.pages import FORMATS, days_label, download, table_views


def _job_for(request: HttpRequest, pk: int) -> ReportJob:
    return get_for_user(ReportJob.objects.select_related("organization"), request.user, pk=pk)


@require_GET
@login_required
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for(request, pk)
    if job.kind == CHART_KIND and job.finished_ok:
        return redirect(chart_url(job))  # the chart is drawn on its own page, from the job's stored days
    context = {"job": job, "title": KINDS[job.kind].title if job.kind in KINDS else job.kind.capitalize()}
    report = job.load_report() if job.finished_ok else None
    if report is not None:
        units = Units.for_org(job.organization)
        stamp = Column("t", "t", DATETIME)
        context |= {
            "report": report,
            "range": (units.text(stamp, report.start), units.text(stamp, report.end)),
            "timezone": units.timezone,
            "tables": table_views(report, units, request),
            "exports": _job_exports(job, report),
        }
    return render(request, "reports/job.html", context)


def _job_exports(job: ReportJob, report) -> list[dict]:
    def url(fmt: str, table: str | None = None) -> str:
        base = reverse("reports:job-export", args=[job.pk, fmt])
        return f"{base}?table={table}" if table else base

    if len(report.tables) > 1:
        links = [{"label": f"CSV: {t.title}", "url": url("csv", t.name)} for t in report.tables]
    else:
        links = [{"label": "CSV", "url": url("csv")}]
    links.append({"label": "Excel", "url": url("xlsx")})
    if report.tracks:
        links += [{"label": "GPX", "url": url("gpx")}, {"label": "KML", "url": url("kml")}]
    return links


@require_GET
@login_required
def job_status(request: HttpRequest, pk: int) -> JsonResponse:
    job = _job_for(request, pk)
    return JsonResponse(job.status_data() | {"rows": job.rows}, headers={"Cache-Control": "no-store"})


@require_GET
@login_required
def job_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    job = _job_for(request, pk)
    if fmt not in FORMATS:
        raise Http404("No such format.")
    report = job.load_report() if job.finished_ok else None
    if report is None:
        return HttpResponse("The report is not ready.\n", status=409, content_type="text/plain")
    table = request.GET.get("table") or None
    units = Units.for_org(job.organization)
    name = f"{job.kind}_job{job.pk}_{days_label(report.start, report.end, units)}.{fmt}"
    return download(report, units, fmt, table, name)
