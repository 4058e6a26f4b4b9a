"""The board: the visible tasks in columns by status, a map of their destinations and the organisation's
vehicles, and moves (a card dropped on a column or a vehicle) through the lifecycle."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from fleet.core.jsonout import json_script
from fleet.core.maps import map_settings
from fleet.core.scoping import EDITORS, for_user, get_for_user, org_ids_where, parse_pk
from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task
from fleet.tracking.models import Device
from fleet.web.dispatch.forms import BoardFilter, deny_unless_editor

COLUMNS = [s for s in Task.Status if s != Task.Status.REJECTED]
DONE_DAYS = 2  # finished tasks stay on the board this long
MAX_VEHICLES = 300


def board_tasks(request: HttpRequest, filters: BoardFilter | None = None) -> QuerySet[Task]:
    """The user's tasks on the board: the open ones and those finished lately, through the board's filters."""
    filters = filters or BoardFilter(request.GET, user=request.user)
    tasks = for_user(Task.objects.select_related("device", "driver", "organization", "poi"), request.user)
    recent = timezone.now() - timedelta(days=DONE_DAYS)
    tasks = tasks.filter(Q(status__in=lifecycle.OPEN) | Q(updated__gte=recent))
    return filters.filter(tasks).order_by("-priority", "planned_start", "order_ref")


# A destination's colour on the map (and its column's swatch): open tasks warm to green, finished ones grey.
STATUS_COLOURS = {
    Task.Status.CREATED: "#667085",
    Task.Status.ASSIGNED: "#2e90fa",
    Task.Status.EN_ROUTE: "#7a5af8",
    Task.Status.ARRIVED: "#f79009",
    Task.Status.IN_PROGRESS: "#ee46bc",
    Task.Status.COMPLETED: "#12b76a",
    Task.Status.FAILED: "#d92d20",
    Task.Status.REJECTED: "#d92d20",
    Task.Status.CANCELLED: "#98a2b3",
}


def board_vehicles(request: HttpRequest):
    return (
        for_user(Device.objects.filter(retired__isnull=True), request.user)
        .annotate(load=Count("tasks", filter=Q(tasks__status__in=lifecycle.TRACKED)))
        .order_by("name")
    )


def map_page(tasks: list[Task], vehicles: list[Device]) -> dict:
    """What the board's map draws: the tasks' destinations and the vehicles' last positions."""
    destinations = [
        {
            "id": t.pk,
            "lat": t.destination.y,
            "lon": t.destination.x,
            "radius_m": t.destination_radius_m,
            "status": t.status,
            "status_label": t.get_status_display(),
            "order_ref": t.order_ref,
            "title": t.title,
            "url": reverse("task-edit", args=[t.pk]),
        }
        for t in tasks
    ]
    positions = [
        {"id": d.pk, "name": d.name, "lat": d.last_latitude, "lon": d.last_longitude}
        for d in vehicles
        if d.last_latitude is not None and d.last_longitude is not None
    ]
    colours = {str(status): colour for status, colour in STATUS_COLOURS.items()}
    return {**map_settings(), "tasks": destinations, "vehicles": positions, "colours": colours}


@login_required
def board(request: HttpRequest) -> HttpResponse:
    filters = BoardFilter(request.GET, user=request.user)
    tasks = list(board_tasks(request, filters))
    columns = [(status, STATUS_COLOURS[status], [t for t in tasks if t.status == status]) for status in COLUMNS]
    vehicles = board_vehicles(request)
    if filters.is_valid() and filters.cleaned_data.get("device"):  # the map shows the vehicle filtered on
        vehicles = vehicles.filter(pk=filters.cleaned_data["device"].pk)
    vehicles = list(vehicles[:MAX_VEHICLES])
    context = {
        "columns": columns,
        "vehicles": vehicles,
        "can_edit": bool(org_ids_where(request.user, EDITORS)),
        "filters": filters,
        "map_script": json_script(map_page(tasks, vehicles), "dispatch-map-data"),
    }
    return render(request, "web/dispatch.html", context)


@login_required
@require_POST
def task_move(request: HttpRequest, pk: int) -> JsonResponse:
    """Move a card: {"status": ...} and / or {"device": id} (assign). 400 with the reason for an illegal move."""
    task = get_for_user(Task.objects.select_related("device"), request.user, pk=pk)
    deny_unless_editor(request, task)
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
