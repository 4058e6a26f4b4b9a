"""Service reminders: the due / overdue list of the user's organisations (every member sees it), plans made and
changed by admins and dispatchers, and "serviced" to start a vehicle's next cycle. Another organisation's plan or
vehicle is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from fleet.core.models import Membership, Organization
from fleet.core.scoping import EDITORS, get_for_user, org_ids_where
from fleet.events import maintenance
from fleet.events.models import ServicePlan
from fleet.tracking.models import Device, DeviceGroup


class PlanForm(forms.ModelForm):
    class Meta:
        model = ServicePlan
        fields = ["organization", "name", "devices", "groups", "every_km", "every_engine_h", "every_days", "notes"]

    def __init__(self, *args, orgs: set[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=orgs)
        self.fields["organization"].empty_label = None
        self.fields["devices"].queryset = Device.objects.filter(organization_id__in=orgs, retired__isnull=True)
        self.fields["groups"].queryset = DeviceGroup.objects.filter(organization_id__in=orgs)
        self.fields["devices"].required = self.fields["groups"].required = False
        self.fields["devices"].help_text = "None and no group: every vehicle of the organisation."

    def clean(self) -> dict:
        data = super().clean()
        org = data.get("organization")
        for name in ("devices", "groups"):
            if org is not None and any(item.organization_id != org.pk for item in data.get(name) or []):
                self.add_error(name, f"Choose {name} of {org}.")
        return data


class ServicedForm(forms.Form):
    plan = forms.IntegerField()
    device = forms.IntegerField()
    note = forms.CharField(max_length=200, required=False)


def _editable(request: HttpRequest) -> set[int]:
    orgs = org_ids_where(request.user, EDITORS)
    if not orgs:
        raise PermissionDenied("Only the organisation's admins and dispatchers change service plans.")
    return orgs


@login_required
def maintenance_list(request: HttpRequest) -> HttpResponse:
    orgs = org_ids_where(request.user, tuple(Membership.Role.values))  # every member (superusers: all)
    rows = maintenance.schedule(orgs)
    plans = ServicePlan.objects.filter(organization_id__in=orgs).prefetch_related("devices", "groups")
    counts = {s: sum(1 for r in rows if r.status == s) for s in (maintenance.OVERDUE, maintenance.SOON)}
    context = {"rows": rows, "plans": plans, "counts": counts, "can_edit": bool(org_ids_where(request.user, EDITORS))}
    return render(request, "web/maintenance.html", context)


@login_required
def plan_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    orgs = _editable(request)
    plan = get_for_user(ServicePlan.objects.filter(organization_id__in=orgs), request.user, pk=pk) if pk else None
    form = PlanForm(request.POST or None, instance=plan, orgs=orgs)
    if request.method == "POST" and form.is_valid():
        plan = form.save()
        maintenance.schedule([plan.organization_id])  # baselines: each vehicle's next service counts from now
        messages.success(request, f"Saved the service plan “{plan.name}”.")
        return redirect("maintenance")
    return render(request, "web/maintenance_plan.html", {"form": form, "plan": plan})


@login_required
@require_POST
def plan_delete(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_for_user(ServicePlan.objects.filter(organization_id__in=_editable(request)), request.user, pk=pk)
    plan.delete()
    messages.success(request, f"Deleted the service plan “{plan.name}” and its service records.")
    return redirect("maintenance")


@login_required
@require_POST
def serviced(request: HttpRequest) -> HttpResponse:
    """The vehicle was serviced under the plan now, at its current readings: its next cycle starts."""
    orgs = _editable(request)
    form = ServicedForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a plan and a vehicle.")
        return redirect("maintenance")
    data = form.cleaned_data
    due = next(
        (d for d in maintenance.schedule(orgs) if d.plan.pk == data["plan"] and d.device.pk == data["device"]), None
    )
    if due is None:
        raise Http404("No such plan for that vehicle.")
    maintenance.record_service(due, request.user, data["note"])
    messages.success(request, f"Recorded the service “{due.plan.name}” of {due.device.name}.")
    return redirect("maintenance")
