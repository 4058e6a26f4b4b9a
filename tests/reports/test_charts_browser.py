"""Charts and report jobs in Chromium: uPlot draws a device's series with synced cursors and a fleet's days;
a background report's page follows a real Celery worker to 100 % and then offers its downloads."""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.test import override_settings

from fleet.celery import app as celery_app
from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.reports import charts, jobs
from fleet.reports.models import ReportJob
from fleet.tracking.models import Position
from tests.conftest import make_device, make_org, make_user
from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
DAY = datetime(2026, 11, 20, tzinfo=UTC)
QUEUE = f"fleet-test-reports-{uuid.uuid4().hex[:10]}"
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r4-browser"}}


def drive(van, start: datetime, minutes: int, temps: bool = False) -> None:
    """Parked 10 min before, ``minutes`` at 36-54 km/h climbing, fuel falling, then parked for half an hour."""
    fixes, lat = [], 60.0
    for m in range(-10, minutes + 30):
        moving = 0 <= m < minutes
        speed = 36.0 + 18 * (m % 3 == 0) if moving else 0.0
        attrs = {"ignition": moving, "fuel_l": 60 - 0.1 * max(m, 0)}
        if temps:
            attrs["temperatures"] = [4.0 + m / 100, -18.0 - m / 100]
        fixes.append((start + timedelta(minutes=m), lat, speed, 10.0 + max(m, 0), attrs))
        lat += speed / 60 * 1000 / M_PER_DEG
    Position.objects.bulk_create(
        Position(device=van, fix_time=ts, latitude=la, longitude=25.0, speed=v, altitude=alt, attributes=a)
        for ts, la, v, alt, a in fixes
    )


# The live server forks in setUpClass, after these settings apply: its report jobs go to a queue only this
# test's worker consumes.
@override_settings(CACHES=LOCMEM, REPORTS_QUEUE=QUEUE)
class ChartsAndJobsTests(BrowserTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._saved = jobs.MAX_DEVICE_DAYS, charts.cache.MAX_INLINE_DEVICE_DAYS
        jobs.MAX_DEVICE_DAYS = 10  # before the fork too: a month of two devices is a background report
        charts.cache.MAX_INLINE_DEVICE_DAYS = 10  # and a month's chart of them, uncached, a background chart
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        jobs.MAX_DEVICE_DAYS, charts.cache.MAX_INLINE_DEVICE_DAYS = cls._saved

    def setUp(self) -> None:
        super().setUp()
        self.org = make_org("a")
        self.org.timezone = "UTC"
        self.org.save()
        self.user = make_user(get_user_model(), "alice", self.org)
        self.van = make_device(self.org, "Van 1")
        self.truck = make_device(self.org, "Truck 2")
        drive(self.van, DAY + timedelta(hours=8), 40, temps=True)
        drive(self.truck, DAY + timedelta(hours=9), 25)
        self.log_in()

    def charts(self, query: str) -> None:
        self.page.goto(f"{self.live_server_url}/reports/charts/?{query}", wait_until="domcontentloaded")
        self.page.wait_for_function("() => window.fleetCharts && fleetCharts.ready")
        assert self.page.evaluate("fleetCharts.error") is None

    def test_a_devices_series_are_drawn_by_uplot_with_synced_cursors(self):
        page = self.page
        self.charts(f"preset=custom&start=2026-11-20&end=2026-11-20&device={self.van.pk}")

        titles = page.locator("#charts .chart-card h2").all_inner_texts()
        assert [t.split(" (")[0] for t in titles] == ["Speed", "Altitude", "Fuel", "Temperatures"]
        assert page.locator("#charts .uplot canvas").count() == 4
        assert page.evaluate("[...document.querySelectorAll('#charts canvas')].every(c => c.width > 300)")
        assert page.inner_text("#chart-notes") == "Van 1 does not report battery in this range."
        assert page.evaluate("fleetCharts.omitted") == ["battery"]
        # Temperatures: both sensors in one chart.
        assert page.evaluate("fleetCharts.charts[3].series.map(s => s.label)") == [
            "Time",
            "Temperature 1",
            "Temperature 2",
        ]

        # Hovering the speed chart moves the cursor of the others to the same instant.
        over = page.locator("#charts .chart-card").nth(0).locator(".u-over")
        box = over.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.36, box["y"] + box["height"] / 2)
        page.wait_for_function("() => fleetCharts.charts.every(u => u.cursor.idx != null)")
        times = page.evaluate("fleetCharts.charts.map(u => u.data[0][u.cursor.idx])")
        # The fixes are a minute apart; each chart's nearest point is within a minute of the speed chart's.
        assert max(times) - min(times) <= 60
        assert DAY.timestamp() + 8 * 3600 - 600 <= times[0] <= DAY.timestamp() + 9 * 3600

    def test_a_fleet_gets_distance_and_utilisation_bars_per_day(self):
        page = self.page
        self.charts("preset=custom&start=2026-11-19&end=2026-11-21")
        titles = page.locator("#charts .chart-card h2").all_inner_texts()
        assert [t.split(" (")[0] for t in titles] == ["Distance per day", "Utilisation per day"]
        assert page.locator("#charts .uplot canvas").count() == 2
        assert page.evaluate("fleetCharts.charts[0].data[0]") == [0, 1, 2]
        assert page.evaluate("fleetCharts.charts[0].data[1][0]") == 0  # nobody drove on the 19th
        assert page.evaluate("fleetCharts.charts[0].data[1][1]") > 0
        assert page.inner_text(".fleet-days tbody tr:nth-child(2) td:first-child") == "2026-11-20"

    def test_a_background_reports_page_follows_the_worker_to_100_percent_and_offers_the_downloads(self):
        page = self.page
        statuses: list[dict] = []

        def record(route) -> None:  # every status poll's answer, read before the page can navigate away
            response = route.fetch()
            statuses.append(response.json())
            route.fulfill(response=response)

        page.route("**/reports/jobs/*.json", record)
        # 30 days x 2 devices = 60 device-days, over this class's limit of 10: the view starts a job.
        page.goto(
            f"{self.live_server_url}/reports/summary/?preset=custom&start=2026-11-01&end=2026-11-30&split=day",
            wait_until="domcontentloaded",
        )
        job = ReportJob.objects.get()
        assert page.url.endswith(f"/reports/jobs/{job.pk}/")
        assert page.inner_text("#job-percent") == "0 %"  # no worker yet: queued
        page.wait_for_function("() => window.fleetJob && fleetJob.status === 'queued'")

        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[QUEUE], shutdown_timeout=30):
            page.wait_for_selector("#job-downloads", timeout=60_000)

        assert page.inner_text("#job-percent") == "100 %"
        assert page.evaluate("document.getElementById('job-bar').value") == 1
        links = page.locator("#job-downloads a").all_inner_texts()
        assert links == ["CSV: Per day", "CSV: Summary", "Excel"]
        assert statuses and statuses[-1]["finished"] and statuses[-1]["percent"] == 100
        assert "Truck 2" in page.inner_text("#table-summary")
        with page.expect_download() as download:
            page.locator("#job-downloads a", has_text="Excel").click()
        assert download.value.suggested_filename == f"summary_job{job.pk}_2026-11-01_2026-11-30.xlsx"

    def test_a_month_of_the_fleet_is_charted_by_a_worker_then_drawn_with_every_day(self):
        page = self.page
        # 31 days x 2 devices, none cached: more than this class's 10 closed device-days, so a background job.
        page.goto(
            f"{self.live_server_url}/reports/charts/?preset=custom&start=2026-11-01&end=2026-12-01",
            wait_until="domcontentloaded",
        )
        job = ReportJob.objects.get()
        assert job.kind == "charts" and page.url.endswith(f"/reports/jobs/{job.pk}/")
        assert page.inner_text("h1").startswith("Charts report")
        page.wait_for_function("() => window.fleetJob && fleetJob.status === 'queued'")

        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[QUEUE], shutdown_timeout=30):
            page.wait_for_url(lambda url: "/reports/charts/?" in url and f"job={job.pk}" in url, timeout=60_000)
        page.wait_for_function("() => window.fleetCharts && fleetCharts.ready")
        assert page.evaluate("fleetCharts.error") is None
        assert page.evaluate("fleetCharts.charts[0].data[0].length") == 31
        rows = page.locator(".fleet-days tbody tr")
        assert rows.count() == 31 and rows.nth(19).locator("td").first.inner_text() == "2026-11-20"
        assert float(rows.nth(19).locator("td").nth(1).inner_text()) > 0  # both drove on the 20th
        # The other days: nobody reported, so no data, not stopped.
        assert rows.nth(0).locator("td").nth(4).inner_text() == "0.0 %"
        assert rows.nth(0).locator("td").nth(5).inner_text() == "100.0 %"
