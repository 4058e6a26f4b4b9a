"""The dispatch forms, and who may change tasks (an organisation's admins and dispatchers)."""

from __future__ import annotations

from django import forms
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, org_ids_where
from fleet.dispatch import csvio
from fleet.dispatch.models import Task
from fleet.geo.models import POI
from fleet.tracking.models import Device


def deny_unless_editor(request: HttpRequest, task: Task | None = None) -> None:
    orgs = org_ids_where(request.user, EDITORS)
    if not orgs or (task is not None and task.organization_id not in orgs):
        raise PermissionDenied("Only the organisation's admins and dispatchers change its tasks.")


class TaskForm(forms.ModelForm):
    latitude = forms.FloatField(min_value=-90, max_value=90, required=False)
    longitude = forms.FloatField(min_value=-180, max_value=180, required=False)
    poi = forms.ModelChoiceField(
        queryset=POI.objects.none(),
        required=False,
        label="Or a POI",
        help_text="The destination is the POI's point and radius.",
    )

    class Meta:
        model = Task
        fields = [
            "organization",
            "order_ref",
            "title",
            "priority",
            "device",
            "destination_address",
            "destination_radius_m",
            "planned_start",
            "planned_stop",
            "notes",
        ]
        widgets = {
            "planned_start": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "planned_stop": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"device": "Vehicle", "destination_radius_m": "Radius (m)"}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        orgs = org_ids_where(user, EDITORS)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=orgs)
        self.fields["organization"].empty_label = None
        self.fields["device"].queryset = Device.objects.filter(organization_id__in=orgs, retired__isnull=True)
        self.fields["poi"].queryset = POI.objects.filter(organization_id__in=orgs)
        if self.instance.pk and self.instance.destination:
            self.initial.setdefault("latitude", self.instance.destination.y)
            self.initial.setdefault("longitude", self.instance.destination.x)

    def clean(self) -> dict:
        data = super().clean()
        org, poi, device = data.get("organization"), data.get("poi"), data.get("device")
        if poi is not None:
            if org is not None and poi.organization_id != org.pk:
                self.add_error("poi", f"Not in {org.name}.")
            self.instance.destination = poi.point
            data["destination_radius_m"] = poi.radius_m
            data["destination_address"] = data.get("destination_address") or poi.address or poi.name
        elif data.get("latitude") is not None and data.get("longitude") is not None:
            self.instance.destination = Point(data["longitude"], data["latitude"], srid=4326)
        elif not self.instance.destination:
            self.add_error("latitude", "Pick the destination: a point (latitude and longitude) or a POI.")
        if device is not None and org is not None and device.organization_id != org.pk:
            self.add_error("device", f"Not in {org.name}.")
        ref = data.get("order_ref")
        if org is not None and ref:
            clash = Task.objects.filter(organization=org, order_ref=ref).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("order_ref", f"{org.name} already has a task {ref}.")
        return data

    def validate_unique(self) -> None:  # said in clean() in plain words
        pass


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), empty_label=None)
    file = forms.FileField(
        help_text=f"CSV, UTF-8, at most {csvio.MAX_BYTES // 1_000_000} MB and {csvio.MAX_ROWS} rows."
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=org_ids_where(user, EDITORS))
