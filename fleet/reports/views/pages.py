"""Report pages and exports: /reports/ (every kind with the form), /reports/<kind>/ and its downloads.

Each request validates the form (scoped to the user's organisations), computes the ``Report`` once and
renders it: as HTML tables (and a map for route / trips) or as CSV / XLSX / GPX / KML.
"""

from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlencode

import numpy as np
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import register_converter, reverse
from django.utils.html import escape
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from fleet.core.gcpause import with_gc_paused
from fleet.core.jsonout import json_script
from fleet.core.maps import map_settings
from fleet.core.scoping import EDITORS, org_ids_where, parse_pk
from fleet.reports import exports, jobs
from fleet.reports.cache import reuse_plans
from fleet.reports.forms import ReportForm
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.tables import DATETIME, LATLON, LINK, NUMBER, Column, Report, Table, Units
from fleet.reports.vendor import vendor_visits

HTML_ROWS = 2000  # rows shown per table on the page; exports have them all
MAP_POINTS = 20_000  # points drawn on the page's map, all lines together (GPX / KML have them all)
NUMERIC = {"int", NUMBER, "duration", "distance", "speed", "volume"}
# A form error on these fields means an id the user may not see: the export answers 404, not 400.
SCOPED_FIELDS = {"organization", "device", "group", "geofence"}
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpx": "application/gpx+xml",
    "kml": "application/vnd.google-earth.kml+xml",
}


class KindConverter:
    regex = "|".join(KINDS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FormatConverter(KindConverter):
    regex = "|".join(FORMATS)


register_converter(KindConverter, "report_kind")
register_converter(FormatConverter, "report_format")


# ----------------------------------------------------------------------------------------- presentation


def table_view(table: Table, units: Units, limit: int = HTML_ROWS, page: int | None = None) -> dict:
    """What ``reports/_table.html`` renders: headers, and each row's cells as one escaped HTML string, in the
    organisation's units (one string a row: a template loop over every cell is slow on long tables). The first
    ``limit`` rows; with ``page`` (from 1; past the last: the last), that page of ``limit`` rows."""
    columns = table.columns
    pages = max(1, math.ceil(len(table.rows) / limit))
    page = min(max(page, 1), pages) if page is not None else None
    first = (page - 1) * limit if page else 0
    rows = table.rows[first : first + limit]
    return {
        "name": table.name,
        "title": table.title,
        "headers": [{"label": c.label, "numeric": c.kind in NUMERIC} for c in columns],
        "rows": [_row_html(columns, row, units) for row in rows],
        "totals": _totals_html(columns, table.totals, units) if table.totals else None,
        "count": len(table.rows),
        "truncated": page is None and len(table.rows) > limit,
        "limit": limit,
        "page": page,
        "pages": pages,
        "shown": (first + 1, first + len(rows)),
    }


def page_number(value: str | None) -> int:
    """The ``page`` query parameter: a number from 1 (read as ids are), anything else the first page."""
    return parse_pk(value) or 1


def table_views(report: Report, units: Units, request: HttpRequest) -> list[dict]:
    """The report's tables for a page (the report's or its background job's): in pages of the kind's
    ``page_rows`` (``?page=N``, the rest of the query kept) where it has them, else the first rows."""
    rows = KINDS[report.kind].page_rows
    if rows is None:
        return [table_view(t, units) for t in report.tables]
    query = {k: v for k, v in request.GET.lists() if k != "page"}
    views = [table_view(t, units, rows, page_number(request.GET.get("page"))) for t in report.tables]
    return [view | page_links(view, query) for view in views]


def page_links(view: dict, query: dict) -> dict:
    """The previous and next pages' URLs of a paged table view (None at either end), the query otherwise kept."""

    def url(page: int) -> str:
        return "?" + urlencode({**query, "page": page}, doseq=True)

    page = view["page"]
    return {"previous": url(page - 1) if page > 1 else None, "next": url(page + 1) if page < view["pages"] else None}


def _row_html(columns: list[Column], row: dict, units: Units) -> SafeString:
    """A row's ``<td>`` cells: a position links to the page's map, a LINK column to its URL."""
    cells = "".join(_td(column, _cell(column, row.get(column.key), units)) for column in columns)
    return mark_safe(cells)  # noqa: S308 - _cell escapes every value


def _cell(column: Column, value, units: Units) -> str:
    if column.kind == LINK:
        return f'<a href="{escape(value)}">{escape(column.label)}</a>' if value else ""
    text = escape(units.text(column, value))
    if column.kind == LATLON and value is not None:
        return f'<a href="#report-map" class="place" data-lat="{value[0]:.6f}" data-lon="{value[1]:.6f}">{text}</a>'
    return text


def _td(column: Column, html: str) -> str:
    return f'<td class="num">{html}</td>' if column.kind in NUMERIC else f"<td>{html}</td>"


def _totals_html(columns: list[Column], totals: dict, units: Units) -> SafeString:
    """The footer's cells, text only; an empty first cell says "Total"."""
    texts = [units.text(column, totals.get(column.key)) for column in columns]
    texts[0] = texts[0] or "Total"
    cells = "".join(_td(column, escape(text)) for column, text in zip(columns, texts, strict=True))
    return mark_safe(cells)  # noqa: S308 - every text is escaped


def map_tracks(report: Report, budget: int = MAP_POINTS) -> list[dict]:
    """The report's lines for Leaflet, thinned evenly (first and last points kept) to ``budget`` points."""
    step = max(1, math.ceil(sum(len(line) for line in report.tracks) / budget))
    out = []
    for line in report.tracks:
        keep = np.arange(0, len(line), step)
        if (len(line) - 1) % step:
            keep = np.append(keep, len(line) - 1)
        points = np.column_stack((line.lat[keep], line.lon[keep])).round(6)
        out.append({"name": line.name, "device": line.device_id, "points": points.tolist()})
    return out


def map_points(report: Report, limit: int = HTML_ROWS) -> list[list]:
    """Without tracks (e.g. stops): the first LATLON column's places as [lat, lon, label] markers."""
    if report.tracks or not report.tables:
        return []
    table = report.tables[0]
    place = next((c for c in table.columns if c.kind == LATLON), None)
    if place is None:
        return []
    label = next((c.key for c in table.columns if c.kind == "text"), None)
    rows = (r for r in table.rows[:limit] if r.get(place.key) is not None)
    return [[round(r[place.key][0], 6), round(r[place.key][1], 6), str(r.get(label) or "")] for r in rows]


def _kinds() -> list[dict]:
    return [{"slug": slug, **vars(kind)} for slug, kind in KINDS.items()]


# ---------------------------------------------------------------------------------------------- compute


def _compute(request: HttpRequest, kind: str, data: dict) -> Report | HttpResponse:
    """The report, or a redirect to a background job when it is too big to compute in this request (raises
    ``jobs.TooManyJobs`` when no more jobs may start: the callers answer 429)."""
    org, devices, start, end = data["organization"], data["devices"], data["start"], data["end"]
    with reuse_plans():  # the summary's plan of every device's days: made by the first question, used by both
        if jobs.should_run_in_background(org, devices, start, end, kind):
            return redirect(jobs.start(request.user, kind, request.GET))
        options = {k: v for k, v in data.items() if k not in ("organization", "devices", "start", "end", "preset")}
        return build_report(kind, org, devices, start, end, options=options)


def _filename(kind: str, data: dict, fmt: str) -> str:
    days = days_label(data["start"], data["end"], Units.for_org(data["organization"]))
    return f"{kind}_{slugify(data['scope'])[:40] or 'devices'}_{days}.{fmt}"


def days_label(start, end, units: Units) -> str:
    """The local days of [start, end) for a file name: "2026-11-30" or "2026-11-01_2026-11-30"."""
    first = start.astimezone(units.tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(units.tz).date()
    return f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d}_{last:%Y-%m-%d}"


def download(report: Report, units: Units, fmt: str, table: str | None, filename: str) -> HttpResponse:
    """A report as an attachment in ``fmt`` (the page's and the background job's downloads alike); 400 for a
    table the report lacks, or GPX / KML of a report without tracks."""
    if table and table not in {t.name for t in report.tables}:
        return HttpResponseBadRequest(f"This report has no table {table!r}.\n", content_type="text/plain")
    if fmt in ("gpx", "kml") and not KINDS[report.kind].tracks:
        return HttpResponseBadRequest("GPX and KML exist for the route and trips reports only.\n")
    if fmt == "csv":
        response = StreamingHttpResponse(_with_bom(exports.to_csv(report, units, table)), content_type=FORMATS[fmt])
    elif fmt == "xlsx":
        response = HttpResponse(exports.to_xlsx(report, units), content_type=FORMATS[fmt])
    elif fmt == "gpx":
        response = HttpResponse(exports.to_gpx(report), content_type=FORMATS[fmt])
    else:
        response = HttpResponse(exports.to_kml(report), content_type=FORMATS[fmt])
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


# ------------------------------------------------------------------------------------------------ views


@require_GET
@login_required
def index(request: HttpRequest) -> HttpResponse:
    form = ReportForm(user=request.user)
    context = {"form": form, "kinds": _kinds()}
    return render(request, "reports/index.html", context)


@require_GET
@login_required
@with_gc_paused  # a fleet's report allocates much that lives until the page is rendered
def report(request: HttpRequest, kind: str) -> HttpResponse:
    spec = KINDS[kind]
    query = urlencode({k: v for k, v in request.GET.lists() if k != "page"}, doseq=True)
    context = {"kind": kind, "spec": spec, "kinds": _kinds(), "query": query}
    context["can_schedule"] = bool(org_ids_where(request.user, EDITORS))
    if not request.GET:
        context["form"] = ReportForm(user=request.user, kind=kind)
        return render(request, "reports/report.html", context)
    form = context["form"] = ReportForm(request.GET, user=request.user, kind=kind)
    if not form.is_valid():
        return render(request, "reports/report.html", context, status=400)
    try:
        result = _compute(request, kind, form.cleaned_data)
    except jobs.TooManyJobs as exc:
        return _retry_later(render(request, "reports/report.html", context | {"refused": str(exc)}, status=429))
    if isinstance(result, HttpResponse):
        return result
    units = Units.for_org(form.cleaned_data["organization"])
    stamp = Column("t", "t", DATETIME)
    context |= {
        "report": result,
        "scope": form.cleaned_data["scope"],
        "range": (units.text(stamp, result.start), units.text(stamp, result.end)),
        "timezone": units.timezone,
        "tables": table_views(result, units, request),
        "exports": _export_links(kind, result, query),
    }
    if kind == "visits":
        data = form.cleaned_data
        theirs = vendor_visits(data["devices"], result.start, result.end, data.get("poi"))
        context["vendor_visits"] = [{"table": t, "view": table_view(t, units)} for t in theirs]
        context["vendor_period"] = (result.start.isoformat(), result.end.isoformat())
    tracks, points = map_tracks(result), map_points(result)
    if tracks or points:
        context["map_page"] = {**map_settings(), "tracks": tracks, "points": points}
        context["map_script"] = json_script(context["map_page"], "report-map-data")
    return render(request, "reports/report.html", context)


def _export_links(kind: str, result: Report, query: str) -> list[dict]:
    def url(fmt: str, **extra: str) -> str:
        tail = "&".join(filter(None, [query, urlencode(extra)]))
        return f"{reverse('reports:export', args=[kind, fmt])}?{tail}"

    if len(result.tables) > 1:
        links = [{"label": f"CSV: {t.title}", "url": url("csv", table=t.name)} for t in result.tables]
    else:
        links = [{"label": "CSV", "url": url("csv")}]
    links.append({"label": "Excel", "url": url("xlsx")})
    if KINDS[kind].tracks:
        links += [{"label": "GPX", "url": url("gpx")}, {"label": "KML", "url": url("kml")}]
    return links


@require_GET
@login_required
@with_gc_paused
def export(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    if fmt in ("gpx", "kml") and not KINDS[kind].tracks:
        return HttpResponseBadRequest("GPX and KML exist for the route and trips reports only.\n")
    form = ReportForm(request.GET, user=request.user, kind=kind)
    if not form.is_valid():
        if SCOPED_FIELDS & form.errors.keys():
            raise Http404("No such device, group, geofence or organisation.")
        return HttpResponseBadRequest(form.errors.as_text() + "\n", content_type="text/plain; charset=utf-8")
    data, table = form.cleaned_data, request.GET.get("table") or None
    try:
        result = _compute(request, kind, data)
    except jobs.TooManyJobs as exc:
        return _retry_later(HttpResponse(f"{exc}\n", status=429, content_type="text/plain; charset=utf-8"))
    if isinstance(result, HttpResponse):
        return result
    return download(result, Units.for_org(data["organization"]), fmt, table, _filename(kind, data, fmt))


def _retry_later(response: HttpResponse) -> HttpResponse:
    response["Retry-After"] = "60"
    return response


def _with_bom(lines):
    yield "\ufeff"  # Excel reads a CSV as UTF-8 only with the byte-order mark
    yield from lines
