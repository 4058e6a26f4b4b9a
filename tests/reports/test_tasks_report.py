"""Task performance on hand-built tasks and positions; every figure below is worked out by hand."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point

from fleet.dispatch.models import Task
from fleet.reports.kinds.tasks import task_report
from fleet.tracking.models import Driver, Position
from tests.conftest import T0, make_device

approx = pytest.approx
D3, D4, D8 = (60.2, 25.1), (60.5, 25.5), (60.3, 25.2)  # (lat, lon) destinations
FAR = (60.0, 25.0)
M_PER_DEG_LAT = 111_195.08  # metres per degree of latitude (haversine, mean Earth radius)


def at(hours: float = 0, minutes: float = 0):
    return T0 + timedelta(hours=hours, minutes=minutes)  # T0 = 08:00 UTC


def make_task(org, ref, device, driver, dest, start_h, stop_h, status="created", **kw):
    return Task.objects.create(
        organization=org,
        order_ref=ref,
        device=device,
        driver=driver,
        destination=Point(dest[1], dest[0]),
        planned_start=at(start_h),
        planned_stop=at(stop_h),
        status=status,
        **kw,
    )


def fixes(device, points):
    """points: (hours after T0, minutes, (lat, lon))."""
    Position.objects.bulk_create(
        Position(device=device, fix_time=at(h, m), latitude=p[0], longitude=p[1], speed=0.0) for h, m, p in points
    )


@pytest.fixture
def fleet_day(org_a, org_b):
    aino = Driver.objects.create(organization=org_a, name="Aino")
    mikko = Driver.objects.create(organization=org_a, name="Mikko")
    van1, van2 = make_device(org_a, "Van 1"), make_device(org_a, "Van 2")
    # Van 1: arrival times set by the driver app
    make_task(org_a, "ORD-1", van1, aino, D3, 0, 1, "completed", arrived=at(0, 3), work_finished=at(0, 50))
    make_task(org_a, "ORD-2", van1, aino, D3, 2, 3, "completed", arrived=at(2, 20), work_finished=at(3, 30))
    # Van 2: arrivals from positions
    make_task(org_a, "ORD-3", van2, mikko, D3, 4, 5, "in_progress")  # arrives 12:10, never finishes
    make_task(org_a, "ORD-4", van2, mikko, D4, 6, 7)  # never arrives
    make_task(org_a, "ORD-5", van2, None, D4, 8, 9, "cancelled")  # left out of the rates
    make_task(org_a, "ORD-8", van2, mikko, D8, 0, 1, "completed", work_finished=at(0, 40))  # waiting since 07:30
    make_task(org_a, "ORD-6", van1, aino, D3, 30, 31)  # planned outside the range
    make_task(org_b, "ORD-7", make_device(org_b, "B van"), None, D3, 0, 1)  # another organisation
    north_30m = (D3[0] + 30 / M_PER_DEG_LAT, D3[1])
    fixes(van2, [(-1, 30 + 5 * k, D8) for k in range(15)])  # 07:30 .. 08:40 parked at D8
    fixes(van2, [(4, 0, FAR), (4, 5, D3), (4, 6, FAR), (4, 10, D3), (4, 11, north_30m), (4, 12, D3), (4, 20, FAR)])
    return org_a, van1, van2


def run(org, devices, **options):
    report = task_report(org, devices, at(-1), at(12), options)
    return report, {t.name: t for t in report.tables}


def test_each_task_gets_planned_against_actual_times(fleet_day):
    org, van1, van2 = fleet_day
    report, tables = run(org, [van1, van2])
    assert report.kind == "tasks"
    rows = {r["order_ref"]: r for r in tables["tasks"].rows}
    assert list(rows) == ["ORD-1", "ORD-8", "ORD-2", "ORD-3", "ORD-4", "ORD-5"]  # by planned start, then order
    one = rows["ORD-1"]
    assert (one["arrived"], one["arrival_source"], one["arrival_late_s"], one["arrival_on_time"]) == (
        at(0, 3),
        "task",
        180,
        True,
    )
    assert (one["completion_late_s"], one["completion_on_time"], one["on_site_s"]) == (0, True, 47 * 60)
    two = rows["ORD-2"]
    assert (two["arrival_late_s"], two["arrival_on_time"]) == (1200, False)
    assert (two["completion_late_s"], two["completion_on_time"]) == (1800, False)
    three = rows["ORD-3"]  # the lone fix at 12:05 is not an arrival; 12:10 .. 12:12 is
    assert (three["arrived"], three["arrival_source"], three["arrival_late_s"]) == (at(4, 10), "positions", 600)
    assert (three["arrival_on_time"], three["work_finished"], three["completion_on_time"]) == (False, None, False)
    four = rows["ORD-4"]
    assert (four["arrived"], four["arrival_late_s"], four["arrival_on_time"], four["completion_on_time"]) == (
        None,
        None,
        False,
        False,
    )
    five = rows["ORD-5"]
    assert (five["status"], five["arrival_on_time"], five["completion_on_time"]) == ("Cancelled", None, None)
    eight = rows["ORD-8"]  # already waiting at the destination at the planned start
    assert (eight["arrived"], eight["arrival_source"], eight["arrival_late_s"], eight["arrival_on_time"]) == (
        at(-1, 30),
        "positions",
        0,
        True,
    )
    assert eight["on_site_s"] == 70 * 60 and eight["completion_on_time"] is True
    assert not any(key.startswith("_") for row in rows.values() for key in row)


def test_rates_per_vehicle_and_per_driver(fleet_day):
    org, van1, van2 = fleet_day
    _, tables = run(org, [van1, van2])
    by_vehicle = {r["device"]: r for r in tables["by_vehicle"].rows}
    # Van 1: ORD-1 on time / ORD-2 late, both finished; lateness 180 and 1200
    assert by_vehicle["Van 1"] == {
        "device": "Van 1",
        "tasks": 2,
        "completed": 2,
        "arrival_rate": 50.0,
        "completion_rate": 50.0,
        "mean_late_s": 690.0,
    }
    # Van 2: ORD-3 late, ORD-4 late, ORD-5 cancelled (unknown), ORD-8 on time; arrived: ORD-3 (600 s), ORD-8 (0)
    assert by_vehicle["Van 2"] == {
        "device": "Van 2",
        "tasks": 4,
        "completed": 1,
        "arrival_rate": approx(100 / 3),
        "completion_rate": approx(100 / 3),
        "mean_late_s": 300.0,
    }
    by_driver = {r["driver"]: r for r in tables["by_driver"].rows}
    assert list(by_driver) == ["(no driver)", "Aino", "Mikko"]
    assert by_driver["Mikko"] == {
        "driver": "Mikko",
        "tasks": 3,
        "completed": 1,
        "arrival_rate": approx(100 / 3),
        "completion_rate": approx(100 / 3),
        "mean_late_s": 300.0,
    }
    assert by_driver["(no driver)"] == {
        "driver": "(no driver)",
        "tasks": 1,
        "completed": 0,
        "arrival_rate": None,
        "completion_rate": None,
        "mean_late_s": None,
    }
    assert by_driver["Aino"]["arrival_rate"] == 50.0
    total = tables["by_vehicle"].totals
    # 2 of 5 assessed arrivals on time; lateness (180 + 1200 + 600 + 0) / 4
    assert (total["tasks"], total["completed"], total["arrival_rate"], total["mean_late_s"]) == (6, 3, 40.0, 495.0)


def test_only_the_given_vehicles_tasks_and_progress_per_device(fleet_day):
    org, van1, _ = fleet_day
    calls = []
    report = task_report(org, [van1], at(-1), at(12), {}, progress=lambda d, n: calls.append((d, n)))
    assert [r["order_ref"] for r in report.tables[0].rows] == ["ORD-1", "ORD-2"]
    assert calls == [(1, 1)]


def test_tasks_without_a_vehicle_come_with_the_whole_fleet_only(fleet_day):
    org, van1, van2 = fleet_day
    make_task(org, "ORD-9", None, None, D3, 1, 2, arrived=at(1, 1))
    _, tables = run(org, [van1, van2])
    assert "ORD-9" in [r["order_ref"] for r in tables["tasks"].rows]
    assert {r["device"] for r in tables["by_vehicle"].rows} == {"Van 1", "Van 2", "(no vehicle)"}
    _, tables = run(org, [van1])
    assert "ORD-9" not in [r["order_ref"] for r in tables["tasks"].rows]


def test_a_task_not_yet_due_is_not_late(fleet_day):
    org, van1, van2 = fleet_day
    _, tables = run(org, [van1, van2], now=at(6, 2))  # ORD-4 planned 14:00, now 14:02: within the tolerance
    four = next(r for r in tables["tasks"].rows if r["order_ref"] == "ORD-4")
    assert (four["arrival_on_time"], four["completion_on_time"]) == (None, None)
