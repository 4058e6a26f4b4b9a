"""The Dispatch page: tasks on a board by status, created and edited in the dashboard, moved between columns
(the lifecycle decides what may move where), assigned by dropping a card on a vehicle, with the nearest
available vehicles suggested for each task. Admins and dispatchers change tasks; viewers look. Every query is
scoped to the user's organisations (another organisation's task is a 404)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, for_user, get_for_user, org_ids_where, parse_pk
from fleet.dispatch import assignment, csvio, lifecycle, services
from fleet.dispatch.models import Task
from fleet.geo.models import POI
from fleet.tracking.models import Device

COLUMNS = [s for s in Task.Status if s != Task.Status.REJECTED]
DONE_DAYS = 2  # finished tasks stay on the board this long


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


def _editor(request: HttpRequest, task: Task | None = None) -> None:
    orgs = org_ids_where(request.user, EDITORS)
    if not orgs or (task is not None and task.organization_id not in orgs):
        raise PermissionDenied("Only the organisation's admins and dispatchers change its tasks.")


def board_tasks(request: HttpRequest):
    tasks = for_user(Task.objects.select_related("device", "driver", "organization"), request.user)
    recent = timezone.now() - timedelta(days=DONE_DAYS)
    tasks = tasks.filter(Q(status__in=lifecycle.OPEN) | Q(updated__gte=recent))
    q = request.GET.get("q", "").strip()
    if q:
        tasks = tasks.filter(Q(order_ref__icontains=q) | Q(title__icontains=q) | Q(destination_address__icontains=q))
    if device := parse_pk(request.GET.get("device")):
        tasks = tasks.filter(device_id=device)
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:  # none, or not a date: no day filter
        day = None
    if day is not None:
        tasks = tasks.filter(planned_start__date=day)
    return tasks.order_by("-priority", "planned_start", "order_ref")


@login_required
def board(request: HttpRequest) -> HttpResponse:
    tasks = list(board_tasks(request))
    columns = [(status, [t for t in tasks if t.status == status]) for status in COLUMNS]
    vehicles = (
        for_user(Device.objects.filter(retired__isnull=True), request.user)
        .annotate(load=Count("tasks", filter=Q(tasks__status__in=lifecycle.TRACKED)))
        .order_by("name")[:300]
    )
    context = {
        "columns": columns,
        "vehicles": vehicles,
        "can_edit": bool(org_ids_where(request.user, EDITORS)),
        "q": request.GET.get("q", ""),
    }
    return render(request, "web/dispatch.html", context)


@login_required
def task_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    task = get_for_user(Task.objects.all(), request.user, pk=pk) if pk else None
    _editor(request, task)
    form = TaskForm(request.POST or None, instance=task, user=request.user)
    if request.method == "POST" and form.is_valid():
        task = form.save(commit=False)
        new = task.pk is None
        if not new:
            task.status = Task.objects.get(pk=task.pk).status  # moves go through the board / lifecycle
        services.save_task(task)
        if new and task.device_id:
            lifecycle.transition(task, Task.Status.ASSIGNED, "dispatcher", user=request.user, note="created assigned")
        messages.success(request, f"Saved task {task.order_ref}.")
        return redirect("dispatch")
    context = {"form": form, "task": task, "timeline": lifecycle.timeline(task) if task else []}
    context["links"] = vendor_links(task) if task else []
    context["nearest"] = assignment.nearest(task) if task and task.destination else []
    return render(request, "web/task_form.html", context)


@login_required
@require_POST
def task_move(request: HttpRequest, pk: int) -> JsonResponse:
    """Move a card: {"status": ...} and / or {"device": id} (assign). 400 with the reason for an illegal move."""
    task = get_for_user(Task.objects.select_related("device"), request.user, pk=pk)
    _editor(request, task)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The request is not JSON."}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": 'Send an object: {"status": …} and / or {"device": …}.'}, status=400)
    try:
        if "device" in body:
            device = get_for_user(
                Device.objects.filter(organization_id=task.organization_id),
                request.user,
                pk=parse_pk(str(body["device"])),
            )
            lifecycle.assign(task, device, user=request.user)
        if body.get("status"):
            if body["status"] not in Task.Status.values:
                return JsonResponse({"error": f"There is no status {body['status']!r}."}, status=400)
            lifecycle.transition(task, body["status"], "dispatcher", user=request.user)
    except lifecycle.TransitionError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    task.refresh_from_db()
    return JsonResponse({"id": task.pk, "status": task.status, "device": task.device_id})


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), empty_label=None)
    file = forms.FileField(
        help_text=f"CSV, UTF-8, at most {csvio.MAX_BYTES // 1_000_000} MB and {csvio.MAX_ROWS} rows."
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=org_ids_where(user, EDITORS))


@login_required
def task_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV: checked first (every bad row with its line and reason, nothing imported); imported only when
    the dispatcher asks with a clean file."""
    _editor(request)
    if request.GET.get("template"):
        response = HttpResponse(csvio.TEMPLATE, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="tasks-template.csv"'
        return response
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    checked, error = None, ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > csvio.MAX_BYTES:
                raise csvio.CsvError(f"The file is larger than {csvio.MAX_BYTES // 1_000_000} MB.")
            checked = csvio.read(upload.read(csvio.MAX_BYTES + 1), form.cleaned_data["organization"])
            if request.POST.get("apply") and not checked.errors:
                count = csvio.import_tasks(checked, user=request.user)
                messages.success(request, f"Imported {count} tasks.")
                return redirect("dispatch")
        except csvio.CsvError as exc:
            error = str(exc)
    return render(request, "web/task_import.html", {"form": form, "checked": checked, "error": error})


@login_required
def task_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(csvio.export(board_tasks(request)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="tasks.csv"'
    return response


def vendor_links(task: Task) -> list[dict]:
    """The vendor accounts that hold the task: its id there and whether fleet's last change reached it."""
    from django.contrib.contenttypes.models import ContentType

    from fleet.vendors.models import VendorLink

    links = VendorLink.objects.filter(content_type=ContentType.objects.get_for_model(Task), object_id=task.pk)
    out = []
    for link in links.select_related("account"):
        if link.push_error:
            state = f"failed: {link.push_error}"
        elif link.last_pushed and link.last_pushed >= task.updated - timedelta(seconds=1):
            state = "sent"
        elif link.last_pulled and not link.last_pushed:
            state = "from the vendor"
        else:
            state = "pending"
        out.append({"account": link.account.name, "vendor_id": link.vendor_id, "state": state})
    return out
