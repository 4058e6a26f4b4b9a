"""The task state machine (every move, allowed and refused, by each source), its timeline, and tasks that move
by themselves: a vehicle driving to its destination, working there and leaving (real ingest, the event engine),
leaving too early, the dispatcher confirming, and the late check with its notification."""

import itertools
import uuid
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task, TaskChange
from fleet.events import notify, places, progress
from fleet.events.models import Notification, NotificationRule
from fleet.tracking import ingest
from fleet.tracking.models import Event
from fleet.tracking.records import PositionRecord
from tests.conftest import make_device
from tests.events.helpers import at

pytestmark = pytest.mark.django_db
S, SRC = Task.Status, TaskChange.Source
START = timezone.now().replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    places.forget()
    notify.forget()
    yield
    places.forget()


def make_task(org, device=None, status=S.CREATED, **kw) -> Task:
    lat, lon = at(0, 0)
    return Task.objects.create(
        organization=org,
        order_ref=kw.pop("ref", "ORD-1"),
        destination=Point(lon, lat),
        destination_radius_m=50,
        device=device,
        status=status,
        **kw,
    )


EXPECTED = {  # old -> the statuses a dispatcher may move it to
    "created": {"assigned", "cancelled"},
    "assigned": {"created", "en_route", "arrived", "cancelled"},
    "en_route": {"assigned", "arrived", "failed", "cancelled"},
    "arrived": {"en_route", "in_progress", "completed", "failed", "cancelled"},
    "in_progress": {"completed", "failed", "cancelled"},
    "failed": {"assigned", "cancelled"},
    "rejected": {"assigned", "cancelled"},
    "completed": set(),
    "cancelled": set(),
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product(S.values, S.values)))
def test_every_move_is_allowed_or_refused_with_a_reason(old, new):
    reason = lifecycle.allowed(old, new, SRC.DISPATCHER)
    assert (reason is None) == (new in EXPECTED[old])
    vehicle = lifecycle.allowed(old, new, SRC.VEHICLE)
    assert (vehicle is None) == ((old, new) in lifecycle.VEHICLE_MOVES)
    assert lifecycle.allowed(old, new, SRC.VENDOR) is None  # the vendor's word is final
    if reason:
        assert reason.endswith(".") and "task" in reason.lower()


def test_a_move_sets_its_times_and_keeps_a_timeline(org_a, django_user_model):
    van = make_device(org_a)
    task = make_task(org_a)
    with pytest.raises(lifecycle.TransitionError, match="Assign a vehicle first"):
        lifecycle.transition(task, S.ASSIGNED, SRC.DISPATCHER)
    boss = django_user_model.objects.create_user("boss")
    lifecycle.assign(task, van, user=boss)
    lifecycle.transition(task, S.ARRIVED, SRC.VEHICLE, position=(60.17, 24.94))
    lifecycle.transition(task, S.COMPLETED, SRC.DISPATCHER, user=boss)
    with pytest.raises(lifecycle.TransitionError, match="A completed task cannot change any more"):
        lifecycle.transition(task, S.CANCELLED, SRC.DISPATCHER)
    task.refresh_from_db()
    assert (task.status, task.device, task.arrived is not None, task.work_finished is not None) == (
        "completed",
        van,
        True,
        True,
    )
    steps = [(c.old, c.new, c.source, c.user) for c in lifecycle.timeline(task)]
    assert steps == [
        ("created", "assigned", "dispatcher", boss),
        ("assigned", "arrived", "vehicle", None),
        ("arrived", "completed", "dispatcher", boss),
    ]
    lifecycle.transition(task, S.CREATED, SRC.VENDOR)  # outside the graph: kept, and said
    assert "the vendor's move from completed to created" in lifecycle.timeline(task)[-1].note


def test_the_form_refuses_a_stop_before_the_start(org_a):
    from django.core.exceptions import ValidationError

    task = make_task(org_a, planned_start=START, planned_stop=START - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="planned stop must come after the planned start"):
        task.full_clean()


def drive(org, van, steps):
    """steps: (seconds after START, x metres east of the destination)."""
    batch = [PositionRecord(str(van.pk), START + timedelta(seconds=s), *at(x, 0), speed=20.0) for s, x in steps]
    ingest.positions(org.pk, None, batch)


def test_a_vehicle_arrives_works_and_leaves_and_the_task_completes_itself(org_a, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    task = make_task(org_a, van, S.ASSIGNED)
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [(0, -500), (60, -200), (120, -20), (180, 0), (240, 10)])  # in from 120 s
    task.refresh_from_db()
    assert task.status == "arrived" and task.arrived == START + timedelta(seconds=120)
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [(300, 5), (360, 0), (420, 200)])  # out at 420 s: 300 s there >= 120 s dwell
    task.refresh_from_db()
    assert task.status == "completed"
    assert [(c.old, c.new, c.time - START) for c in lifecycle.timeline(task)] == [
        ("assigned", "arrived", timedelta(seconds=120)),
        ("arrived", "in_progress", timedelta(seconds=240)),  # arrival + the organisation's 120 s dwell
        ("in_progress", "completed", timedelta(seconds=420)),
    ]
    assert lifecycle.timeline(task)[0].latitude == pytest.approx(at(-20, 0)[0])


def test_leaving_before_the_dwell_is_back_en_route_and_the_beat_marks_a_long_stay_in_progress(
    org_a, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    task = make_task(org_a, van, S.ASSIGNED)
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [(0, -500), (60, 0), (90, 300)])  # 30 s there
    task.refresh_from_db()
    assert task.status == "en_route"
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [(600, 0), (660, 5)])  # back, and still there
    task.refresh_from_db()
    assert task.status == "arrived"
    assert progress.check(now=START + timedelta(seconds=600 + 119))["in_progress"] == 0
    assert progress.check(now=START + timedelta(seconds=600 + 120))["in_progress"] == 1
    task.refresh_from_db()
    assert task.status == "in_progress" and task.work_started == START + timedelta(seconds=720)


def test_the_dispatcher_confirms_when_the_organisation_says_so(org_a, django_capture_on_commit_callbacks):
    org_a.task_complete_on_leave = False
    org_a.save()
    van = make_device(org_a)
    task = make_task(org_a, van, S.ASSIGNED)
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [(0, -500), (60, 0), (300, 0), (360, 400)])
    task.refresh_from_db()
    assert task.status == "in_progress"
    assert "to be confirmed by the dispatcher" in lifecycle.timeline(task)[-1].note


def test_a_task_not_reached_in_time_is_late_once_and_the_rules_hear_of_it(org_a, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    stop = timezone.now() - timedelta(minutes=5)
    task = make_task(org_a, van, S.ASSIGNED, planned_start=stop - timedelta(hours=1), planned_stop=stop)
    make_task(org_a, van, S.ARRIVED, ref="ORD-2", planned_stop=stop)  # reached: not late
    rule = NotificationRule.objects.create(organization=org_a, name="Late", event_types=["taskLate"])
    with django_capture_on_commit_callbacks(execute=True):
        assert progress.check()["late"] == 1
        assert progress.check()["late"] == 0
    task.refresh_from_db()
    assert task.late and task.status == "assigned"
    late = Event.objects.get(type="taskLate")
    assert (late.task, late.device, late.source) == (task, van, "fleet")
    assert abs(late.time - stop) < timedelta(milliseconds=1)  # the end of the window
    assert Notification.objects.get(rule=rule).event == late
