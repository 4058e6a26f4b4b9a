"""GPX import: upload a file as one device's positions (admins and dispatchers of the device's organisation)."""

import zoneinfo
from functools import cache

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from fleet.core.models import Membership
from fleet.core.scoping import for_user, org_ids_for_user
from fleet.tracking.gpximport import GpxError, import_gpx
from fleet.tracking.models import Device

MAX_BYTES = 20 * 1024 * 1024
IMPORT_ROLES = (Membership.Role.ADMIN, Membership.Role.DISPATCHER)


def importable_devices(user) -> QuerySet[Device]:
    """Devices of the organisations where the user may import (superusers: all)."""
    devices = Device.objects.filter(retired__isnull=True).select_related("organization")
    devices = devices.order_by("organization__name", "name")
    if user.is_superuser:
        return devices
    return devices.filter(organization_id__in=org_ids_for_user(user, IMPORT_ROLES))


def too_large() -> str:
    return f"The file is larger than {MAX_BYTES / (1024 * 1024):g} MB."


@cache
def zone_choices() -> list[tuple[str, str]]:
    """The IANA time zones, as the organisation's timezone field accepts them."""
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class GpxImportForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none())
    file = forms.FileField(label="GPX file", help_text="Track points with times; at most 20 MB.")
    timezone = forms.ChoiceField(
        label="Time zone of times without one",
        choices=zone_choices,
        initial="UTC",
        required=False,  # a post without it reads them as UTC, as GPX specifies
        help_text="GPX times are UTC, but some receivers write local times without a zone: choose their zone.",
    )

    def __init__(self, *args, devices: QuerySet[Device], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = devices
        self.fields["device"].label_from_instance = lambda d: f"{d.name} ({d.organization.name})"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(too_large())
        return upload

    def clean_timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.cleaned_data["timezone"] or "UTC")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _deny_other_roles(request: HttpRequest) -> None:
    """403 when the user may see the posted device but not import into its organisation."""
    pk = request.POST.get("device", "")
    visible = pk.isdigit() and for_user(Device.objects.filter(pk=pk), request.user).exists()
    if visible and not importable_devices(request.user).filter(pk=pk).exists():
        raise PermissionDenied("Only admins and dispatchers of the device's organisation may import.")


@login_required
def import_gpx_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_superuser and not org_ids_for_user(user, IMPORT_ROLES):
        raise PermissionDenied("Only admins and dispatchers may import positions.")
    devices = importable_devices(user)
    if request.method != "POST":
        return render(request, "web/import.html", {"form": GpxImportForm(devices=devices)})
    if _content_length(request) > MAX_BYTES + 64 * 1024:  # refuse before the upload is read and spooled to disk
        context = {"form": GpxImportForm(devices=devices), "error": too_large()}
        return render(request, "web/import.html", context, status=400)
    _deny_other_roles(request)
    form = GpxImportForm(request.POST, request.FILES, devices=devices)
    if form.is_valid():
        device = form.cleaned_data["device"]
        try:
            result = import_gpx(device, form.cleaned_data["file"].read(), form.cleaned_data["timezone"])
        except GpxError as exc:
            form.add_error("file", f"Cannot import this file: {exc}.")
        else:
            warn = (result.rejected and not result.stored) or result.zoneless
            level = messages.WARNING if warn else messages.SUCCESS
            messages.add_message(request, level, f"{device.name}: {result.summary()}.")
            return redirect("import-gpx")
    return render(request, "web/import.html", {"form": form}, status=400)
