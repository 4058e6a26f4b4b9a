"""Report results as JSON: the report pages' form (the same validation and organisation scoping) and the same
``Report`` objects the pages, CSV and XLSX render, with every value in canonical units (metres, seconds, km/h,
litres, UTC times)."""

from __future__ import annotations

import math
from datetime import date, datetime

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from fleet.reports import jobs
from fleet.reports.forms import ReportForm
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.tables import DATE, DATETIME, LATLON, LINK, Column, Report, Table

UNITS = {"distance": "m", "speed": "km/h", "duration": "s", "volume": "l", "datetime": "UTC", "latlon": "degrees"}
ALIASES = {"from": "start", "to": "end"}  # ?from=2026-11-01&to=2026-11-30 is a custom range


def form_data(query: QueryDict) -> QueryDict:
    data = query.copy()
    for alias, name in ALIASES.items():
        if alias in data:
            data[name] = data.pop(alias)[-1]
            data["preset"] = "custom"
    return data


def cell(column: Column, value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if column.kind == DATETIME and isinstance(value, datetime):
        return value.isoformat()
    if column.kind == DATE and isinstance(value, date):
        return value.isoformat()
    if column.kind == LATLON:
        lat, lon = (float(v) for v in value)
        return [lat, lon] if math.isfinite(lat) and math.isfinite(lon) else None
    if hasattr(value, "item"):  # a numpy scalar
        return cell(column, value.item())
    return value


def table_json(table: Table) -> dict:
    columns = [c for c in table.columns if c.kind != LINK]  # links into the dashboard, as in the exports
    return {
        "name": table.name,
        "title": table.title,
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind, "unit": UNITS.get(c.kind)} for c in columns],
        "rows": [{c.key: cell(c, row.get(c.key)) for c in columns} for row in table.rows],
        "totals": {c.key: cell(c, table.totals.get(c.key)) for c in columns} if table.totals else None,
    }


def report_json(report: Report) -> dict:
    return {
        "kind": report.kind,
        "title": report.title,
        "organization": report.organization_id,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "devices": report.device_ids,
        "notes": report.notes,
        "tables": [table_json(t) for t in report.tables],
    }


ReportResult = inline_serializer(
    "ReportResult",
    {
        "kind": serializers.CharField(),
        "title": serializers.CharField(),
        "organization": serializers.IntegerField(),
        "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField(),
        "devices": serializers.ListField(child=serializers.IntegerField()),
        "notes": serializers.ListField(child=serializers.CharField()),
        "tables": serializers.ListField(child=serializers.DictField(), help_text="name, title, columns, rows, totals"),
    },
)
PARAMETERS = [
    OpenApiParameter("organization", int, description="Needed when the caller has several organisations."),
    OpenApiParameter("device", int, description="One device (else every device of the organisation or group)."),
    OpenApiParameter("group", int, description="A device group (and its subgroups)."),
    OpenApiParameter("preset", str, description="today, yesterday, this_week, …, or custom (with start and end)."),
    OpenApiParameter("start", date, description="First local day of a custom range (alias: from)."),
    OpenApiParameter("end", date, description="Last local day of a custom range (alias: to)."),
    OpenApiParameter("type", str, description="events: one event type."),
    OpenApiParameter("geofence", int, description="events, visits: one geofence."),
    OpenApiParameter("poi", int, description="visits: one POI."),
    OpenApiParameter("split", str, description="summary: range (one row a device) or day."),
    OpenApiParameter("by", str, description="summary: vehicle (one row a device) or driver (one row a driver)."),
]


class ReportViewSet(viewsets.ViewSet):
    """Report results as JSON (docs/api.md#reports)."""

    lookup_field = "kind"
    lookup_value_regex = "|".join(KINDS)

    @extend_schema(
        responses=inline_serializer(
            "ReportKind",
            {"kind": serializers.CharField(), "title": serializers.CharField(), "description": serializers.CharField()},
        )
    )
    def list(self, request):
        """The report kinds."""
        return Response([{"kind": k, "title": v.title, "description": v.description} for k, v in KINDS.items()])

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=[*KINDS]), *PARAMETERS],
        responses=ReportResult,
    )
    def retrieve(self, request, kind=None):
        """One report over the caller's devices; a range too big for one request is a 400 that says so."""
        form = ReportForm(form_data(request.query_params), user=request.user, kind=kind)
        if not form.is_valid():
            errors = {("non_field_errors" if k == "__all__" else k): list(v) for k, v in form.errors.items()}
            raise ValidationError(errors)
        data = form.cleaned_data
        org, devices, start, end = data["organization"], data["devices"], data["start"], data["end"]
        if jobs.should_run_in_background(org, devices, start, end, kind):
            raise ValidationError(
                "This report is too big to compute in one request: ask for fewer devices or a shorter range "
                "(or use the dashboard's background report)."
            )
        options = {k: v for k, v in data.items() if k not in ("organization", "devices", "start", "end", "preset")}
        return Response(report_json(build_report(kind, org, devices, start, end, options=options)))
