"""GPX import: upload a file as one device's positions (admins and dispatchers of the device's organisation).
The upload is stored and imported by a worker (``fleet.tracking.gpxjobs``); its page follows the job."""

import zoneinfo
from functools import cache

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from fleet.core.models import Membership
from fleet.core.scoping import for_user, org_ids_for_user, parse_pk
from fleet.tracking import gpxjobs
from fleet.tracking.models import Device, GpxImport

MAX_BYTES = 20 * 1024 * 1024
IMPORT_ROLES = (Membership.Role.ADMIN, Membership.Role.DISPATCHER)
RECENT = 10  # imports listed under the form


def importable_devices(user) -> QuerySet[Device]:
    """Devices of the organisations where the user may import (superusers: all)."""
    devices = Device.objects.filter(retired__isnull=True).select_related("organization")
    devices = devices.order_by("organization__name", "name")
    if user.is_superuser:
        return devices
    return devices.filter(organization_id__in=org_ids_for_user(user, IMPORT_ROLES))


def importing_jobs(user) -> QuerySet[GpxImport]:
    """Import jobs of the organisations where the user may import (superusers: all)."""
    jobs = GpxImport.objects.select_related("device", "user").defer("data")
    if user.is_superuser:
        return jobs
    return jobs.filter(organization_id__in=org_ids_for_user(user, IMPORT_ROLES))


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


def content_length(request: HttpRequest) -> int:
    """The request's declared body size (0 when missing or unreadable), to refuse a big upload before reading it."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _deny_other_roles(request: HttpRequest) -> None:
    """403 when the user may see the posted device but not import into its organisation."""
    pk = parse_pk(request.POST.get("device"))
    visible = pk is not None and for_user(Device.objects.filter(pk=pk), request.user).exists()
    if visible and not importable_devices(request.user).filter(pk=pk).exists():
        raise PermissionDenied("Only admins and dispatchers of the device's organisation may import.")


def _may_import(user) -> None:
    if not user.is_superuser and not org_ids_for_user(user, IMPORT_ROLES):
        raise PermissionDenied("Only admins and dispatchers may import positions.")


def _page(request: HttpRequest, form: GpxImportForm, status: int = 200, error: str = "") -> HttpResponse:
    context = {"form": form, "error": error, "recent": importing_jobs(request.user)[:RECENT]}
    return render(request, "web/import.html", context, status=status)


@login_required
def import_gpx_view(request: HttpRequest) -> HttpResponse:
    _may_import(request.user)
    devices = importable_devices(request.user)
    if request.method != "POST":
        return _page(request, GpxImportForm(devices=devices))
    if content_length(request) > MAX_BYTES + 64 * 1024:  # refuse before the upload is read and spooled to disk
        return _page(request, GpxImportForm(devices=devices), status=400, error=too_large())
    _deny_other_roles(request)
    form = GpxImportForm(request.POST, request.FILES, devices=devices)
    if not form.is_valid():
        return _page(request, form, status=400)
    upload = form.cleaned_data["file"]
    job = gpxjobs.start(
        request.user, form.cleaned_data["device"], upload.name or "", upload.read(), form.cleaned_data["timezone"]
    )
    return redirect(job)


def _job_for(request: HttpRequest, pk: int) -> GpxImport:
    _may_import(request.user)
    try:
        job = importing_jobs(request.user).get(pk=pk)
    except GpxImport.DoesNotExist:
        raise Http404("No such import.") from None
    gpxjobs.check_lost(job)
    return job


@require_GET
@login_required
def import_job_page(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "web/import_job.html", {"job": _job_for(request, pk)})


@require_GET
@login_required
def import_job_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_job_for(request, pk).status_data(), headers={"Cache-Control": "no-store"})
