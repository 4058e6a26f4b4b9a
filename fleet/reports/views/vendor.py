"""/reports/vendor/: the vendor's own trips / stops / summary beside ours ("As reported by vendor").

Same query as the report pages plus ``kind``. Our report comes from ``kinds.build_report``, the vendor's from
``vendor.vendor_reports``; ``vendor.compare`` pairs them. Another organisation's device or group is a 404; a bad
query re-renders the form (400); a vendor failure is a message on the page.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from fleet.core.scoping import get_for_user, parse_pk
from fleet.reports import jobs
from fleet.reports import vendor as vendor_reports
from fleet.reports.engine import day_windows
from fleet.reports.forms import ReportForm
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.tables import DATETIME, Column, Units
from fleet.reports.views.pages import table_view
from fleet.tracking.models import Device, DeviceGroup

QUERY_FIELDS = ("organization", "device", "group", "preset", "start", "end", "split")


def _check_scope(request: HttpRequest) -> None:
    """404 for a device or group id the user may not see (the form alone would call it an invalid choice)."""
    for name, model in (("device", Device), ("group", DeviceGroup)):
        pk = parse_pk(request.GET.get(name))
        if pk is not None:
            get_for_user(model.objects.all(), request.user, pk=pk)


@require_GET
@login_required
def vendor(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind") or "trips"
    context: dict = {"kind": kind, "kinds": [(k, KINDS[k].title) for k in vendor_reports.VENDOR_KINDS]}
    if kind not in vendor_reports.VENDOR_KINDS:
        context["kind_error"] = f"The vendors offer trips, stops and summary reports, not “{kind}”."
        context["form"] = ReportForm(user=request.user, kind="trips")
        return render(request, "reports/vendor.html", context, status=400)
    _check_scope(request)
    if not any(name in request.GET for name in QUERY_FIELDS):
        context["form"] = ReportForm(user=request.user, kind=kind)
        return render(request, "reports/vendor.html", context)
    form = context["form"] = ReportForm(request.GET, user=request.user, kind=kind)
    if not form.is_valid():
        return render(request, "reports/vendor.html", context, status=400)
    context |= side_by_side(kind, form.cleaned_data)
    return render(request, "reports/vendor.html", context)


def side_by_side(kind: str, data: dict) -> dict:
    org, devices, start, end = data["organization"], data["devices"], data["start"], data["end"]
    units = Units.for_org(org)
    stamp = Column("t", "t", DATETIME)
    context = {
        "scope": data["scope"],
        "range": (units.text(stamp, start), units.text(stamp, end)),
        "timezone": units.timezone,
    }
    if jobs.should_run_in_background(org, devices, start, end):
        context["too_big"] = True
        return context
    notes = []
    by_day = kind == "summary" and data.get("split") == "day"
    if by_day and len(day_windows(start, end, org.timezone)) > vendor_reports.MAX_VENDOR_DAYS:
        by_day = False  # one vendor request per day: not for long ranges
        notes.append(f"Per-day comparison covers at most {vendor_reports.MAX_VENDOR_DAYS} days: shown per device.")
    ours = build_report(kind, org, devices, start, end, options={"split": "day" if by_day else "range"})
    our_table = next(t for t in ours.tables if t.name == ("days" if by_day else kind))
    theirs = vendor_reports.vendor_reports(kind, devices, start, end, days_tz=org.timezone if by_day else None)
    comparison = vendor_reports.compare(kind, our_table, theirs)
    context |= {
        "notes": notes + ours.notes,
        "ours": table_view(our_table, units),
        "theirs": [{"table": t, "view": table_view(t, units)} for t in theirs],
        "comparison": comparison_view(comparison, units),
        "differing": sum(1 for r in comparison.rows if r["differs"]),
    }
    return context


def comparison_view(table, units: Units) -> dict:
    """``table_view`` plus, per row, whether it differs (the template highlights those rows)."""
    view = table_view(table, units)
    view["rows"] = [
        {"cells": cells, "differs": row["differs"]} for cells, row in zip(view["rows"], table.rows, strict=False)
    ]
    return view
