from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from fleet.core.jsonout import JsonResponse
from fleet.core.maps import map_settings
from fleet.core.scoping import for_user, get_for_user
from fleet.dispatch.models import Task
from fleet.geo.models import POI, Geofence
from fleet.reports import periods
from fleet.reports.engine import Params
from fleet.tracking.models import Beacon, Device
from fleet.vendors import summary
from fleet.vendors.models import VendorAccount
from fleet.web import geojson, track

# The live map's ES modules, preloaded in parallel instead of discovered import by import.
MAP_MODULES = [f"js/{name}.js" for name in ("map", "format", "live", "markers", "overlays", "panel", "store", "feed")]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The live map: the page shell; devices arrive over the /ws/live/ socket (docs/live-protocol.md)."""
    page = {
        **map_settings(),
        "socket": "/ws/live/",
        "urls": {
            "layers": reverse("live-layers"),
            "track": reverse("device-track", args=[0]),
            "replay": reverse("device-replay", args=[0]),
            "detail": reverse("device-detail", args=[0]),
            "events": reverse("events-recent"),
            "ack": reverse("event-ack", args=[0]),
        },
    }
    return render(request, "web/map.html", {"page": page, "modules": MAP_MODULES})


@login_required
def replay(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_for_user(Device.objects.select_related("organization"), request.user, pk=pk)
    org = device.organization
    devices = for_user(Device.objects.filter(retired__isnull=True).only("pk", "name"), request.user).order_by("name")
    page = {
        **map_settings(),
        "device": device.pk,
        "track": reverse("device-track", args=[0]),
        "replay": reverse("device-replay", args=[0]),
        "org": {"timezone": org.timezone, "speed_unit": org.speed_unit},
    }
    return render(request, "web/replay.html", {"device": device, "devices": devices, "page": page})


@require_GET
@login_required
def device_track(request: HttpRequest, pk: int) -> JsonResponse:
    """A device's positions in a range (``from``/``to`` ISO 8601, default the last hour) and its stops."""
    device = get_for_user(Device.objects.select_related("organization"), request.user, pk=pk)
    span = periods.read_range(request.GET, device.organization.timezone)
    if isinstance(span, str):
        return JsonResponse({"error": span}, status=400)
    rows = track.rows(device, span)
    stops = track.stops(rows, Params.for_org(device.organization), span)
    data = {
        "device": device.pk,
        "from": span.start.timestamp(),
        "to": span.end.timestamp(),
        "truncated": len(rows) >= track.MAX_POSITIONS,
        "positions": rows,
        "stops": stops,
    }
    return JsonResponse(data)


@require_GET
@login_required
def live_layers(request: HttpRequest) -> JsonResponse:
    """The map's overlays (geofences, POIs, tasks, beacons) as GeoJSON, only from the user's organisations."""
    user = request.user
    data = geojson.layers(
        for_user(Geofence.objects.filter(retired__isnull=True), user),
        for_user(POI.objects.all(), user),
        for_user(Task.objects.all(), user),
        for_user(Beacon.objects.filter(retired__isnull=True), user),
    )
    return JsonResponse(data)


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One vendor account: its recent sync runs and, for the latest, what happened to each resource's rows."""
    account = get_for_user(VendorAccount.objects.select_related("organization"), request.user, pk=pk)
    runs = list(account.runs.order_by("-started")[:20])
    latest = runs[0] if runs else None
    context = {"account": account, "runs": runs, "latest": latest}
    context["resources"] = summary.resources(latest.counts) if latest else []
    return render(request, "web/account_detail.html", context)


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = for_user(VendorAccount.objects.select_related("organization"), request.user)
    return render(request, "web/account_list.html", {"accounts": accounts})
