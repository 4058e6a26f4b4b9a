"""The utilisation overview, checked by hand on a fleet of three vehicles.

Organisation in UTC, "now" 2026-11-27 08:00, so yesterday is 2026-11-26 and the seven days are 11-20 .. 11-26.

* Van A: yesterday 08:00 a 30-min drive at 36 km/h (18 km), then 20 min idling (engine on, standing);
  on 11-22 a 60-min drive (36 km).
* Van B: on 11-23 a 20-min drive (12 km). Nothing yesterday.
* Van C: its only fix is from 11-10: no data in either period.

Seven days: 66 km; driving 110 min = 6,600 s; idle 1,200 s; active 2 / 3; moved 2 / 3;
utilisation (time) 6,600 / (7 x 86,400 x 3) = 0.364 %; idle share 1,200 / 7,800 = 15.4 %.
Yesterday: 18 km; driving 1,800 s; idle 1,200 s; active 1 / 3; utilisation 1,800 / (86,400 x 3) = 0.694 %;
idle share 1,200 / 3,000 = 40 %.
"""

from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache as default_cache
from django.urls import reverse

from fleet.reports import utilisation
from fleet.reports.utilisation import Figures, Period, VehicleFigures
from fleet.tracking.models import Position
from tests.conftest import make_device
from tests.reports.conftest import drive

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r4-util"}}
    default_cache.clear()


@pytest.fixture
def fleet(org_a, monkeypatch):
    monkeypatch.setattr(utilisation, "_now", lambda: NOW)
    org_a.timezone = "UTC"
    org_a.save()
    a, b, c = make_device(org_a, "Van A"), make_device(org_a, "Van B"), make_device(org_a, "Van C")
    drive(a, datetime(2026, 11, 26, 8, 0, tzinfo=UTC), 30, idle_after_min=20)
    drive(a, datetime(2026, 11, 22, 14, 0, tzinfo=UTC), 60)
    drive(b, datetime(2026, 11, 23, 10, 0, tzinfo=UTC), 20)
    Position.objects.create(device=c, fix_time=datetime(2026, 11, 10, 12, 0, tzinfo=UTC), latitude=60, longitude=25)
    return a, b, c


def test_the_figures_of_yesterday_and_the_last_seven_days(org_a, fleet):
    a, b, c = fleet
    day, week = utilisation.overview(org_a, [a, b, c], now=NOW)

    assert (day.period.first, day.period.last) == (date(2026, 11, 26), date(2026, 11, 26))
    assert (week.period.first, week.period.last) == (date(2026, 11, 20), date(2026, 11, 26))
    assert day.period.start == datetime(2026, 11, 26, tzinfo=UTC) and day.period.end == NOW.replace(hour=0)

    assert week.distance_m == pytest.approx(66_000)
    assert (week.driving_s, week.idle_s) == (6600, 1200)
    assert (week.active, week.moved, week.total) == (2, 2, 3)
    assert week.utilisation_time == pytest.approx(100 * 6600 / (7 * 86400 * 3))  # 0.364 %
    assert week.utilisation_vehicles == pytest.approx(200 / 3)
    assert week.idle_share == pytest.approx(100 * 1200 / 7800)  # 15.4 %
    assert [v.device.name for v in week.top] == ["Van A", "Van B"]
    assert [round(v.distance_m) for v in week.top] == [54_000, 12_000]
    assert week.bottom == []  # both active vans are in the top five already
    assert [v.device.name for v in week.no_data] == ["Van C"]

    assert day.distance_m == pytest.approx(18_000)
    assert (day.driving_s, day.idle_s) == (1800, 1200)
    assert (day.active, day.moved) == (1, 1)
    assert day.utilisation_time == pytest.approx(100 * 1800 / (86400 * 3))  # 0.694 %
    assert day.idle_share == pytest.approx(40.0)
    assert [v.device.name for v in day.no_data] == ["Van B", "Van C"]
    # Van C never reported, Van B not yesterday: their time is no data (the rest of it too, between fixes)
    assert 100 / 3 < week.no_data_share <= 100 and 200 / 3 < day.no_data_share <= 100


def test_top_and_bottom_five_split_the_active_vehicles_by_distance():
    class Dev:
        def __init__(self, name):
            self.name, self.pk = name, name

    period = Period("week", "Last 7 days", date(2026, 11, 20), date(2026, 11, 26), NOW, NOW)
    km = [5, 80, 0, 12, 40, 33, 7, 61, 19, 2, 0]  # the two zeros: one stood all week, one has no data
    vehicles = [VehicleFigures(Dev(f"V{i:02d}"), distance_m=k * 1000, has_data=True) for i, k in enumerate(km)]
    vehicles[10].has_data = False
    fig = Figures(period, vehicles)
    assert [v.device.name for v in fig.top] == ["V01", "V07", "V04", "V05", "V08"]  # 80, 61, 40, 33, 19
    assert [v.device.name for v in fig.bottom] == ["V02", "V09", "V00", "V06", "V03"]  # 0, 2, 5, 7, 12
    assert [v.device.name for v in fig.no_data] == ["V10"]
    assert fig.idle_share is None  # no engine time at all: no share, not a division by zero


def test_the_page_shows_the_figures_in_the_organisations_units_each_linked_to_its_report(client, org_a, user_a, fleet):
    org_a.distance_unit = "mi"
    org_a.save()
    client.force_login(user_a)

    response = client.get(reverse("reports:utilisation"))

    assert response.status_code == 200
    html = response.content.decode()
    week = html[html.index('id="period-week"') :]
    day = html[html.index('id="period-yesterday"') : html.index('id="period-week"')]
    summary = reverse("reports:report", args=["summary"])
    week_link = f"{summary}?preset=custom&amp;start=2026-11-20&amp;end=2026-11-26"
    assert f'<dd><a href="{week_link}">41.0 mi</a></dd>' in week  # 66 km
    assert f'<dd><a href="{week_link}">1:50:00</a></dd>' in week  # driving 6,600 s
    assert "<dd><a" in week and ">0:20:00</a></dd>" in week  # idle
    assert f'<dd><a href="{week_link}">2 / 3</a></dd>' in week
    assert f'<dd><a href="{week_link}">0.4 %</a></dd>' in week
    assert ">66.7 % (2 / 3)</a></dd>" in week and ">15.4 %</a></dd>" in week
    a = fleet[0]
    assert f'href="{week_link}&amp;device={a.pk}">Van A</a> 33.6 mi' in week  # 54 km
    assert ">Van C</a></li>" in week
    assert f'<dd><a href="{summary}?preset=custom&amp;start=2026-11-26&amp;end=2026-11-26">11.2 mi</a></dd>' in day
    assert ">0.7 %</a></dd>" in day and ">40.0 %</a></dd>" in day and ">1 / 3</a></dd>" in day


def test_the_linked_summary_report_shows_the_same_distance(client, org_a, user_a, fleet):
    client.force_login(user_a)
    response = client.get(
        reverse("reports:report", args=["summary"]), {"preset": "custom", "start": "2026-11-20", "end": "2026-11-26"}
    )
    assert response.status_code == 200
    assert "66.00 km" in response.content.decode()


def test_another_organisation_is_a_404_and_its_vehicles_never_show(client, org_a, user_a, org_b, fleet):
    make_device(org_b, "Their van")
    client.force_login(user_a)
    assert client.get(reverse("reports:utilisation"), {"organization": org_b.pk}).status_code == 404
    assert client.get(reverse("reports:utilisation"), {"organization": "x"}).status_code == 400
    assert "Their van" not in client.get(reverse("reports:utilisation")).content.decode()


def test_a_vehicle_that_never_reported_is_all_no_data_not_stopped(org_a, monkeypatch):
    monkeypatch.setattr(utilisation, "_now", lambda: NOW)
    org_a.timezone = "UTC"
    org_a.save()
    silent = make_device(org_a, "Silent van")

    day, week = utilisation.overview(org_a, [silent], now=NOW)

    assert day.no_data_share == week.no_data_share == 100.0
    assert day.utilisation_time == week.utilisation_time == 0.0
    assert [v.device.name for v in week.no_data] == ["Silent van"]
