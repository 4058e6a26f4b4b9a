"""Tasks that move by themselves: the vehicle's own progress at its task's destination, read from the event
engine's task events, and the late check (``fleet.dispatch.lifecycle`` makes every move; docs/events.md).

- ``taskArrival`` marks an assigned (or en route) task *arrived*;
- staying for the organisation's ``task_dwell_s`` marks it *in progress* (at arrival + dwell: found by the beat
  check while the vehicle is still there, or when it leaves);
- ``taskDeparture`` after working there marks it *completed* (or, when the organisation has the dispatcher
  confirm, notes it on the timeline); leaving before that sends it back *en route*;
- a task not reached by the end of its window is marked late, and a ``taskLate`` event goes to the notification
  rules."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task, TaskChange
from fleet.events import engine, run
from fleet.events.engine import Found
from fleet.tracking.models import Event, Position

log = logging.getLogger(__name__)
S, VEHICLE = Task.Status, TaskChange.Source.VEHICLE
LATE = engine.TASK_LATE


def on_events(organization_id: int, events: list[Event]) -> None:
    """The engine's listener: move the tasks whose destination a vehicle reached or left."""
    for event in events:
        if event.task_id is None or event.type not in ("taskArrival", "taskDeparture"):
            continue
        task = Task.objects.select_related("organization").filter(pk=event.task_id).first()
        if task is None or task.device_id != event.device_id:
            continue
        try:
            if event.type == "taskArrival":
                arrived(task, event)
            else:
                left(task, event)
        except lifecycle.TransitionError as exc:
            log.info("task %s: %s (%s)", task.pk, exc, event.type)


def _where(event: Event) -> tuple[float, float] | None:
    if event.position_id is None:
        return None
    return Position.objects.filter(pk=event.position_id).values_list("latitude", "longitude").first()


def arrived(task: Task, event: Event) -> None:
    if task.status in (S.ASSIGNED, S.EN_ROUTE):
        lifecycle.transition(task, S.ARRIVED, VEHICLE, at=event.time, position=_where(event))


def left(task: Task, event: Event) -> None:
    org = task.organization
    if task.status == S.ARRIVED:
        worked = task.arrived and event.time - task.arrived >= timedelta(seconds=org.task_dwell_s)
        if not worked:
            lifecycle.transition(task, S.EN_ROUTE, VEHICLE, at=event.time, note="left before working there")
            return
        lifecycle.transition(task, S.IN_PROGRESS, VEHICLE, at=task.arrived + timedelta(seconds=org.task_dwell_s))
    if task.status == S.IN_PROGRESS:
        if org.task_complete_on_leave:
            lifecycle.transition(task, S.COMPLETED, VEHICLE, at=event.time, position=_where(event))
        else:
            kept = TaskChange.objects.create(
                task=task,
                time=event.time,
                old=task.status,
                new=task.status,
                source=VEHICLE,
                note="the vehicle left the destination: to be confirmed by the dispatcher",
            )
            lifecycle.recorded([kept])


def check(now=None) -> dict:
    """Beat: arrived tasks whose vehicle stayed the dwell are in progress; tasks not reached in time are late."""
    now = now or timezone.now()
    working = 0
    for task in Task.objects.select_related("organization").filter(status=S.ARRIVED, arrived__isnull=False):
        due = task.arrived + timedelta(seconds=task.organization.task_dwell_s)
        if due <= now:
            try:
                lifecycle.transition(task, S.IN_PROGRESS, VEHICLE, at=due)
                working += 1
            except lifecycle.TransitionError:
                pass
    late = list(
        Task.objects.filter(
            status__in=(S.ASSIGNED, S.EN_ROUTE), late=False, planned_stop__lt=now, device__isnull=False
        ).values_list("pk", "organization_id", "device_id", "planned_stop", "order_ref")
    )
    for pk, org_id, device, stop, ref in late:
        if not Task.objects.filter(pk=pk, late=False).update(late=True):
            continue  # another worker was first
        found = Found(device, LATE, stop.timestamp(), f"task:{pk}", attributes={"zone": ref})
        created = run.store(org_id, [found], [])
        Event.objects.filter(pk__in=[e.pk for e in created]).update(task_id=pk)
        for e in created:
            e.task_id = pk
        kept = TaskChange.objects.create(
            task_id=pk,
            time=stop,
            old="",
            new=Task.objects.get(pk=pk).status,
            source=TaskChange.Source.SYSTEM,
            note="late: not at the destination by the end of the time window",
        )
        lifecycle.recorded([kept])
        if created:
            run.tell(org_id, created)
    return {"in_progress": working, "late": len(late)}
