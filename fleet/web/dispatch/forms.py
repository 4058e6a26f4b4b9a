"""The dispatch forms, and who may change tasks (an organisation's admins and dispatchers)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, for_user, org_ids_where
from fleet.dispatch import csvio, files
from fleet.dispatch.models import Task, TaskFile
from fleet.geo.models import POI
from fleet.tracking.models import Device, Driver


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
        if self.instance.pk and self.instance.poi_id:
            self.initial.setdefault("poi", self.instance.poi_id)
        if self.instance.pk and self.instance.destination:
            self.initial.setdefault("latitude", self.instance.destination.y)
            self.initial.setdefault("longitude", self.instance.destination.x)

    def clean(self) -> dict:
        data = super().clean()
        org, poi, device = data.get("organization"), data.get("poi"), data.get("device")
        if poi is not None:
            if org is not None and poi.organization_id != org.pk:
                self.add_error("poi", f"Not in {org.name}.")
            self.instance.destination, self.instance.poi = poi.point, poi
            data["destination_radius_m"] = poi.radius_m
            data["destination_address"] = data.get("destination_address") or poi.address or poi.name
        elif data.get("latitude") is not None and data.get("longitude") is not None:
            self.instance.destination, self.instance.poi = Point(data["longitude"], data["latitude"], srid=4326), None
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


class BoardFilter(forms.Form):
    """The board's filters (also the map's and the export's), each choice among the user's organisations' own."""

    q = forms.CharField(
        label="Search", required=False, max_length=200, widget=forms.TextInput(attrs={"type": "search"})
    )
    day = forms.DateField(
        label="Planned day", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Task.Status.choices])
    device = forms.ModelChoiceField(Device.objects.none(), label="Vehicle", required=False, empty_label="Any vehicle")
    driver = forms.ModelChoiceField(Driver.objects.none(), required=False, empty_label="Any driver")
    poi = forms.ModelChoiceField(
        POI.objects.none(), label="Customer / POI", required=False, empty_label="Any customer / POI"
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = "Order ref, title, address, customer…"
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = field.label
        self.fields["device"].queryset = for_user(Device.objects.filter(retired__isnull=True), user).order_by("name")
        self.fields["driver"].queryset = for_user(Driver.objects.filter(retired__isnull=True), user).order_by("name")
        with_tasks = POI.objects.filter(pk__in=Task.objects.filter(poi__isnull=False).values("poi"))
        self.fields["poi"].queryset = for_user(with_tasks, user).order_by("name")

    def filter(self, tasks: QuerySet[Task]) -> QuerySet[Task]:
        """The tasks the valid filters keep (a filter with a bad value is left out and shown as an error)."""
        self.is_valid()
        data = self.cleaned_data
        if q := data.get("q", "").replace("\x00", "").strip():
            text = Q(order_ref__icontains=q) | Q(title__icontains=q) | Q(destination_address__icontains=q)
            tasks = tasks.filter(text | Q(poi__name__icontains=q))
        if data.get("day"):
            tasks = tasks.filter(planned_start__date=data["day"])
        for name in ("status", "device", "driver", "poi"):
            if data.get(name):
                tasks = tasks.filter(**{name: data[name]})
        return tasks


class TaskFileForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text=f"An image (JPEG, PNG, GIF, WebP) or a PDF document, at most "
        f"{settings.TASK_FILE_MAX_BYTES // (1024 * 1024)} MB.",
    )
    kind = forms.ChoiceField(choices=TaskFile.Kind.choices, initial=TaskFile.Kind.OTHER)

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        files.check(upload)  # size, and a type told by the file's first bytes
        return upload


class ChecklistItemForm(forms.Form):
    text = forms.CharField(
        label="New item",
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "To do there…"}),
        error_messages={
            "required": "Write what is to be done.",
            "max_length": "An item may be at most 300 characters.",
        },
    )
