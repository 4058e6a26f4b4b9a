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


def test_too_much_to_chart_is_a_400_and_the_page_points_to_the_background_summary(client, org_a, user_a, monkeypatch):
    from fleet.reports import jobs
    from fleet.reports.views import charts as views_charts

    van = make_device(org_a, "Van 1")
    make_device(org_a, "Van 2")
    for minute in range(3):
        Position.objects.create(device=van, fix_time=DAY + timedelta(minutes=minute), latitude=60, longitude=25)
    client.force_login(user_a)
    monkeypatch.setattr(views_charts, "MAX_CHART_POSITIONS", 2)
    response = client.get(URL, custom(DAY, device=van.pk))
    assert response.status_code == 400
    assert response.json()["errors"]["__all__"][0]["message"].startswith("Van 1 has more than 2 positions")

    monkeypatch.setattr(jobs, "MAX_DEVICE_DAYS", 3)  # 2 devices x 2 days = 4
    assert client.get(URL, custom(DAY, 2)).status_code == 400
    page = client.get(reverse("reports:charts"), custom(DAY, 2)).content.decode()
    summary = reverse("reports:report", args=["summary"])
    assert f'<a href="{summary}?preset=custom&amp;start=2026-11-20&amp;end=2026-11-21&amp;split=day">' in page
