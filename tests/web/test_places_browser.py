"""The Geofences page in Chromium: a polygon drawn with Leaflet-Geoman is saved and listed, under the
Content-Security-Policy and without a script error (BrowserTestCase fails the test on either)."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point

from fleet.geo.models import POI, Geofence
from tests.conftest import make_org, make_user
from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser


class GeofencePageTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.org = make_org("a")
        self.user = make_user(get_user_model(), "alice", self.org, staff=False)
        POI.objects.create(organization=self.org, name="<img src=x onerror=alert(1)>", point=Point(24.94, 60.17))
        self.log_in()

    def click_map(self, box: dict, fx: float, fy: float) -> None:
        self.page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)

    def test_a_polygon_drawn_with_geoman_is_saved_and_listed(self):
        page = self.page
        page.goto(f"{self.live_server_url}/geofences/new/", wait_until="domcontentloaded")
        page.wait_for_function("() => window.fleetPlaces && fleetPlaces.ready")
        page.click(".leaflet-pm-icon-polygon")
        box = page.locator("#places-map").bounding_box()
        for fx, fy in ((0.5, 0.4), (0.8, 0.4), (0.8, 0.8), (0.5, 0.8), (0.5, 0.4)):  # back to the first: finished
            self.click_map(box, fx, fy)
        page.wait_for_function("() => document.querySelector('[name=shape]').value.includes('Polygon')")
        shape = json.loads(page.input_value("[name=shape]"))
        assert shape["type"] == "Polygon" and len(shape["coordinates"][0]) == 5  # four corners, closed
        page.fill("#id_name", "Drawn depot")
        page.click("#place-form button[type=submit]")
        page.wait_for_url(f"{self.live_server_url}/geofences/?saved=*", wait_until="domcontentloaded")
        assert "Drawn depot" in page.inner_text("#places-list")
        assert page.inner_text(".messages") == "Geofence “Drawn depot” saved."
        depot = Geofence.objects.get(name="Drawn depot")
        assert depot.kind == "polygon" and depot.organization == self.org and depot.geometry.num_points == 5
        page.wait_for_function("() => window.fleetPlaces && fleetPlaces.shapes.getLayers().length === 1")

    def test_the_pois_page_shows_a_hostile_name_as_text(self):
        page = self.page
        page.goto(f"{self.live_server_url}/pois/", wait_until="domcontentloaded")
        page.wait_for_function("() => window.fleetPlaces && fleetPlaces.shapes.getLayers().length === 1")
        assert "<img src=x onerror=alert(1)>" in page.inner_text("#places-list")
        assert page.locator("#places-list img").count() == 0
