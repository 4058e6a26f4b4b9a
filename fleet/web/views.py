import json
import math

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from fleet.core import access
from fleet.core.jsonout import JsonResponse
from fleet.core.maps import map_settings
from fleet.core.models import Organization
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
MAP_MODULES = [
    f"js/{name}.js"
    for name in ("map", "basemap", "format", "live", "markers", "overlays", "panel", "store", "feed", "view")
]


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
            "address": reverse("device-address", args=[0]),
            "events": reverse("events-recent"),
            "ack": reverse("event-ack", args=[0]),
            "home": reverse("map-home") if access.manages_members(request.user) else None,
        },
        "home": home_view(request.user),
    }
    return render(request, "web/map.html", {"page": page, "modules": MAP_MODULES})


def home_view(user) -> dict | None:
    """The first home view an organisation of the user set (organisations in id order), else None."""
    views = for_user(Organization.objects.exclude(map_home=None).order_by("pk"), user).values_list(
        "map_home", flat=True
    )
    return next((v for v in views if _valid_view(v)), None)


def _valid_view(view: object) -> bool:
    if not isinstance(view, dict):
        return False
    lat, lon, zoom = view.get("lat"), view.get("lon"), view.get("zoom")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon, zoom))
    return numbers and -90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= zoom <= 20


@require_POST
@login_required
def map_home(request: HttpRequest) -> JsonResponse:
    """An organisation admin sets the live map's first view ({"lat", "lon", "zoom"}) for the organisations they
    administer."""
    orgs = access.administered(request.user)
    if not orgs.exists():
        return JsonResponse({"error": "Only an organisation's admins set its home view."}, status=403)
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not _valid_view(body):
        return JsonResponse({"error": "Give lat (-90..90), lon (-180..180) and zoom (0..20) as numbers."}, status=400)
    view = {"lat": float(body["lat"]), "lon": float(body["lon"]), "zoom": int(body["zoom"])}
    Organization.objects.filter(pk__in=list(orgs.values_list("pk", flat=True))).update(map_home=view)
    return JsonResponse({"home": view})


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
