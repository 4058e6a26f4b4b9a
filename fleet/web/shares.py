"""Shared live locations: dispatchers and admins make a time-limited link to one vehicle (its key shown once),
see who made which and how often it was opened, and revoke it. The public page behind the link shows that
vehicle's latest position on a minimal map and nothing else; an expired or revoked link answers 410."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from fleet.core.maps import map_settings
from fleet.core.scoping import EDITORS, org_ids_where
from fleet.live.models import DURATIONS_H, ShareLink
from fleet.tracking.models import Device


class ShareForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none(), label="Vehicle")
    label = forms.CharField(
        max_length=100, required=False, help_text="What the viewer sees instead of the vehicle's name."
    )
    hours = forms.TypedChoiceField(
        coerce=int,
        choices=[(h, f"{h} hours" if h < 48 else f"{h // 24} days") for h in DURATIONS_H],
        initial=4,
        label="Valid for",
    )

    def __init__(self, *args, orgs: set[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        devices = Device.objects.filter(organization_id__in=orgs, retired__isnull=True).order_by("name")
        self.fields["device"].queryset = devices


@login_required
def share_list(request: HttpRequest) -> HttpResponse:
    orgs = org_ids_where(request.user, EDITORS)
    if not orgs:
        raise Http404("No organisation where you may share a vehicle.")
    initial = {"device": request.GET.get("device")} if request.GET.get("device", "").isdigit() else {}
    form = ShareForm(request.POST or None, orgs=orgs, initial=initial)
    url = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _, key = ShareLink.issue(data["device"], request.user, data["hours"], data["label"])
        url = request.build_absolute_uri(reverse("share-page", args=[key]))
        form = ShareForm(orgs=orgs)
    links = ShareLink.objects.filter(organization_id__in=orgs).select_related("device", "created_by")[:200]
    now = timezone.now()
    rows = [(link, link.state(now)) for link in links]
    return render(request, "web/shares.html", {"form": form, "rows": rows, "url": url})


@login_required
@require_POST
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(ShareLink, pk=pk, organization_id__in=org_ids_where(request.user, EDITORS))
    if link.revoked is None:
        link.revoked = timezone.now()
        link.save(update_fields=["revoked"])
        messages.success(request, f"Revoked the link to {link.label or link.device.name}; it shows nothing now.")
    return redirect("share-list")


def _active(key: str) -> ShareLink | None:
    """The link of ``key`` while it shows its vehicle; None once expired or revoked (410); unknown: 404."""
    link = ShareLink.find(key)
    if link is None:
        raise Http404("No such link.")
    return link if link.state() == "active" else None


@require_GET
def share_page(request: HttpRequest, key: str) -> HttpResponse:
    """The public page: no login, no navigation, one vehicle."""
    link = _active(key)
    if link is None:
        return render(request, "web/share_public.html", {"gone": True}, status=410)
    ShareLink.objects.filter(pk=link.pk).update(views=F("views") + 1, last_viewed=timezone.now())
    page = {**map_settings(), "position": reverse("share-position", args=[key]), "expires": link.expires.isoformat()}
    title = link.label or link.device.name
    return render(request, "web/share_public.html", {"title": title, "page": page, "gone": False})


@require_GET
def share_position(request: HttpRequest, key: str) -> JsonResponse:
    """The vehicle's latest fix: where, when, how fast, which way. Nothing else of it or its organisation."""
    link = _active(key)
    if link is None:
        return JsonResponse({"error": "This link has expired or was revoked."}, status=410)
    device = link.device
    fix = None
    if device.last_fix_time is not None and device.last_latitude is not None:
        fix = {
            "lat": device.last_latitude,
            "lon": device.last_longitude,
            "time": device.last_fix_time.isoformat(),
            "speed_kmh": device.last_speed,
            "course": device.last_course,
        }
    body = {"title": link.label or device.name, "expires": link.expires.isoformat(), "fix": fix}
    return JsonResponse(body, headers={"Cache-Control": "no-store"})
