"""Charts (/reports/charts/) and the utilisation overview (/reports/utilisation/). Every object comes through
``fleet.core.scoping``: another organisation's device is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from fleet.core.jsonout import JsonResponse, json_script
from fleet.core.scoping import get_for_user, organizations_for_user, parse_pk
from fleet.reports import charts, jobs
from fleet.reports.forms import ReportForm
from fleet.reports.tables import DATETIME, DISTANCE, DURATION, Column, Units
from fleet.reports.utilisation import Figures, overview, report_url
from fleet.reports.views.pages import SCOPED_FIELDS
from fleet.tracking.models import Device

CHART_KIND = "charts"  # the form without the per-report options (event type, geofence, rows per day)
MAX_CHART_POSITIONS = 1_000_000  # one device: closed days come from the positions store's archive


# ---------------------------------------------------------------------------------------------- charts


@require_GET
@login_required
def charts_page(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.GET or None, user=request.user, kind=CHART_KIND)
    context = {"form": form, "query": request.GET.urlencode()}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        context |= {"scope": data["scope"], "range": _range_text(data), "timezone": data["organization"].timezone}
        if data.get("device") is not None:
            context["data_url"] = f"{reverse('reports:chart-data')}?{context['query']}"
        elif jobs.should_run_in_background(data["organization"], data["devices"], data["start"], data["end"]):
            context["too_big"] = _summary_by_day_url(request)
        else:
            fleet = charts.fleet_payload(data["organization"], data["devices"], data["start"], data["end"])
            context |= {"fleet": fleet, "fleet_rows": _fleet_rows(fleet)}
            context["fleet_script"] = json_script(fleet, "fleet-data")
    return render(request, "reports/charts.html", context, status=400 if form.is_bound and form.errors else 200)


@require_GET
@login_required
def chart_data(request: HttpRequest) -> HttpResponse:
    """One device's series (``device`` given) or the days of a group / the fleet, as columnar JSON."""
    form = ReportForm(request.GET, user=request.user, kind=CHART_KIND)
    if not form.is_valid():
        if SCOPED_FIELDS & form.errors.keys():
            raise Http404("No such device, group or organisation.")
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    data = form.cleaned_data
    org, start, end = data["organization"], data["start"], data["end"]
    device = data.get("device")
    if device is None:
        if jobs.should_run_in_background(org, data["devices"], start, end):
            return JsonResponse(
                {"errors": {"__all__": [{"message": "Too many devices x days to chart at once."}]}}, status=400
            )
        return JsonResponse(charts.fleet_payload(org, data["devices"], start, end))
    if jobs.position_count([device], start, end, MAX_CHART_POSITIONS + 1) > MAX_CHART_POSITIONS:
        message = f"{device.name} has more than {MAX_CHART_POSITIONS:,} positions in this range: choose fewer days."
        return JsonResponse({"errors": {"__all__": [{"message": message}]}}, status=400)
    return JsonResponse(charts.device_payload(device, org, start, end))


def _range_text(data: dict) -> tuple[str, str]:
    units, stamp = Units.for_org(data["organization"]), Column("t", "t", DATETIME)
    return units.text(stamp, data["start"]), units.text(stamp, data["end"])


def _summary_by_day_url(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["split"] = "day"
    return f"{reverse('reports:report', args=['summary'])}?{query.urlencode()}"


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
