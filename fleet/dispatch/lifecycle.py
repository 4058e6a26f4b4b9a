"""A task's lifecycle: the one state machine every change of status goes through (pages, the admin, the vehicle's
own progress found by the event engine, vendor sync), each step kept on the task's timeline (``TaskChange``).

    created ──assign──> assigned ──> en route ──> arrived ──> in progress ──> completed
       │                   │  ↑          │  ↑        │             │
       │                   │  └─(unassign)  └──(left before work)  └──> failed
       └──────> cancelled <┴─────────────┴───────────┴─────────────┘
    failed / rejected ──(dispatcher: try again)──> assigned

Who may make which move: dispatchers any move of the graph; the vehicle (fleet's event engine) only the moves of
driving and working (en route, arrived, in progress, completed, back to en route); a vendor may set any status
its own system has (its word is final: a move outside the graph is kept and noted). An illegal move is a
``TransitionError`` with a sentence saying why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from django.db import transaction
from django.utils import timezone

from fleet.dispatch import services
from fleet.dispatch.models import Task, TaskChange

S = Task.Status
Source = TaskChange.Source
TERMINAL = frozenset({S.COMPLETED, S.CANCELLED})
MOVES: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.CREATED, S.EN_ROUTE, S.ARRIVED, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ASSIGNED, S.ARRIVED, S.FAILED, S.CANCELLED}),
    S.ARRIVED: frozenset({S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.REJECTED: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}
VEHICLE_MOVES = frozenset(
    {
        (S.ASSIGNED, S.EN_ROUTE),
        (S.ASSIGNED, S.ARRIVED),
        (S.EN_ROUTE, S.ARRIVED),
        (S.ARRIVED, S.EN_ROUTE),
        (S.ARRIVED, S.IN_PROGRESS),
        (S.ARRIVED, S.COMPLETED),
        (S.IN_PROGRESS, S.COMPLETED),
    }
)
OPEN = frozenset({S.CREATED, S.ASSIGNED, S.EN_ROUTE, S.ARRIVED, S.IN_PROGRESS})
TRACKED = frozenset({S.ASSIGNED, S.EN_ROUTE, S.ARRIVED, S.IN_PROGRESS})  # the engine watches their destination


StepHandler = Callable[[list[TaskChange]], None]
_steps: list[StepHandler] = []


def on_steps(handler: StepHandler) -> None:
    """Register ``handler(changes)``, run after the commit with the steps just added to tasks' timelines (the
    webhooks app sends the status moves)."""
    if handler not in _steps:
        _steps.append(handler)


def recorded(changes: list[TaskChange]) -> None:
    """Tell the step handlers (after the commit) of steps kept on tasks' timelines, by any code that keeps one."""
    if changes:
        for handler in _steps:
            transaction.on_commit(partial(handler, changes))


class TransitionError(ValueError):
    """A move the state machine does not allow; the message says why in plain words."""


def allowed(old: str, new: str, source: str) -> str | None:
    """None if ``source`` may move a task from ``old`` to ``new``, else the reason."""
    if source == Source.VENDOR:
        return None
    if old == new:
        return f"The task is already {S(old).label.lower()}."
    if new not in MOVES.get(old, ()):
        if old in TERMINAL:
            return f"A {S(old).label.lower()} task cannot change any more."
        return f"A task cannot go from {S(old).label.lower()} to {S(new).label.lower()}."
    if source == Source.VEHICLE and (old, new) not in VEHICLE_MOVES:
        return f"A vehicle cannot move a task from {S(old).label.lower()} to {S(new).label.lower()}."
    return None


def transition(
    task: Task,
    new: str,
    source: str,
    *,
    user=None,
    at: datetime | None = None,
    position: tuple[float, float] | None = None,
    note: str = "",
) -> TaskChange:
    """Move the task to ``new`` (locking its row), set the times that go with it, and keep the step."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        old = locked.status
        if reason := allowed(old, new, source):
            raise TransitionError(reason)
        if new == S.ASSIGNED and locked.device_id is None and task.device_id is None:
            raise TransitionError("Assign a vehicle first.")
        if source == Source.VENDOR and new not in MOVES.get(old, ()) and old != new:
            note = (note + " " if note else "") + f"(the vendor's move from {old} to {new})"
        fields = {"status": new}
        if new == S.ARRIVED:  # the latest arrival (a vehicle that left before working and came back)
            fields["arrived"] = at
        if new == S.IN_PROGRESS and not locked.work_started:
            fields["work_started"] = at
        if new in (S.COMPLETED, S.FAILED) and not locked.work_finished:
            fields["work_finished"] = at
        if task.device_id != locked.device_id:  # an assignment made with this move
            fields["device_id"], fields["driver_id"] = task.device_id, task.driver_id
        for name, value in fields.items():
            setattr(locked, name, value)
            setattr(task, name, value)
        locked.save(update_fields=[*fields, "updated"])  # a save, so the event engine's zones follow
        if source != Source.VENDOR:  # made in fleet: to the vendor account of the vehicle (never echoed back)
            services.changed(locked)
        lat, lon = position if position else (None, None)
        change = TaskChange.objects.create(
            task=task, time=at, old=old, new=new, source=source, user=user, latitude=lat, longitude=lon, note=note
        )
        recorded([change])
        return change


def assign(task: Task, device, driver=None, *, user=None, source: str = Source.DISPATCHER) -> TaskChange:
    """Give the task a vehicle (and its driver, unless one is named) and mark it assigned."""
    task.device = device
    task.driver = driver if driver is not None else getattr(device, "driver", None)
    if task.status == S.ASSIGNED:  # a new vehicle for an assigned task: keep the status, record the step
        task.save(update_fields=["device", "driver", "updated"])
        change = TaskChange.objects.create(
            task=task,
            time=timezone.now(),
            old=S.ASSIGNED,
            new=S.ASSIGNED,
            source=source,
            user=user,
            note=f"reassigned to {device}",
        )
        recorded([change])
        return change
    return transition(task, S.ASSIGNED, source, user=user, note=f"assigned to {device}")


def timeline(task: Task) -> list[TaskChange]:
    return list(task.changes.select_related("user"))
