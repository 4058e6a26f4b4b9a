"""Stored XSS: script payloads in every vendor- or user-supplied string of an organisation stay inert text on
every page, in every tooltip and popup, and no page breaks the Content-Security-Policy (BrowserTestCase fails
a test on any violation)."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point, Polygon

from fleet.dispatch.models import Task
from fleet.geo.models import POI, Geofence
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.models import ReportJob
from fleet.tracking.models import Beacon, DeviceGroup, Driver, Event
from fleet.tracking.records import PositionRecord
from fleet.vendors.models import SyncRun
from tests.conftest import make_account, make_device, make_org, make_user
from tests.web.browser import BrowserTestCase, now, send_positions

pytestmark = pytest.mark.browser

PAYLOADS = ["<img src=x onerror=window.__xss=1>", "<script>window.__xss=1</script>", '"><svg onload=window.__xss=1>']
EVIL = "".join(PAYLOADS)  # 95 characters
SHORT = PAYLOADS[0]  # for the columns of 50 characters
A = (60.170, 24.950)  # the depot: parked, then a trip north to B
STEP = 300 / 111_195  # degrees of latitude in 300 m
B = (A[0] + 30 * STEP, A[1])


def hostile(label: str, payload: str = EVIL) -> str:
    return f"{label} {payload}"


class XssTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_hostile_world()
        self.log_in()

    # ---- data ----
    def make_hostile_world(self) -> None:
        """One organisation whose every vendor- or user-supplied string carries the payloads: a van parked at A,
        driving to B and parked there, with geofences, a POI, a task, an event, a beacon, a sync run and a job."""
        self.org = make_org("a")
        self.org.name, self.org.timezone = hostile("Org"), "UTC"
        self.org.save()
        self.user = make_user(get_user_model(), "alice", self.org)
        self.make_van()
        self.drive()
        self.make_places()
        self.make_task_and_event()
        self.make_sync_run()
        self.job = ReportJob.objects.create(organization=self.org, user=self.user, kind="trips", status="done")
        self.job.store_report(build_report("trips", self.org, [self.van], *self.range()))
        self.job.finished = now()
        self.job.save()

    def make_van(self) -> None:
        self.account = make_account(self.org, hostile("Acct", SHORT), kind="safectory", last_error=hostile("Error"))
        self.driver = Driver.objects.create(organization=self.org, name=hostile("Driver"))
        group = DeviceGroup.objects.create(organization=self.org, name=hostile("Group"))
        self.van = make_device(self.org, hostile("Van"), self.account, vendor_id="v1", group=group, driver=self.driver)
        self.van.plate, self.van.unique_id = hostile("P", SHORT), hostile("IMEI", SHORT)
        self.van.save()

    def make_places(self) -> None:
        """A polygon around A, a circle and a beacon away from the route, a POI 40 m from B."""
        about = hostile("About")
        box = Polygon.from_bbox((A[1] - 0.002, A[0] - 0.001, A[1] + 0.002, A[0] + 0.001))
        self.depot = Geofence.objects.create(
            organization=self.org, name=hostile("Depot"), description=about, geometry=box
        )
        self.circle = Geofence.objects.create(
            organization=self.org,
            name=hostile("Ring"),
            description=about,
            kind="circle",
            radius_m=150,
            geometry=Point(24.80, 60.10),
        )
        near_b = Point(B[1], B[0] + 40 / 111_195)
        self.shop = POI.objects.create(
            organization=self.org, name=hostile("Shop"), point=near_b, radius_m=100, address=hostile("Street")
        )
        Beacon.objects.create(
            organization=self.org,
            account=self.account,
            vendor_id="b1",
            name=hostile("Beacon"),
            uuid="ab" * 16,
            major=1,
            minor=2,
            point=Point(24.80, 60.18),
        )

    def make_task_and_event(self) -> None:
        start = now() - timedelta(minutes=60)
        self.task = Task.objects.create(
            organization=self.org,
            order_ref=hostile("ORD", SHORT),
            title=hostile("Deliver"),
            device=self.van,
            driver=self.driver,
            destination=Point(24.80, 60.14),
            destination_address=hostile("Dock"),
            planned_start=start,
            status=Task.Status.IN_PROGRESS,
        )
        Event.objects.create(
            organization=self.org,
            device=self.van,
            type=SHORT,
            time=start,
            geofence=self.depot,
            task=self.task,
            attributes={"note": EVIL},
        )

    def make_sync_run(self) -> None:
        """A partial run whose rejection reasons, examples, notes and errors are the vendor's words."""
        positions = {"fetched": 3, "created": 2, "rejected": 1, "reasons": {EVIL: 1}, "examples": {EVIL: EVIL}}
        devices = {"fetched": 1, "notes": {EVIL: 1}, "error": hostile("Failed")}
        counts = {"positions": positions, "devices": devices}
        SyncRun.objects.create(account=self.account, status="partial", counts=counts, error=hostile("Run"))

    def drive(self) -> None:
        """Parked at A 10 min, 30 min north at 18 km/h to B, parked at B until 2 minutes ago; every fix
        carries a hostile address."""
        t0, attrs = now() - timedelta(minutes=100), {"address": hostile("Address")}
        fixes = [(t0 + timedelta(minutes=m), A[0], 0.0, False) for m in range(0, 10, 2)]
        fixes += [(t0 + timedelta(minutes=10 + m), A[0] + m * STEP, 18.0, True) for m in range(31)]
        fixes += [(t0 + timedelta(minutes=m), B[0], 0.0, False) for m in range(42, 99, 4)]
        send_positions(
            self.van,
            *(
                PositionRecord("v1", t, lat, A[1], speed=v, course=0.0, attributes={**attrs, "ignition": on})
                for t, lat, v, on in fixes
            ),
        )

    def range(self) -> tuple[datetime, datetime]:
        today = now().date()
        return datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC), now() + timedelta(minutes=1)

    def query(self, **extra) -> str:
        today = now().date()
        start, end = (today - timedelta(days=1)).isoformat(), today.isoformat()
        return urlencode({"preset": "custom", "start": start, "end": end, "device": self.van.pk, **extra})

    # ---- checks ----
    def visit(self, path: str, ready: str | None = None) -> None:
        self.page.goto(f"{self.live_server_url}{path}", wait_until="load")
        if ready:
            self.page.wait_for_function(ready)
        self.assert_inert(path)

    def assert_inert(self, where: str) -> None:
        """No payload ran, and the payloads are there to read as text (the page's text or its options)."""
        page = self.page
        page.wait_for_timeout(100)  # an image's onerror fires after it failed to load
        assert page.evaluate("() => window.__xss") is None, f"a payload ran on {where}"
        text = page.evaluate(
            "() => document.body.innerText + [...document.querySelectorAll('option')].map(o => o.text).join('\\n')"
        )
        assert any(p in text for p in PAYLOADS), f"no payload shown as text on {where}"

    def hover(self, map_id: str, map_js: str, lat: float, lon: float) -> str:
        """Centre a map on a place and move the mouse there; the text of the tooltip that opens."""
        page = self.page
        page.mouse.move(1, 1)
        page.wait_for_selector(".leaflet-tooltip", state="detached")
        page.evaluate(f"([lat, lon]) => {map_js}.setView([lat, lon], 16, {{ animate: false }})", [lat, lon])
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        page.locator(f"#{map_id}").scroll_into_view_if_needed()  # a tall page puts the map below the fold
        box = page.locator(f"#{map_id}").bounding_box()
        point = page.evaluate(f"([lat, lon]) => {map_js}.latLngToContainerPoint([lat, lon])", [lat, lon])
        x, y = box["x"] + point["x"], box["y"] + point["y"]
        assert 0 <= y < page.viewport_size["height"], f"{lat}, {lon} is off screen on {page.url}"
        for nudge in range(100):  # a move while the map redraws may go unseen (a loaded machine): move again
            page.mouse.move(x + nudge % 2, y)
            if page.locator(".leaflet-tooltip").count():
                break
            page.wait_for_timeout(100)
        assert page.locator(".leaflet-tooltip").count(), f"no tooltip at {lat}, {lon} on {page.url}"
        text = page.inner_text(".leaflet-tooltip")
        self.assert_inert(f"a tooltip on {map_id}")
        return text

    # ---- pages ----
    def test_the_live_map_its_panel_card_and_layers_show_the_payloads_as_text(self):
        page = self.page
        self.wait_for_map(1)
        self.assert_inert("the live map")
        assert page.evaluate("fleetMap.visibleRows()") == [self.van.name]
        assert PAYLOADS[0] in page.inner_text("#f-group")  # the group filter's option
        page.evaluate("fleetMap.setClustering(false)")
        tip = self.hover("map", "fleetMap.map", *B)
        assert self.van.name in tip
        page.mouse.click(*self.map_centre())
        page.wait_for_selector("#card:not([hidden])")
        card = page.inner_text("#card")
        for text in (self.van.name, self.van.plate, hostile("Address"), hostile("Driver"), self.task.order_ref):
            assert text in card, text
        assert page.locator("#list img, #card img, #card svg, #list svg").count() == 0
        page.click("#card [data-action=close]")

        page.wait_for_function("() => fleetMap.overlays.counts && fleetMap.overlays.counts.beacons === 1")
        layers = page.evaluate(
            """() => Object.entries(fleetMap.overlays.groups()).flatMap(([name, group]) => group.getLayers()
                .filter((l) => l.getTooltip())
                .map((l) => [name, l.getTooltip().getContent() instanceof Element,
                             l.getLatLng ? [l.getLatLng().lat, l.getLatLng().lng]
                                         : [l.getBounds().getCenter().lat, l.getBounds().getCenter().lng]]))"""
        )
        assert sorted(name for name, _, _ in layers) == ["Beacons", "Geofences", "Geofences", "POIs", "Tasks"]
        assert all(is_node for _, is_node, _ in layers)  # a DOM node, never a string Leaflet would parse
        shown = [self.hover("map", "fleetMap.map", *where) for name, _, where in layers]
        for text in (self.depot.name, self.circle.name, self.shop.name, hostile("Deliver"), hostile("Beacon")):
            assert any(text in tip for tip in shown), text

    def map_centre(self) -> tuple[float, float]:
        box = self.page.locator("#map").bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def test_every_report_page_and_its_map_show_the_payloads_as_text(self):
        page = self.page
        for kind in KINDS:
            self.visit(f"/reports/{kind}/?{self.query(**({'split': 'day'} if kind == 'summary' else {}))}")
            assert self.van.name in page.inner_text(".report-head"), kind
            if not page.locator("#report-map").count():
                continue
            page.wait_for_function("() => window.fleetReportMap")
            places = page.evaluate(
                """() => fleetReportMap.lines.getLayers().map((l) => {
                    const p = l.getLatLngs ? l.getLatLngs()[Math.floor(l.getLatLngs().length / 2)] : l.getLatLng();
                    return [p.lat, p.lng]; })"""
            )
            assert places, kind
            for where in places:
                tip = self.hover("report-map", "fleetReportMap.map", *where)
                assert self.van.name in tip, (kind, tip)
            place = page.locator("a.place").first
            place.click()
            page.wait_for_selector(".leaflet-popup-content")
            assert page.inner_text(".leaflet-popup-content") == place.inner_text()
            self.assert_inert(f"the {kind} popup")
        for name, text in (("events", SHORT), ("visits", self.shop.name), ("tasks", hostile("Deliver"))):
            self.visit(f"/reports/{name}/?{self.query()}")
            assert text in page.inner_text("main"), name

    def test_the_other_pages_show_the_payloads_as_text(self):
        page = self.page
        pk = self.van.pk
        start, end = self.range()
        replay = urlencode({"from": start.isoformat(), "to": end.isoformat()})
        self.visit(f"/devices/{pk}/replay/?{replay}", "() => window.fleetReplay && fleetReplay.state.positions.length")
        assert hostile("Van") in page.inner_text("#r-device")
        self.visit("/devices/")
        assert self.van.name in page.inner_text("table.grid")
        self.visit(f"/devices/{pk}/")
        assert self.van.name in page.inner_text("h1") and hostile("Driver") in page.inner_text("dl.facts")
        self.visit(f"/reports/charts/?{self.query()}", "() => window.fleetCharts && fleetCharts.ready")
        assert page.evaluate("fleetCharts.error") is None and self.van.name in page.inner_text("#chart-notes")
        fleet = urlencode({"preset": "custom", "start": now().date().isoformat(), "end": now().date().isoformat()})
        self.visit(f"/reports/charts/?{fleet}", "() => window.fleetCharts && fleetCharts.ready")
        assert page.evaluate("fleetCharts.charts.length") == 2
        self.visit("/reports/utilisation/")
        assert self.org.name in page.inner_text("h1")
        self.visit(f"/reports/vendor/?{self.query(kind='trips')}")
        assert self.account.name in page.inner_text(".theirs")
        self.visit(f"/reports/jobs/{self.job.pk}/")
        assert self.van.name in page.inner_text("#table-trips")
        self.visit("/reports/")
        self.visit("/accounts/")
        self.visit(f"/accounts/{self.account.pk}/")
        for text in (self.account.name, hostile("Error"), hostile("Run"), hostile("Failed"), EVIL):
            assert text in page.inner_text("main"), text
        self.visit("/devices/import/")
        assert self.van.name in page.inner_text("#id_device")
        self.visit("/geofences/", "() => window.fleetPlaces && fleetPlaces.shapes.getLayers().length === 2")
        assert self.depot.name in page.inner_text("#places-list")
        assert self.depot.name in self.hover("places-map", "fleetPlaces.map", *A)
        self.visit(f"/geofences/{self.depot.pk}/", "() => window.fleetPlaces && fleetPlaces.current()")
        assert hostile("Group") in page.inner_text("#id_groups") and self.depot.name in page.inner_text("h1")
        self.visit("/pois/", "() => window.fleetPlaces && fleetPlaces.shapes.getLayers().length === 1")
        assert self.shop.name in page.inner_text("#places-list")

    def test_the_admin_shows_the_payloads_as_text_under_the_policy(self):
        page = self.page
        self.visit("/admin/tracking/device/")
        self.visit(f"/admin/geo/geofence/{self.circle.pk}/change/")
        page.wait_for_selector(".leaflet-container")  # the map widget's inline script runs by its nonce
        assert page.input_value("#id_name") == self.circle.name
