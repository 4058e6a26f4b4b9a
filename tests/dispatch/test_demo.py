"""The demo's dispatch data: `seeddemo --simulators` seeds drivers, POIs and a day of assigned tasks at places the
Data Trak simulator's vehicles will park at; a vehicle of a real simulator, synced over HTTP, then arrives at
its task, works there and leaves, and the task completes itself."""

import io
import re
import shlex
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from fleet.core.management.commands import seeddemo
from fleet.core.models import Organization
from fleet.dispatch.models import Task
from fleet.events import places
from fleet.geo.models import POI
from fleet.tracking.models import Driver
from fleet.vendors import sync
from fleet.vendors.models import VendorAccount
from tests.conftest import make_org

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    settings.VENDOR_HTTP_TIMEOUT = 2.0
    places.forget()
    yield
    places.forget()


def test_the_demo_plans_its_tasks_for_the_simulator_the_procfile_runs():
    line = next(line for line in PROCFILE.read_text().splitlines() if line.startswith("sim_datatrak:"))
    args = shlex.split(line.split(":", 1)[1])
    value = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    sim = seeddemo.TASK_SIM
    assert (int(value["--devices"]), int(value["--seed"]), float(value["--history"])) == (
        sim["devices"],
        sim["seed"],
        sim["history"],
    )
    assert "--interval" not in value and sim["interval"] == 10.0  # Data Trak's own report interval
    assert re.search(r"seeddemo --simulators", (PROCFILE.parent / "Makefile").read_text())


@pytest.mark.django_db
def test_seeding_makes_drivers_pois_and_a_day_of_assigned_tasks_in_the_demo_only(org_b):
    out = io.StringIO()
    call_command("seeddemo", "--simulators", stdout=out)
    demo = Organization.objects.get(slug="demo")
    tasks = Task.objects.filter(organization=demo)
    assert tasks.count() >= seeddemo.TASK_VEHICLES * 8  # a task every 90 minutes or so, per vehicle, for a day
    assert set(tasks.values_list("status", flat=True)) == {"assigned"}
    account = VendorAccount.objects.get(organization=demo, name="Data Trak demo")
    assert {t.device.account_id for t in tasks} == {account.pk}
    assert {t.driver.name for t in tasks} == set(seeddemo.DEMO_DRIVERS)
    assert all(t.poi.organization_id == demo.pk and t.destination == t.poi.point for t in tasks)
    now = timezone.now()
    assert all(now < t.planned_start + seeddemo.TASK_WINDOW < now + timedelta(days=1) for t in tasks)
    assert POI.objects.filter(organization=demo, purpose="customer").count() == 37  # the simulator's places
    assert POI.objects.filter(organization=demo, name__startswith="Depot ").count() == 3  # its parkings
    assert Driver.objects.filter(organization=demo).count() == len(seeddemo.DEMO_DRIVERS)
    assert not Task.objects.filter(organization=org_b).exists() and not POI.objects.filter(organization=org_b)
    assert f"dispatch: 6 drivers, 40 POIs, {tasks.count()} tasks" in out.getvalue()
    assert re.search(r"history: [1-9][\d,]+ positions of 105 vehicles over 7 days", out.getvalue())
    # again for the same simulator run: nothing new; for a new run (make run again): the old open tasks cancelled
    first = tasks.first()
    start = datetime.fromisoformat(first.attributes["demo_start"])
    assert seeddemo.seed_dispatch(demo, account, start)["tasks"] == 0
    assert Task.objects.filter(organization=demo).count() == tasks.count()
    made = seeddemo.seed_dispatch(demo, account, start + timedelta(minutes=7))["tasks"]
    first.refresh_from_db()
    assert first.status == "cancelled" and first.changes.last().note == "the demo's simulators restarted"
    assert Task.objects.filter(organization=demo, status="assigned").count() == made > 0


@pytest.mark.django_db(transaction=True)
def test_a_seeded_task_is_completed_by_the_simulated_vehicle_driving_there(simulator):
    cfg = seeddemo.TASK_SIM
    lag = 3 * 3600  # the simulator's clock never runs ahead of real time: it starts three hours behind
    sim = simulator("datatrak", devices=cfg["devices"], seed=cfg["seed"], history=cfg["history"] + lag, lag=lag)
    org = make_org("demo-e2e")
    credentials = {"username": "demo", "password": "demo"}
    account = VendorAccount.objects.create(
        organization=org, kind="datatrak", name="Data Trak demo", base_url=sim.url, credentials=credentials
    )
    start = seeddemo.simulator_start(account)  # asked from the simulator over HTTP
    assert start == sim.sim.model.start
    sim_now = datetime.fromisoformat(sim.clock()["now"])
    seeddemo.seed_dispatch(org, account, start, now=sim_now)
    assert sync.sync_account(account).status == "ok"
    task = Task.objects.filter(organization=org).order_by("planned_start").first()
    assert task.status == "assigned" and task.changes.count() == 1  # the vehicle is not there yet
    leave = task.planned_stop - seeddemo.TASK_WINDOW
    sim.clock(advance=(leave - sim_now).total_seconds() + 120)
    account.refresh_from_db()
    assert sync.sync_account(account).status == "ok"
    task.refresh_from_db()
    steps = [(c.old, c.new, c.source) for c in task.changes.order_by("pk")]  # assigned in real time, driven 3 h ago
    assert ("assigned", "arrived", "vehicle") in steps or ("en_route", "arrived", "vehicle") in steps
    assert task.status == "completed" and steps[-1] == ("in_progress", "completed", "vehicle")
    arrived = task.changes.get(new="in_progress").time - timedelta(seconds=org.task_dwell_s)
    planned = task.planned_start + seeddemo.TASK_WINDOW
    assert abs(arrived - planned) < timedelta(minutes=1)  # when the itinerary said
