"""The live map in Chromium: markers, list, live updates over /ws/live/, filters, selection, replay, XSS."""

import time
from urllib.parse import urlencode

import pytest

from fleet.tracking.models import Position
from tests.web.browser import BrowserTestCase, fix, send_positions

pytestmark = pytest.mark.browser


class LiveMapTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.log_in()
        self.wait_for_map(4)

    def test_a_dispatcher_logs_in_and_sees_the_devices_on_the_map_and_in_the_list(self):
        page = self.page
        page.evaluate("fleetMap.setClustering(false)")
        counts = self.counts()
        assert counts["devices"] == 4  # org B's van is not sent
        assert counts["drawn"] == 3  # the device that never reported has no marker
        assert counts["states"]["moving"] == 1 and counts["states"]["stopped"] == 1 and counts["states"]["nofix"] == 1
        for device in (self.van, self.truck, self.tag):
            assert page.evaluate("id => fleetMap.position(id).drawn", device.pk)
        names = page.evaluate("fleetMap.visibleRows()")
        assert {"Van 01", "Truck 02", "Never Reported", self.tag.name} == set(names)
        assert "Org B van" not in page.inner_text("#list")
        assert page.inner_text("#conn") == "Live"

    def test_an_ingested_position_moves_its_marker_and_updates_its_card_within_a_second(self):
        page = self.page
        page.evaluate(f"fleetMap.select({self.van.pk})")
        page.wait_for_selector("#card:not([hidden])")
        before = page.evaluate(f"fleetMap.position({self.van.pk})")
        started = time.monotonic()
        send_positions(self.van, fix(self.van, 60.171, 24.945, 0, speed=72.0, ignition=True, course=45.0))
        page.wait_for_function(f"() => fleetMap.position({self.van.pk}).lon > 24.944", timeout=1000)
        page.wait_for_function("() => document.querySelector('[data-f=speed]').textContent === '72 km/h'", timeout=1000)
        assert time.monotonic() - started < 1.5  # the two waits above already bound each step to 1 s
        after = page.evaluate(f"fleetMap.position({self.van.pk})")
        assert after["drawn"] and (after["lat"], after["lon"]) != (before["lat"], before["lon"])
        assert page.inner_text("[data-f=course]") == "45° NE"
        assert page.inner_text("[data-f=ago]").startswith(("0 s ago", "1 s ago", "2 s ago"))

    def test_filters_narrow_the_list_and_the_map(self):
        page = self.page
        page.evaluate("fleetMap.setClustering(false)")
        one = "() => fleetMap.visibleRows().length === 1 && fleetMap.counts().drawn === 1"
        page.fill("#q", "trk-002")  # plate, any case
        page.wait_for_function(one)
        assert page.evaluate("fleetMap.visibleRows()") == ["Truck 02"]
        page.fill("#q", "356000001")  # IMEI
        page.wait_for_function("() => fleetMap.visibleRows()[0] === 'Van 01' && fleetMap.counts().drawn === 1")
        page.fill("#q", "")
        page.select_option("#f-vendor", "safectory")
        page.wait_for_function(one)
        assert page.evaluate("fleetMap.visibleRows()") == [self.tag.name]
        page.select_option("#f-vendor", "")
        page.select_option("#f-group", label="Vans")
        page.wait_for_function(one)
        assert page.evaluate("fleetMap.visibleRows()") == ["Van 01"]
        page.select_option("#f-group", "")
        page.click("#f-states .chip[data-state=stopped]")
        page.wait_for_function(one)
        assert page.evaluate("fleetMap.visibleRows()") == ["Truck 02"]
        assert page.inner_text("#f-states .chip[data-state=moving] b") == "1"  # counts ignore the state filter

    def test_selecting_a_device_follows_it(self):
        page = self.page
        page.click("#list .dev:has-text('Van 01')")
        page.wait_for_selector("#card:not([hidden])")
        assert page.inner_text("[data-f=name]") == "Van 01"
        centre = page.evaluate("(() => { const c = fleetMap.map.getCenter(); return [c.lat, c.lng]; })()")
        assert abs(centre[0] - 60.170) < 1e-3 and abs(centre[1] - 24.940) < 1e-3
        send_positions(self.van, fix(self.van, 60.1900, 24.9900, 0, speed=50.0, ignition=True, course=10.0))
        near = "(c => Math.abs(c.lat - 60.19) + Math.abs(c.lng - 24.99))(fleetMap.map.getCenter())"
        page.wait_for_function(f"() => {near} < 2e-3")
        assert page.get_attribute("[data-f=replay]", "href") == f"/devices/{self.van.pk}/replay/"
        assert page.get_attribute("[data-f=reports]", "href") == f"/devices/{self.van.pk}/#device-reports"
        page.focus("#list")
        page.keyboard.press("ArrowUp")  # the previous device by name
        page.wait_for_function("() => document.querySelector('[data-f=name]').textContent === 'Truck 02'")

    def test_clicking_a_marker_selects_its_device(self):
        page = self.page
        page.evaluate("fleetMap.setClustering(false)")
        page.evaluate("fleetMap.map.setView([60.18, 24.96], 15, { animate: false })")
        page.wait_for_function(f"() => fleetMap.position({self.truck.pk}).drawn")
        box = page.locator("#map").bounding_box()
        at = page.evaluate(f"fleetMap.position({self.truck.pk})")
        page.mouse.move(box["x"] + at["x"], box["y"] + at["y"])
        page.wait_for_selector(".fleet-tip")
        assert page.inner_text(".fleet-tip") == "Truck 02\nData Trak (Traccar 4.2)"  # the vendor is in the tooltip
        page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
        page.wait_for_selector("#card:not([hidden])")
        assert page.inner_text("[data-f=name]") == "Truck 02"
        assert page.inner_text("#list .dev.selected .name") == "Truck 02"

    def test_a_hostile_device_name_renders_as_text(self):
        page = self.page
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.evaluate(f"fleetMap.select({self.tag.pk})")
        page.wait_for_selector("#card:not([hidden])")
        assert page.inner_text("[data-f=name]") == "<img src=x onerror=alert(1)>"
        assert self.tag.name in page.evaluate("fleetMap.visibleRows()")
        assert page.locator("#list img, #card img").count() == 0
        page.wait_for_timeout(200)
        assert dialogs == []

    def test_the_card_shows_where_the_device_is_in_words_as_text(self):
        from django.contrib.gis.geos import Polygon

        from fleet.geo.models import Geofence

        Geofence.objects.create(
            organization=self.org, name="<img src=x onerror=alert(2)> Depot",
            geometry=Polygon.from_bbox((24.93, 60.165, 24.95, 60.175)),
        )  # fmt: skip
        page = self.page
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.evaluate(f"fleetMap.select({self.truck.pk})")  # outside it: no address, the row stays hidden
        page.wait_for_selector("#card:not([hidden])")
        page.wait_for_timeout(300)
        assert page.locator("dd[data-f=address]").is_hidden()
        page.evaluate(f"fleetMap.select({self.van.pk})")
        shown = "document.querySelector('[data-f=address]').textContent"
        page.wait_for_function(f"() => {shown} === 'Inside <img src=x onerror=alert(2)> Depot'")
        assert page.locator("dd[data-f=address]").is_visible()
        assert page.locator("#card img").count() == 0 and dialogs == []

    def test_the_page_reconnects_and_resyncs_after_the_socket_drops(self):
        page = self.page
        first_snapshot = page.evaluate("fleetMap.stats.snapshotAt")
        page.evaluate("fleetMap.socket.ws.close()")
        page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'reconnecting'", timeout=1000)
        send_positions(self.truck, fix(self.truck, 60.185, 24.965, 0, speed=0.0, ignition=False))
        page.wait_for_function(f"() => fleetMap.stats.snapshotAt > {first_snapshot}")  # config + snapshot again
        page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'live'")
        page.wait_for_function(f"() => fleetMap.position({self.truck.pk}).lat === 60.185")

    def test_the_indicator_shows_offline_when_the_browser_has_no_network(self):
        self.context.set_offline(True)
        self.page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'offline'")
        assert self.page.inner_text("#conn") == "Offline"
        self.context.set_offline(False)
        self.page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'live'")

    def add_overlays(self) -> None:
        from django.contrib.gis.geos import LineString, Point

        from fleet.dispatch.models import Task
        from fleet.geo.models import POI, Geofence

        Geofence.objects.create(
            organization=self.org, name="Depot", kind="circle", radius_m=200, geometry=Point(24.95, 60.17)
        )
        Geofence.objects.create(
            organization=self.org,
            name="Ring road",
            kind="corridor",
            width_m=40,
            geometry=LineString((24.9, 60.1), (25.0, 60.2)),
        )
        POI.objects.create(organization=self.org, name="<b>Customer</b>", point=Point(24.93, 60.16))
        Task.objects.create(
            organization=self.org,
            order_ref="ORD-9",
            device=self.van,
            destination=Point(25.0, 60.2),
            status="in_progress",
        )
        Geofence.objects.create(
            organization=self.org_b, name="B fence", kind="circle", radius_m=50, geometry=Point(24.95, 60.17)
        )

    def test_the_overlay_layers_and_the_trail_load(self):
        page = self.page
        page.evaluate(f"fleetMap.select({self.van.pk})")
        page.wait_for_function(f"() => fleetMap.overlays.trails.get({self.van.pk}).points.length >= 1")
        send_positions(self.van, fix(self.van, 60.172, 24.948, 0, speed=30.0, ignition=True))
        page.wait_for_function(f"() => fleetMap.overlays.trails.get({self.van.pk}).points.length >= 2")
        self.add_overlays()
        page.evaluate("fleetMap.overlays.load('/live/layers.json')")
        page.wait_for_function("() => fleetMap.overlays.counts.geofences === 2")
        assert page.evaluate("fleetMap.overlays.counts") == {"geofences": 2, "pois": 1, "tasks": 1, "beacons": 0}
        poi = page.evaluate("fleetMap.overlays.pois.getLayers()[0].getTooltip().getContent().textContent")
        assert poi.startswith("<b>Customer</b>")  # vendor/user strings are text in tooltips too
        line = page.evaluate("fleetMap.overlays.taskLines[0][0].getLatLngs().map(p => [p.lat, p.lng])")
        assert line == [[60.172, 24.948], [60.2, 25.0]]  # from the van's live position to the destination
        page.check("[data-f=pin]")  # keep the van's trail while the truck is selected
        page.evaluate(f"fleetMap.select({self.truck.pk})")
        page.wait_for_function(f"() => fleetMap.overlays.trails.has({self.truck.pk})")
        assert page.evaluate("[...fleetMap.overlays.trails.keys()].sort()") == sorted([self.van.pk, self.truck.pk])
        page.evaluate(f"fleetMap.select({self.tag.pk})")
        page.wait_for_function(f"() => fleetMap.overlays.trails.has({self.tag.pk})")
        assert page.evaluate("[...fleetMap.overlays.trails.keys()].sort()") == sorted([self.van.pk, self.tag.pk])

    def test_layers_and_a_trail_asked_for_offline_load_once_the_network_is_back(self):
        page = self.page
        self.add_overlays()
        self.context.set_offline(True)
        page.evaluate("fleetMap.overlays.load('/live/layers.json')")  # fails quietly (no page error), then waits
        page.evaluate(f"fleetMap.select({self.van.pk})")
        page.wait_for_function(f"() => !fleetMap.overlays.trails.has({self.van.pk})")  # dropped, not half drawn
        self.context.set_offline(False)
        page.wait_for_function("() => fleetMap.overlays.counts && fleetMap.overlays.counts.geofences === 2")
        page.evaluate("fleetMap.select(null)")
        page.evaluate(f"fleetMap.select({self.van.pk})")  # selecting again fetches the trail
        page.wait_for_function(f"() => fleetMap.overlays.trails.get({self.van.pk})?.points.length >= 1")


class ReplayTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.drive_and_park()
        assert Position.objects.filter(device=self.van).count() == 30
        self.log_in()

    def test_replay_plays_and_the_scrubber_moves_the_marker(self):
        page = self.page
        page.goto(f"{self.live_server_url}/devices/{self.van.pk}/replay/", wait_until="domcontentloaded")
        page.wait_for_function("() => window.fleetReplay && fleetReplay.state.positions.length === 30")
        assert "1 stop" in page.inner_text("#r-summary")
        start = page.evaluate("fleetReplay.marker()")
        page.select_option("#r-speed", "64")
        page.click("#r-play")
        page.wait_for_function("() => fleetReplay.marker().lon > 24.905")
        page.click("#r-play")  # pause
        assert page.evaluate("fleetReplay.marker()")["lon"] > start["lon"]
        # scrub to the end: the marker sits on the last position and its row is highlighted
        page.eval_on_selector("#r-slider", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
        assert page.evaluate("fleetReplay.marker()") == {"lat": 60.17, "lon": 24.94}
        assert page.get_attribute("#r-rows tr.current", "data-i") == "29"
        # clicking a row moves the marker there
        page.click("#r-rows tr[data-i='5']")
        assert abs(page.evaluate("fleetReplay.marker()")["lon"] - 24.91) < 1e-9
        assert page.evaluate("fleetReplay.currentRow()") == 5

    def test_a_bad_range_says_so_in_plain_words_and_clears_the_old_route(self):
        page = self.page
        page.goto(f"{self.live_server_url}/devices/{self.van.pk}/replay/", wait_until="domcontentloaded")
        page.wait_for_function("() => window.fleetReplay && fleetReplay.state.positions.length === 30")
        assert page.evaluate("fleetReplay.drawn()") > 3  # route segments, start and end, the stop, the marker
        page.click("[data-preset=custom]")
        page.fill("#r-from", "2026-11-20T10:00")
        page.fill("#r-to", "2026-11-20T09:00")
        page.click("#r-custom button[type=submit]")
        page.wait_for_function("() => document.querySelector('#r-summary').textContent.startsWith('The start')")
        assert page.inner_text("#r-summary") == "The start must be before the end."
        assert "preset" not in page.inner_text("#r-summary") and "ISO" not in page.inner_text("#r-summary")
        assert page.evaluate("fleetReplay.drawn()") == 0 and page.evaluate("fleetReplay.state.positions.length") == 0
        assert page.locator("#r-rows tr").count() == 0 and page.is_disabled("#r-play")
        page.fill("#r-to", "")
        page.click("#r-custom button[type=submit]")
        page.wait_for_function("() => document.querySelector('#r-summary').textContent.startsWith('Choose a start')")

    def test_a_link_with_its_own_range_replays_that_range(self):
        """The trips report links each trip to the replay with ?from=&to= (ISO): only that span loads."""
        first = Position.objects.filter(device=self.van).order_by("fix_time")
        start, end = first[0].fix_time, first[9].fix_time  # the first 10 fixes
        query = urlencode({"from": start.isoformat(), "to": end.isoformat()})
        self.page.goto(f"{self.live_server_url}/devices/{self.van.pk}/replay/?{query}", wait_until="domcontentloaded")
        self.page.wait_for_function("() => window.fleetReplay && fleetReplay.state.positions.length > 0")
        assert self.page.evaluate("fleetReplay.state.positions.length") == 10
        assert self.page.get_attribute("[data-preset='custom']", "aria-pressed") == "true"
        assert self.page.input_value("#r-from") != ""
