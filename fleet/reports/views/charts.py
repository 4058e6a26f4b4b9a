"""Charts (/reports/charts/) and the utilisation overview (/reports/utilisation/). Every object comes through
``fleet.core.scoping``: another organisation's device is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from fleet.core.gcpause import with_gc_paused
from fleet.core.jsonout import JsonResponse, json_script
from fleet.core.scoping import for_user, get_for_user, organizations_for_user, parse_pk
from fleet.reports import charts, jobs
from fleet.reports.forms import ReportForm
from fleet.reports.models import ReportJob
from fleet.reports.tables import DATETIME, DISTANCE, DURATION, Column, Report, Units
from fleet.reports.utilisation import Figures, overview, report_url
from fleet.reports.views.pages import SCOPED_FIELDS
from fleet.tracking.models import Device

CHART_KIND = "charts"  # the form without the per-report options (event type, geofence, rows per day)
MAX_CHART_POSITIONS = 1_000_000  # one device: closed days come from the positions store's archive


# ---------------------------------------------------------------------------------------------- charts


@require_GET
@login_required
@with_gc_paused
def charts_page(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.GET or None, user=request.user, kind=CHART_KIND)
    context = {"form": form, "query": request.GET.urlencode()}
    if not (form.is_bound and form.is_valid()):
        return render(request, "reports/charts.html", context, status=400 if form.is_bound and form.errors else 200)
    data = form.cleaned_data
    context |= {"scope": data["scope"], "range": _range_text(data), "timezone": data["organization"].timezone}
    if data.get("device") is not None:
        context["data_url"] = f"{reverse('reports:chart-data')}?{context['query']}"
        return render(request, "reports/charts.html", context)
    try:
        days = _fleet_days(request, data)
    except jobs.TooManyJobs as exc:
        response = render(request, "reports/charts.html", context | {"refused": str(exc)}, status=429)
        response["Retry-After"] = "60"
        return response
    if isinstance(days, ReportJob):
        return redirect(days)
    fleet = charts.fleet_payload(data["organization"], data["devices"], data["start"], data["end"], days)
    context |= {"fleet": fleet, "fleet_rows": _fleet_rows(fleet), "fleet_script": json_script(fleet, "fleet-data")}
    return render(request, "reports/charts.html", context)


def _fleet_days(request: HttpRequest, data: dict) -> list[charts.Day] | ReportJob:
    """The chart's days: from the finished background job the query names (``job``), computed here when the
    closed-day cache leaves little to compute, or else a background job (started, or the same one running)."""
    org, devices, start, end = data["organization"], data["devices"], data["start"], data["end"]
    report = _finished_job_report(request, org)
    if report is not None:
        return charts.days_from_report(report, org.timezone)
    plan = charts.FleetPlan.make(org, devices, start, end)
    if plan.cheap:
        return plan.days()
    return jobs.start(request.user, CHART_KIND, request.GET)


def _finished_job_report(request: HttpRequest, org) -> Report | None:
    """The stored days of the finished chart job named by ``?job=``, when it is of the user's organisation and
    of this very query (a job of another query, or one not finished, is ignored: the chart is computed or
    asked again)."""
    pk = parse_pk(request.GET.get("job"))
    if pk is None:
        return None
    job = for_user(ReportJob.objects.filter(pk=pk, kind=CHART_KIND, organization=org), request.user).first()
    if job is None or not job.finished_ok:
        return None
    form = ReportForm(request.GET, user=request.user, kind=CHART_KIND)
    if not form.is_valid() or form.canonical_query() != job.params:
        return None
    return job.load_report()


@require_GET
@login_required
@with_gc_paused
def chart_data(request: HttpRequest) -> HttpResponse:
    """One device's series (``device`` given) or the days of a group / the fleet, as columnar JSON. A group or
    fleet chart too big for the request answers 202 with its background job's page and status URLs."""
    form = ReportForm(request.GET, user=request.user, kind=CHART_KIND)
    if not form.is_valid():
        if SCOPED_FIELDS & form.errors.keys():
            raise Http404("No such device, group or organisation.")
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    data = form.cleaned_data
    org, start, end = data["organization"], data["start"], data["end"]
    device = data.get("device")
    if device is None:
        try:
            days = _fleet_days(request, data)
        except jobs.TooManyJobs as exc:
            body = {"errors": {"__all__": [{"message": str(exc)}]}}
            return JsonResponse(body, status=429, headers={"Retry-After": "60"})
        if isinstance(days, ReportJob):
            urls = {"job": days.get_absolute_url(), "status": reverse("reports:job-status", args=[days.pk])}
            return JsonResponse({"mode": "job", **urls}, status=202)
        return JsonResponse(charts.fleet_payload(org, data["devices"], start, end, days))
    if jobs.position_count([device], start, end, MAX_CHART_POSITIONS + 1) > MAX_CHART_POSITIONS:
        message = f"{device.name} has more than {MAX_CHART_POSITIONS:,} positions in this range: choose fewer days."
        return JsonResponse({"errors": {"__all__": [{"message": message}]}}, status=400)
    return JsonResponse(charts.device_payload(device, org, start, end))


def chart_url(job: ReportJob) -> str:
    """The charts page of a finished chart job: its query and the job, whose stored days it shows."""
    query = QueryDict(mutable=True)
    for key, values in job.params.items():
        query.setlist(key, values)
    query["job"] = str(job.pk)
    return f"{reverse('reports:charts')}?{query.urlencode()}"


def _range_text(data: dict) -> tuple[str, str]:
    units, stamp = Units.for_org(data["organization"]), Column("t", "t", DATETIME)
    return units.text(stamp, data["start"]), units.text(stamp, data["end"])


def _fleet_rows(fleet: dict) -> list[dict]:
    keys = ("days", "distance", "driving", "idle", "stopped", "no_data")
    return [dict(zip(keys, values, strict=True)) for values in zip(*(fleet[k] for k in keys), strict=True)]


# ----------------------------------------------------------------------------------------- utilisation


@require_GET
@login_required
def utilisation_page(request: HttpRequest) -> HttpResponse:
    orgs = organizations_for_user(request.user)
    chosen = request.GET.get("organization")
    if chosen:
        pk = parse_pk(chosen)
        if pk is None:
            return HttpResponseBadRequest("organization must be an id.\n", content_type="text/plain")
        org = get_for_user(orgs, request.user, pk=pk)
    else:
        org = orgs.first()
        if org is None:
            raise Http404("You belong to no organisation.")
    devices = list(Device.objects.filter(organization=org, retired__isnull=True).order_by("name", "pk"))
    many = orgs.count() > 1
    units = Units.for_org(org)
    context = {
        "organization": org,
        "organizations": orgs if many else None,
        "timezone": org.timezone,
        "periods": [_figures_view(f, units, org if many else None) for f in overview(org, devices)],
    }
    return render(request, "reports/utilisation.html", context)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def _figures_view(fig: Figures, units: Units, org) -> dict:
    """The template's figures: text in the organisation's units, each with the report it comes from."""
    distance, duration = Column("d", "Distance", DISTANCE), Column("t", "Time", DURATION)
    period = fig.period
    summary = report_url("summary", period, org)

    def vehicle(v) -> dict:
        return {
            "name": v.device.name,
            "distance": units.text(distance, v.distance_m),
            "driving": units.text(duration, v.driving_s),
            "url": report_url("summary", period, org, v.device),
            "trips_url": report_url("trips", period, org, v.device),
        }

    return {
        "key": period.key,
        "label": period.label,
        "first": period.first,
        "last": period.last,
        "figures": [
            ("Distance", units.text(distance, fig.distance_m), summary),
            ("Driving time", units.text(duration, fig.driving_s), summary),
            ("Idle time", units.text(duration, fig.idle_s), report_url("stops", period, org)),
            ("Active vehicles", f"{fig.active} / {fig.total}", summary),
            ("Utilisation (time driving)", _percent(fig.utilisation_time), summary),
            ("Time without data", _percent(fig.no_data_share), summary),
            (
                "Utilisation (vehicles that moved)",
                f"{_percent(fig.utilisation_vehicles)} ({fig.moved} / {fig.total})",
                report_url("trips", period, org),
            ),
            ("Idle share of engine time", _percent(fig.idle_share), report_url("stops", period, org)),
        ],
        "top": [vehicle(v) for v in fig.top],
        "bottom": [vehicle(v) for v in fig.bottom],
        "no_data": [{"name": v.device.name, "url": report_url("route", period, org, v.device)} for v in fig.no_data],
    }
