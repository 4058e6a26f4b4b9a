"""The summary per driver: each vehicle's time split where its driver changes, an "Unassigned" row for the time
nobody drove, the rows adding up to the summary per vehicle; on the page, in the exports and the JSON API.

Both vans drive the day of test_kinds (trip 1 08:00-08:20, 12 km; idling 08:20-08:30; trip 2 10:00-10:30,
15 km; UTC). Van 7's fixed driver is Ville; Anna drives it 07:00-08:10 (so trip 1 is cut at 08:10), Mikko from
09:30. Mikko drives Van 8 07:00-09:30 (its trip 1) too; Van 8 has no driver otherwise (its trip 2 is unassigned).
"""

from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from fleet.api.models import ApiToken
from fleet.reports import exports
from fleet.reports.kinds import build_report
from fleet.reports.tables import Units
from fleet.tracking import drivers
from fleet.tracking.models import Driver, DriverAssignment
from tests.conftest import make_device, make_user
from tests.reports.test_kinds import DAY_END, DAY_START, at, drive_day

pytestmark = pytest.mark.django_db
FIGURES = ["distance", "driving", "idle", "stopped", "no_data", "engine_hours", "fuel", "trips"]


@pytest.fixture(autouse=True)
def own_cache(settings):
    import uuid

    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}


@pytest.fixture
def shared(org_a):
    org_a.timezone = "Europe/Helsinki"
    org_a.save()
    ville, anna, mikko = (Driver.objects.create(organization=org_a, name=n) for n in ("Ville", "Anna", "Mikko"))
    van7 = make_device(org_a, "Van 7", driver=ville)
    van8 = make_device(org_a, "Van 8")
    for van in (van7, van8):
        drive_day(van)
    for device, driver, start, end in (
        (van7, anna, at(7), at(8, 10)),
        (van7, mikko, at(9, 30), None),
        (van8, mikko, at(7), at(9, 30)),
    ):
        drivers.save_assignment(DriverAssignment(device=device, driver=driver, start=start, end=end), UTC)
    return org_a, [van7, van8]


def by_driver(report) -> dict[str, dict]:
    (table,) = report.tables
    return {row["driver"]: row for row in table.rows}


def test_each_driver_gets_the_figures_of_the_time_they_drove(shared):
    org, vans = shared
    rows = by_driver(build_report("summary", org, vans, DAY_START, DAY_END, options={"by": "driver"}))
    assert list(rows) == ["Anna", "Mikko", "Ville", "Unassigned"]
    figures = {name: (round(r["distance"]), r["driving"], r["idle"], r["trips"]) for name, r in rows.items()}
    assert figures == {
        "Anna": (6000, 600, 0, 1),  # trip 1 of Van 7 up to 08:10: its trip, counted where it began
        "Ville": (6000, 600, 600, 0),  # the rest of that trip and the idling after it
        "Mikko": (27000, 3000, 600, 2),  # Van 8's trip 1 and idling, then Van 7's trip 2
        "Unassigned": (15000, 1800, 0, 1),  # Van 8's trip 2
    }
    assert rows["Mikko"]["devices"] == "Van 7, Van 8" and rows["Unassigned"]["devices"] == "Van 8"
    assert rows["Anna"]["first_start"] == at(8) and rows["Anna"]["last_stop"] is None
    assert rows["Ville"]["first_start"] is None and rows["Ville"]["last_stop"] == at(8, 20)
    assert rows["Mikko"]["max_speed"] == 54.0 and rows["Unassigned"]["max_speed"] == 30.0


def test_the_drivers_rows_add_up_to_the_summary_per_vehicle(shared):
    org, vans = shared
    per_driver = build_report("summary", org, vans, DAY_START, DAY_END, options={"by": "driver"})
    per_vehicle = build_report("summary", org, vans, DAY_START, DAY_END)
    (drivers_table,), (vehicles_table,) = per_driver.tables, per_vehicle.tables
    for key in FIGURES:
        assert sum(r[key] for r in drivers_table.rows) == pytest.approx(vehicles_table.totals[key]), key
        assert drivers_table.totals[key] == pytest.approx(vehicles_table.totals[key]), key
    day = (DAY_END - DAY_START).total_seconds()
    assert sum(r["driving"] + r["idle"] + r["stopped"] + r["no_data"] for r in drivers_table.rows) == 2 * day
    assert drivers_table.totals["driver"] == "Total"


def test_per_driver_per_day(shared):
    org, vans = shared
    end = DAY_END + timedelta(days=1)
    days, whole = build_report("summary", org, vans, DAY_START, end, options={"by": "driver", "split": "day"}).tables
    mikko = [r for r in days.rows if r["driver"] == "Mikko"]
    assert [(r["day"].isoformat(), round(r["distance"])) for r in mikko] == [("2026-11-20", 27000), ("2026-11-21", 0)]
    assert mikko[1]["no_data"] == 86400  # his open assignment of Van 7 runs on through a day without fixes
    assert sum(r["distance"] for r in days.rows) == pytest.approx(sum(r["distance"] for r in whole.rows))


def test_without_assignments_the_fixed_driver_or_unassigned_takes_the_vehicles_whole_range(org_a):
    ville = Driver.objects.create(organization=org_a, name="Ville")
    van = make_device(org_a, "Van 7", driver=ville)
    drive_day(van)
    other = make_device(org_a, "Van 8")
    rows = by_driver(build_report("summary", org_a, [van, other], DAY_START, DAY_END, options={"by": "driver"}))
    assert list(rows) == ["Ville", "Unassigned"]
    assert round(rows["Ville"]["distance"]) == 27000 and rows["Ville"]["trips"] == 2
    assert rows["Unassigned"]["distance"] == 0 and rows["Unassigned"]["devices"] == "Van 8"


def test_another_organisations_drivers_never_appear(shared, org_b):
    org, vans = shared
    theirs = make_device(org_b, "Their van")
    stranger = Driver.objects.create(organization=org_b, name="Stranger")
    DriverAssignment.objects.create(organization=org_b, device=theirs, driver=stranger, start=at(6))
    drive_day(theirs)
    rows = by_driver(build_report("summary", org, vans, DAY_START, DAY_END, options={"by": "driver"}))
    assert "Stranger" not in rows and "Their van" not in " ".join(r["devices"] for r in rows.values())


def test_the_exports_carry_the_driver_rows(shared):
    org, vans = shared
    report = build_report("summary", org, vans, DAY_START, DAY_END, options={"by": "driver"})
    lines = "".join(exports.to_csv(report, Units.for_org(org))).splitlines()
    assert lines[0].startswith("Driver,Vehicles,Distance")
    assert [line.split(",")[0] for line in lines[1:]] == ["Anna", "Mikko", "Ville", "Unassigned"]
    assert exports.to_xlsx(report, Units.for_org(org))[:2] == b"PK"


def test_the_page_and_the_json_api_group_by_driver(shared, client, django_user_model):
    org, vans = shared
    user = make_user(django_user_model, "viewer", org, staff=False)
    client.force_login(user)
    query = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20", "by": "driver"}
    page = client.get(reverse("reports:report", args=["summary"]), query)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Summary per driver" in html and "Unassigned" in html and 'value="driver" selected' in html
    _, key = ApiToken.issue(user, "reports", "read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = api.get("/api/v1/reports/summary/", {"from": "2026-11-20", "to": "2026-11-20", "by": "driver"}).json()
    (table,) = body["tables"]
    assert [row["driver"] for row in table["rows"]] == ["Anna", "Mikko", "Ville", "Unassigned"]
    assert round(table["rows"][1]["distance"]) == 27000 and table["totals"]["trips"] == 4
    refused = api.get("/api/v1/reports/summary/", {"from": "2026-11-20", "to": "2026-11-20", "by": "person"})
    assert refused.status_code == 400 and "by" in refused.json()["error"]["fields"]
