"""The Drivers pages: drivers of the user's organisations (made in fleet, or synced from a vendor), and who drives
which vehicle when (``fleet.tracking.drivers``). Admins and dispatchers change them; viewers see them. Another
organisation's driver or assignment is a 404."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, for_user, get_for_user, org_ids_where
from fleet.tracking import drivers
from fleet.tracking.models import Device, Driver, DriverAssignment

LOCAL = "%Y-%m-%dT%H:%M"
VENDOR_FIELDS = ("name", "unique_id", "phone")  # the vendor's sync writes these back: not edited here


class DriverForm(forms.ModelForm):
    class Meta:
        model = Driver
        fields = ["organization", "name", "unique_id", "phone", "licence"]

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=org_ids_where(user, EDITORS))
        self.fields["organization"].empty_label = None
        if self.instance.pk:
            self.fields["organization"].disabled = True
        if self.instance.account_id:
            for name in VENDOR_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = f"From the vendor account {self.instance.account}: change it there."


class AssignmentForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none(), label="Vehicle")
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL))
    end = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL),
        help_text="Empty: until further notice.",
    )

    def __init__(self, *args, driver: Driver, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        devices = Device.objects.filter(organization_id=driver.organization_id, retired__isnull=True)
        self.fields["device"].queryset = devices.order_by("name", "pk")


def editable(user, driver: Driver | None = None) -> bool:
    orgs = org_ids_where(user, EDITORS)
    return driver.organization_id in orgs if driver else bool(orgs)


def _driver(request: HttpRequest, pk: int, edit: bool = False) -> Driver:
    driver = get_for_user(Driver.objects.select_related("organization", "account"), request.user, pk=pk)
    if edit and not editable(request.user, driver):
        raise PermissionDenied("Only the organisation's admins and dispatchers change its drivers.")
    return driver


@login_required
def driver_list(request: HttpRequest) -> HttpResponse:
    rows = for_user(Driver.objects.filter(retired__isnull=True), request.user).select_related("organization", "account")
    q = request.GET.get("q", "").strip()[:100]
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(unique_id__icontains=q) | Q(phone__icontains=q))
    now = datetime.now(UTC)
    current = for_user(DriverAssignment.objects.filter(start__lte=now), request.user)
    current = current.filter(Q(end__isnull=True) | Q(end__gt=now)).select_related("device")
    driving = {a.driver_id: a.device for a in current}
    rows = list(rows.order_by("name", "pk"))
    for d in rows:
        d.vehicle = driving.get(d.pk)
    context = {"drivers": rows, "q": q, "can_edit": editable(request.user)}
    return render(request, "web/drivers.html", context)


@login_required
def driver_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    driver = _driver(request, pk) if pk else None
    can_edit = editable(request.user, driver)
    if not can_edit and (driver is None or request.method == "POST"):
        raise PermissionDenied("Only the organisation's admins and dispatchers add and change drivers.")
    form = DriverForm(request.POST or None, instance=driver, user=request.user)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        driver = form.save()
        messages.success(request, f"Saved the driver “{driver.name}”.")
        return redirect("driver-edit", pk=driver.pk)
    context = {"form": form, "driver": driver, "can_edit": can_edit}
    if driver is not None:
        context |= _assignments(driver, AssignmentForm(driver=driver))
    return render(request, "web/driver_form.html", context)


def _assignments(driver: Driver, form: AssignmentForm) -> dict:
    rows = driver.assignments.select_related("device").order_by("-start")[:200]
    return {"assignments": rows, "assign_form": form, "zone": driver.organization.timezone}


@login_required
@require_POST
def driver_delete(request: HttpRequest, pk: int) -> HttpResponse:
    driver = _driver(request, pk, edit=True)
    if driver.account_id:
        messages.error(request, f"“{driver.name}” comes from {driver.account}: the next sync would bring it back.")
        return redirect("driver-edit", pk=driver.pk)
    driver.delete()
    messages.success(request, f"Deleted the driver “{driver.name}” and their assignments.")
    return redirect("driver-list")


@login_required
@require_POST
def assignment_add(request: HttpRequest, pk: int) -> HttpResponse:
    driver = _driver(request, pk, edit=True)
    zone = ZoneInfo(driver.organization.timezone)
    with timezone.override(zone):  # the form's times are the organisation's wall-clock times
        form = AssignmentForm(request.POST, driver=driver)
        valid = form.is_valid()
    if valid:
        a = DriverAssignment(driver=driver, **form.cleaned_data)
        try:
            drivers.save_assignment(a, zone)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"{drivers.describe(a, zone)}.")
            return redirect("driver-edit", pk=driver.pk)
    context = {"form": DriverForm(instance=driver, user=request.user), "driver": driver, "can_edit": True}
    return render(request, "web/driver_form.html", context | _assignments(driver, form), status=400)


@login_required
@require_POST
def assignment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(DriverAssignment.objects.select_related("driver", "device", "organization"), request.user, pk=pk)
    if not editable(request.user, a.driver):
        raise PermissionDenied("Only the organisation's admins and dispatchers change who drives.")
    a.delete()
    zone = ZoneInfo(a.organization.timezone)
    messages.success(request, f"Removed the assignment: {drivers.describe(a, zone)}.")
    return redirect("driver-edit", pk=a.driver_id)
