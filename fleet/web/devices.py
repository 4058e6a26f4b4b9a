"""The device list (search, filters, sort, pages) and a device's page (its history by time range, its reports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from fleet.core.scoping import EDITORS, for_user, get_for_user, org_ids_where, organizations_for_user
from fleet.geo import geocoding
from fleet.reports import periods
from fleet.reports.kinds import KINDS
from fleet.tracking import drivers, state, store
from fleet.tracking.models import Device, DeviceGroup
from fleet.vendors import commands
from fleet.vendors.registry import KIND_CHOICES

PER_PAGE = 50
HISTORY_PAGE = 100
HISTORY_DEFAULT = timedelta(days=1)
STATE_LABELS = {
    state.MOVING: "Moving",
    state.IDLE: "Idle",
    state.STOPPED: "Stopped",
    state.STALE: "Stale (no recent data)",
    state.NOFIX: "No fix",
}
NO_VENDOR = "none"
SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "last_fix": (F("last_fix_time").desc(nulls_last=True), "name", "pk"),
    "-last_fix": (F("last_fix_time").asc(nulls_first=True), "name", "pk"),
    "vendor": ("account__kind", "account__name", "name", "pk"),
    "state": ("state_rank", "name", "pk"),
}


class DeviceFilter(forms.Form):
    """The list's query string: each field is optional, and one that does not parse is ignored with a message."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    vendor = forms.ChoiceField(required=False, label="Vendor")
    group = forms.ModelChoiceField(queryset=DeviceGroup.objects.none(), required=False, empty_label="Any group")
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *STATE_LABELS.items()])
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SORTS])

    def __init__(self, data, *, user) -> None:
        super().__init__(data)
        groups = DeviceGroup.objects.filter(retired__isnull=True).select_related("organization")
        self.fields["group"].queryset = for_user(groups, user).order_by("name", "pk")
        self.fields["vendor"].choices = [("", "Any vendor"), *KIND_CHOICES, (NO_VENDOR, "No vendor account")]

    def values(self) -> dict:
        """The fields that parsed (the others left out)."""
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}

    def problems(self) -> list[str]:
        return [f"Ignored {self.fields[name].label or name}: {' '.join(errs)}" for name, errs in self.errors.items()]


def filtered(devices: QuerySet[Device], values: dict) -> QuerySet[Device]:
    if q := values.get("q", "").strip():
        devices = devices.filter(
            Q(name__icontains=q) | Q(vendor_id__icontains=q) | Q(plate__icontains=q) | Q(unique_id__icontains=q)
        )
    if vendor := values.get("vendor"):
        devices = devices.filter(account__isnull=True) if vendor == NO_VENDOR else devices.filter(account__kind=vendor)
    if group := values.get("group"):
        devices = devices.filter(group=group)
    if wanted := values.get("state"):
        devices = devices.filter(state=wanted)
    return devices


@login_required
def device_list(request: HttpRequest) -> HttpResponse:
    form = DeviceFilter(request.GET, user=request.user)
    values = form.values()
    for problem in form.problems():
        messages.warning(request, problem)
    orgs = list(organizations_for_user(request.user))
    devices = for_user(Device.objects.filter(retired__isnull=True), request.user)
    devices = state.with_states(devices, {o.pk: state.rules_from(o) for o in orgs}, datetime.now(UTC))
    devices = filtered(devices, values).select_related("account", "group", "organization")
    ranks = [When(state=s, then=Value(i)) for i, s in enumerate(state.STATES)]
    devices = devices.annotate(state_rank=Case(*ranks, output_field=IntegerField()))
    sort = values.get("sort", "name")
    page = Paginator(devices.order_by(*SORTS[sort]), PER_PAGE).get_page(request.GET.get("page"))
    if "page" in request.GET and request.GET["page"] != str(page.number):
        messages.warning(request, f"There is no page {request.GET['page'][:20]}; showing page {page.number}.")
    for device in page:
        device.state_label = STATE_LABELS[device.state]
    zones = {o.timezone for o in orgs}
    context = {
        "form": form,
        "page": page,
        "sort": sort,
        "filtering": any(k in values for k in ("q", "vendor", "group", "state")),
        "zone": zones.pop() if len(zones) == 1 else None,
        "organizations": orgs,
    }
    return render(request, "web/device_list.html", context)


@dataclass(frozen=True)
class History:
    """One page of a device's fixes in a range, newest first; ``older`` is the cursor of the next page."""

    span: periods.Range
    rows: list[tuple]
    older: datetime | None
    before: datetime | None


FIELDS = ("fix_time", "latitude", "longitude", "speed", "course", "valid", "attributes")


def history(request: HttpRequest, device: Device) -> History:
    tz = device.organization.timezone
    span = periods.parse_range(request.GET, tz, default=HISTORY_DEFAULT)
    if span is None:
        messages.warning(
            request,
            "That time range could not be used (a start before its end, at most 31 days, in years 2000–2100); "
            "showing the last 24 hours.",
        )
        span = periods.parse_range({}, tz, default=HISTORY_DEFAULT)
    before = _time(request.GET.get("before"), ZoneInfo(tz))
    if request.GET.get("before") and before is None:
        messages.warning(request, "Ignored the page position: it is not a time.")
    end = min(span.end, before) if before else span.end
    rows = list(store.rows(device.pk, span.start, end, FIELDS, limit=HISTORY_PAGE + 1, newest_first=True))
    older = rows[HISTORY_PAGE - 1][0] if len(rows) > HISTORY_PAGE else None
    return History(span, rows[:HISTORY_PAGE], older, before)


def _time(value: str | None, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value.strip().replace(" ", "+"))
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def report_links(device: Device, span: periods.Range) -> list[tuple[str, str]]:
    """(title, URL) of every report of the device over the local days of ``span``, the charts, and replay."""
    zone = ZoneInfo(device.organization.timezone)
    first, last = span.start.astimezone(zone).date(), (span.end - timedelta(microseconds=1)).astimezone(zone).date()
    query = urlencode({"device": device.pk, "preset": "custom", "start": first.isoformat(), "end": last.isoformat()})
    links = [(kind.title, f"{reverse('reports:report', args=[name])}?{query}") for name, kind in KINDS.items()]
    links.append(("Charts", f"{reverse('reports:charts')}?{query}"))
    replay = urlencode({"from": span.start.isoformat(), "to": span.end.isoformat()})
    links.append(("Replay", f"{reverse('device-replay', args=[device.pk])}?{replay}"))
    return links


@login_required
def device_detail(request: HttpRequest, pk: int) -> HttpResponse:
    devices = Device.objects.select_related("account", "group", "driver", "organization")
    device = get_for_user(devices, request.user, pk=pk)
    page = history(request, device)
    query = {k: v for k, v in request.GET.items() if k in ("preset", "from", "to")}
    zone = ZoneInfo(device.organization.timezone)
    assignments = device.assignments.select_related("driver").order_by("-start")[:10]
    context = {
        "device": device,
        "driver": drivers.driver_at(device, datetime.now(UTC)),
        "assignments": assignments,
        "history": page,
        "zone": device.organization.timezone,
        "local_from": page.span.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "local_to": page.span.end.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "older_query": urlencode({**query, "before": page.older.isoformat()}) if page.older else "",
        "newest_query": urlencode(query),
        "reports": report_links(device, page.span),
        "commands_supported": commands.supported(device),
        "may_send": device.organization_id in org_ids_where(request.user, EDITORS),
        "recent_commands": device.commands.select_related("user")[:5],
        "address": geocoding.last_address(device),
    }
    return render(request, "web/device_detail.html", context)


@require_GET
@login_required
def device_address(request: HttpRequest, pk: int) -> JsonResponse:
    """The device's last position in words, for the live map's card (``fleet.geo.geocoding.last_address``)."""
    device = get_for_user(Device.objects.select_related("organization"), request.user, pk=pk)
    has_fix = device.last_fix_time is not None
    return JsonResponse(
        {
            "device": device.pk,
            "lat": device.last_latitude if has_fix else None,
            "lon": device.last_longitude if has_fix else None,
            "address": geocoding.last_address(device),
        }
    )
