"""Charts: min/max downsampling, the chart data JSON (one device, a fleet's days), the page, scoping."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.cache import cache as default_cache
from django.urls import reverse

from fleet.reports import charts
from fleet.tracking.models import DeviceGroup, Position
from tests.conftest import make_device
from tests.reports.conftest import drive

DAY = datetime(2026, 11, 20, tzinfo=UTC)  # local 2026-11-20 in UTC; long over (the machine clock is later)
URL = "/reports/charts/data.json"


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r4-charts"}}
    default_cache.clear()


def custom(day: datetime, days: int = 1, **extra) -> dict:
    last = day + timedelta(days=days - 1)
    return {"preset": "custom", "start": f"{day:%Y-%m-%d}", "end": f"{last:%Y-%m-%d}", **extra}


# ------------------------------------------------------------------------------------------ downsampling


def test_downsampling_keeps_the_minimum_and_the_maximum_of_a_one_fix_spike():
    t = np.arange(100_000, dtype=float)
    v = 50 + np.sin(t / 300)  # between 49 and 51
    v[31_337], v[77_001] = 190.0, -5.0
    dt, dv = charts.minmax_downsample(t, v, 4000)
    assert len(dt) <= 4000
    assert np.all(np.diff(dt) > 0)  # time order, no duplicates
    assert dv.max() == 190.0 and dt[dv.argmax()] == 31_337
    assert dv.min() == -5.0 and dt[dv.argmin()] == 77_001
    # Every kept point is a real sample.
    assert np.array_equal(v[dt.astype(int)], dv)


def test_downsampling_leaves_short_series_alone_and_drops_unknown_values():
    t = np.array([0.0, 1, 2, 3])
    v = np.array([1.0, np.nan, 3, 4])
    dt, dv = charts.minmax_downsample(t, v, 4000)
    assert dt.tolist() == [0, 2, 3] and dv.tolist() == [1, 3, 4]


def test_each_bucket_keeps_its_lowest_and_highest_fix_in_time_order():
    # 12 fixes into 4 points = 2 buckets of 6 fixes (time buckets [0, 6) and [6, 11]).
    t = np.arange(12, dtype=float)
    v = np.array([5, 1, 9, 5, 5, 5, 7, 7, 2, 8, 8, 3], dtype=float)
    dt, dv = charts.minmax_downsample(t, v, 4)
    assert dt.tolist() == [1, 2, 8, 10]  # min 1 @1, max 9 @2; min 2 @8, max 8: the later of @9 and @10
    assert dv.tolist() == [1, 9, 2, 8]


# ------------------------------------------------------------------------------------------ device series


def test_device_series_are_columnar_in_the_organisations_units_and_unreported_ones_are_omitted(client, org_a, user_a):
    org_a.speed_unit, org_a.volume_unit = "mph", "gal"
    org_a.save()
    van = make_device(org_a, "Van 1")
    for minute, (speed, fuel, temps) in enumerate([(80.4672, 37.85411784, [4.5, -18.0]), (0.0, 18.92705892, [5.0])]):
        Position.objects.create(
            device=van,
            fix_time=DAY + timedelta(hours=8, minutes=minute),
            latitude=60.0,
            longitude=25.0,
            speed=speed,
            attributes={"fuel_l": fuel, "temperatures": temps, "ignition": True},
        )
    client.force_login(user_a)

    response = client.get(URL, custom(DAY, device=van.pk))

    assert response.status_code == 200
    data = response.json()
    assert data["mode"] == "device" and data["positions"] == 2 and data["timezone"] == org_a.timezone
    series = {s["key"]: s for s in data["series"]}
    assert list(series) == ["speed", "fuel", "temperature1", "temperature2"]
    t0 = (DAY + timedelta(hours=8)).timestamp()
    assert series["speed"]["t"] == [t0, t0 + 60]
    assert series["speed"]["v"] == [50.0, 0.0] and series["speed"]["unit"] == "mph"  # 80.4672 km/h = 50 mph
    assert series["fuel"]["v"] == [10.0, 5.0] and series["fuel"]["unit"] == "gal"  # US gallons
    assert series["temperature1"]["v"] == [4.5, 5.0] and series["temperature1"]["group"] == "temperature"
    assert series["temperature2"]["t"] == [t0] and series["temperature2"]["v"] == [-18.0]  # one reading only
    omitted = {o["key"]: o["note"] for o in data["omitted"]}
    assert omitted == {
        "altitude": "Van 1 does not report altitude in this range.",
        "battery": "Van 1 does not report battery in this range.",
    }


def test_a_spike_survives_the_server_side_downsampling(client, org_a, user_a):
    van = make_device(org_a)
    n = 9_000  # one fix every 8 s for 20 hours: more than MAX_POINTS
    speeds = np.full(n, 60.0)
    speeds[4321], speeds[6000] = 187.0, 3.0
    Position.objects.bulk_create(
        Position(device=van, fix_time=DAY + timedelta(seconds=8 * i), latitude=60, longitude=25, speed=float(s))
        for i, s in enumerate(speeds)
    )
    client.force_login(user_a)

    data = client.get(URL, custom(DAY, device=van.pk)).json()

    (speed,) = [s for s in data["series"] if s["key"] == "speed"]
    assert speed["points"] == n and len(speed["t"]) <= charts.MAX_POINTS
    spike = (DAY + timedelta(seconds=8 * 4321)).timestamp()
    assert max(speed["v"]) == 187.0 and speed["t"][speed["v"].index(187.0)] == spike
    assert min(speed["v"]) == 3.0
    assert {o["key"] for o in data["omitted"]} == {"altitude", "fuel", "battery", "temperature"}


def test_a_device_without_positions_gets_notes_not_series(client, org_a, user_a):
    van = make_device(org_a, "Quiet van")
    client.force_login(user_a)
    data = client.get(URL, custom(DAY, device=van.pk)).json()
    assert data["series"] == [] and data["positions"] == 0
    assert {o["note"] for o in data["omitted"]} == {"Quiet van has no positions in this range."}


# --------------------------------------------------------------------------------------------- fleet


def test_fleet_days_give_distance_and_the_driving_idle_stopped_shares(client, org_a, user_a):
    org_a.timezone = "UTC"
    org_a.save()
    group = DeviceGroup.objects.create(organization=org_a, name="Vans")
    one, two = make_device(org_a, "Van 1", group=group), make_device(org_a, "Van 2", group=group)
    make_device(org_a, "Truck (not in the group)")
    drive(one, DAY + timedelta(hours=8), 30)  # day 1: 18 km, 1800 s driving
    drive(two, DAY + timedelta(days=1, hours=9), 60, idle_after_min=30)  # day 2: 36 km, 3600 s driving, 1800 s idle
    client.force_login(user_a)

    data = client.get(URL, custom(DAY, 2, group=group.pk)).json()

    assert data["mode"] == "fleet" and data["devices"] == 2 and data["distance_unit"] == "km"
    assert data["days"] == ["2026-11-20", "2026-11-21"]
    assert data["distance"] == [18.0, 36.0]
    # Shares of 2 vehicles x 86,400 s = 172,800 s per day.
    assert data["driving"] == [round(100 * 1800 / 172_800, 2), round(100 * 3600 / 172_800, 2)]  # 1.04, 2.08
    assert data["idle"] == [0.0, round(100 * 1800 / 172_800, 2)]  # 1.04
    # Parked 10 min before and 50 min after (Van 1), 10 min before and 60 min after idling (Van 2); the
    # rest of each day is no data, not stopped.
    assert data["stopped"] == [round(100 * 3600 / 172_800, 2), round(100 * 3600 / 172_800, 2)]
    assert data["no_data"] == [round(100 * (172_800 - 5400) / 172_800, 2), round(100 * (172_800 - 9000) / 172_800, 2)]


def test_the_charts_page_shows_a_fleets_days_as_a_table_and_a_devices_data_url(client, org_a, user_a):
    org_a.timezone = "UTC"
    org_a.save()
    van = make_device(org_a, "Van 1")
    drive(van, DAY + timedelta(hours=8), 30)
    client.force_login(user_a)

    fleet = client.get(reverse("reports:charts"), custom(DAY))
    assert fleet.status_code == 200
    html = fleet.content.decode()
    assert 'id="fleet-data"' in html and "<td>2026-11-20</td>" in html
    assert '<td class="num">18.0</td>' in html and '<td class="num">2.1 %</td>' in html  # 1800 / 86,400 s
    assert "uPlot.iife.min.js" in html

    device = client.get(reverse("reports:charts"), custom(DAY, device=van.pk))
    assert device.status_code == 200
    assert f'data-url="{URL}?preset=custom&amp;start=2026-11-20&amp;end=2026-11-20&amp;device={van.pk}"' in (
        device.content.decode()
    )

    first_visit = client.get(reverse("reports:charts"))
    assert first_visit.status_code == 200 and "data-url" not in first_visit.content.decode()


# ------------------------------------------------------------------------------------ scoping, bad input


def test_another_organisations_device_is_a_404(client, org_a, user_a, org_b):
    theirs = make_device(org_b, "Their van")
    client.force_login(user_a)
    assert client.get(URL, custom(DAY, device=theirs.pk)).status_code == 404
    assert client.get(URL, custom(DAY, organization=org_b.pk)).status_code == 404
    mine = client.get(URL, custom(DAY))
    assert mine.status_code == 200 and mine.json()["devices"] == 0  # org B's van is not among "all devices"


@pytest.mark.parametrize(
    "query, field",
    [
        ({"preset": "someday"}, "preset"),
        ({"preset": "custom", "start": "2026-11-20"}, "end"),
        ({"preset": "custom", "start": "2026-11-22", "end": "2026-11-20"}, "end"),
        ({"preset": "custom", "start": "2026-02-30", "end": "2026-03-01"}, "start"),
        ({"preset": "custom", "start": "2026-01-01", "end": "2026-12-31"}, "end"),  # more than 92 days
    ],
)
def test_bad_input_is_a_400_with_the_fields_error(client, user_a, query, field):
    client.force_login(user_a)
    response = client.get(URL, query)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    page = client.get(reverse("reports:charts"), query)
    assert page.status_code == 400 and 'class="error"' in page.content.decode()


def test_charts_need_a_login(client):
    response = client.get(URL, custom(DAY))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_too_many_positions_for_one_devices_chart_is_a_400_with_the_reason(client, org_a, user_a, monkeypatch):
    from fleet.reports.views import charts as views_charts

    van = make_device(org_a, "Van 1")
    for minute in range(3):
        Position.objects.create(device=van, fix_time=DAY + timedelta(minutes=minute), latitude=60, longitude=25)
    client.force_login(user_a)
    monkeypatch.setattr(views_charts, "MAX_CHART_POSITIONS", 2)
    response = client.get(URL, custom(DAY, device=van.pk))
    assert response.status_code == 400
    assert response.json()["errors"]["__all__"][0]["message"].startswith("Van 1 has more than 2 positions")


# ------------------------------------------------------------------------- 31 days: cache, background job

MONTH_END = DAY + timedelta(days=10)  # 2026-11-30
MONTH = custom(MONTH_END - timedelta(days=30), 31)  # 2026-10-31 .. 2026-11-30, UTC


@pytest.fixture
def vans(org_a):
    """A group of three vans over a month in UTC: Van 1 drives on the 20th, Van 2 on the 21st, Van 3 never."""
    org_a.timezone = "UTC"
    org_a.save()
    group = DeviceGroup.objects.create(organization=org_a, name="Vans")
    one, two = make_device(org_a, "Van 1", group=group), make_device(org_a, "Van 2", group=group)
    make_device(org_a, "Van 3", group=group)
    drive(one, DAY + timedelta(hours=8), 30)
    drive(two, DAY + timedelta(days=1, hours=9), 60, idle_after_min=30)
    return group


def run_job(pk: int, capture) -> None:
    """The job's task, as a worker runs it (its cache entries are written when its transaction commits)."""
    from fleet.reports import tasks

    with capture(execute=True):
        tasks.run_report_job.run(pk)


def test_a_groups_month_goes_to_a_job_cold_then_is_drawn_from_the_job_and_inline_once_cached(
    client, user_a, vans, django_capture_on_commit_callbacks
):
    from fleet.reports.models import ReportJob

    client.force_login(user_a)
    query = MONTH | {"group": vans.pk}  # 3 vans x 31 days = 93 device-days, none cached: more than 62 to compute

    page = client.get(reverse("reports:charts"), query)
    job = ReportJob.objects.get()
    assert page.status_code == 302 and page["Location"] == f"/reports/jobs/{job.pk}/"
    assert job.kind == "charts" and job.total == 3
    data = client.get(URL, query)  # the same chart asked as JSON gets the same job
    assert data.status_code == 202 and data.json() == {
        "mode": "job",
        "job": f"/reports/jobs/{job.pk}/",
        "status": f"/reports/jobs/{job.pk}.json",
    }
    assert ReportJob.objects.count() == 1

    run_job(job.pk, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == ReportJob.Status.DONE and job.done == 3
    done = client.get(f"/reports/jobs/{job.pk}/")
    assert done.status_code == 302 and done["Location"].startswith("/reports/charts/?")
    assert f"job={job.pk}" in done["Location"] and f"group={vans.pk}" in done["Location"]
    from_job = client.get(done["Location"])
    assert from_job.status_code == 200
    rows = from_job.context["fleet_rows"]
    assert len(rows) == 31 and rows[0]["days"] == "2026-10-31" and rows[-1]["days"] == "2026-11-30"

    # The job filled the closed-day cache: the same month is now cheap, computed in the request.
    inline = client.get(URL, query)
    assert inline.status_code == 200 and ReportJob.objects.count() == 1
    fleet = inline.json()
    assert fleet["days"] == [r["days"] for r in rows]
    assert fleet["distance"] == [r["distance"] for r in rows] and fleet["no_data"] == [r["no_data"] for r in rows]
    by_day = dict(
        zip(fleet["days"], zip(fleet["distance"], fleet["driving"], fleet["no_data"], strict=True), strict=True)
    )
    assert by_day["2026-11-20"][:2] == (18.0, round(100 * 1800 / (3 * 86_400), 2))
    assert by_day["2026-11-21"][0] == 36.0
    assert by_day["2026-11-01"] == (0.0, 0.0, 100.0)  # nobody reported: no data, not stopped


def test_a_finished_job_of_another_query_or_organisation_is_not_shown(
    client, user_a, vans, org_b, django_capture_on_commit_callbacks
):
    from fleet.reports import jobs
    from fleet.reports.models import ReportJob

    job = jobs.start(user_a, "charts", MONTH | {"group": vans.pk})
    run_job(job.pk, django_capture_on_commit_callbacks)
    client.force_login(user_a)
    other = custom(DAY, 2) | {"job": job.pk}  # another range: computed for itself (cheap), the job ignored
    response = client.get(reverse("reports:charts"), other)
    assert response.status_code == 200 and len(response.context["fleet_rows"]) == 2
    theirs = ReportJob.objects.create(
        organization=org_b, user=None, kind="charts", params=job.params, result=job.result
    )
    theirs.status = ReportJob.Status.DONE
    theirs.save()
    response = client.get(reverse("reports:charts"), MONTH | {"group": vans.pk, "job": theirs.pk})
    assert response.status_code == 200 and len(response.context["fleet_rows"]) == 31  # ours, from the cache


def test_a_days_share_without_any_data_reads_no_data(client, org_a, user_a):
    org_a.timezone = "UTC"
    org_a.save()
    make_device(org_a, "Silent van")  # never reported: no summary row at all
    van = make_device(org_a, "Van 1")
    drive(van, DAY + timedelta(hours=8), 30)
    client.force_login(user_a)

    data = client.get(URL, custom(DAY - timedelta(days=1), 2)).json()

    assert data["days"] == ["2026-11-19", "2026-11-20"]
    assert data["stopped"][0] == 0.0 and data["no_data"][0] == 100.0
    # The 20th: Van 1 parked 10 + 50 minutes and drove 30, the silent van nothing: the rest is no data.
    assert data["stopped"][1] == round(100 * 3600 / 172_800, 2)
    assert data["no_data"][1] == round(100 * (172_800 - 5400) / 172_800, 2)
    page = client.get(reverse("reports:charts"), custom(DAY - timedelta(days=1), 2)).content.decode()
    assert '<td>2026-11-19</td><td class="num">0.0</td><td class="num">0.0 %</td><td class="num">0.0 %</td>' in page
    assert '<td class="num">0.0 %</td><td class="num">100.0 %</td></tr>' in page


def test_too_many_chart_jobs_is_a_429_with_the_reason(client, user_a, vans, settings):
    settings.REPORT_JOBS_PER_USER = 0
    client.force_login(user_a)
    page = client.get(reverse("reports:charts"), MONTH | {"group": vans.pk})
    assert page.status_code == 429 and page["Retry-After"] == "60"
    assert "reports being computed in the background" in page.content.decode()
    data = client.get(URL, MONTH | {"group": vans.pk})
    assert data.status_code == 429 and "background" in data.json()["errors"]["__all__"][0]["message"]


def test_today_is_computed_in_the_request_when_its_positions_are_few_however_many_devices(
    client, user_a, vans, monkeypatch
):
    monkeypatch.setattr(charts.cache, "MAX_INLINE_DEVICE_DAYS", 0)  # any closed day not cached: a job
    client.force_login(user_a)
    today = client.get(URL, {"preset": "today", "group": vans.pk})
    assert today.status_code == 200 and today.json()["devices"] == 3  # open days are bounded by their positions
    assert client.get(URL, custom(DAY) | {"group": vans.pk}).status_code == 202  # one closed day, not cached

    monkeypatch.setattr(charts.cache, "MAX_INLINE_DEVICE_DAYS", 62)
    monkeypatch.setattr(charts.cache, "MAX_INLINE_POSITIONS", 10)  # the 21st holds 70 positions of Van 2
    assert client.get(URL, custom(DAY + timedelta(days=1)) | {"group": vans.pk}).status_code == 202
