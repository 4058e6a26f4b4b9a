"""Alerts in Chromium: a dispatcher draws a geofence on the Geofences page, a vehicle drives into it, the event
engine finds the entry, a dashboard rule makes it an alert, and a toast appears on the live map of every member
of the organisation (two sessions), never on another organisation's; the event feed lists it and records who
acknowledged it."""

import pytest
from django.contrib.auth import get_user_model

from fleet.core.models import Membership
from fleet.events import notify, places
from fleet.events.models import EventAck, NotificationRule
from fleet.geo.models import Geofence
from fleet.tracking.models import Event
from tests.conftest import make_user
from tests.web.browser import BrowserTestCase, fix, send_positions

pytestmark = pytest.mark.browser


class AlertTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        places.forget()
        notify.forget()
        self.make_world()
        NotificationRule.objects.create(organization=self.org, name="Depot", event_types=["geofenceEnter"])
        make_user(get_user_model(), "bob", self.org, role=Membership.Role.DISPATCHER, staff=False)
        make_user(get_user_model(), "carol", self.org_b)

    def open_map(self, username: str):
        context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_init_script("localStorage.setItem('fleet.feed.sound', 'off')")
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: self.errors.append(f"{username}: {exc}"))
        self.log_in(page, username)
        page.wait_for_function("() => window.fleetMap && fleetMap.socket.status === 'live'")
        return context, page

    def draw_depot(self) -> Geofence:
        page = self.page
        page.goto(f"{self.live_server_url}/geofences/new/", wait_until="domcontentloaded")
        page.wait_for_function("() => window.fleetPlaces && fleetPlaces.ready")
        page.click(".leaflet-pm-icon-polygon")
        box = page.locator("#places-map").bounding_box()
        for fx, fy in ((0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6), (0.4, 0.4)):
            page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_function("() => document.querySelector('[name=shape]').value.includes('Polygon')")
        page.fill("#id_name", "Depot <script>")
        page.click("#place-form button[type=submit]")
        page.wait_for_url(f"{self.live_server_url}/geofences/?saved=*", wait_until="domcontentloaded")
        return Geofence.objects.get(name="Depot <script>")

    def test_a_vehicle_entering_a_drawn_geofence_raises_a_toast_for_its_organisation_only(self):
        self.log_in()
        self.depot = self.draw_depot()
        centre = self.depot.geometry.centroid
        self.page.goto(f"{self.live_server_url}/", wait_until="domcontentloaded")
        self.page.wait_for_function("() => window.fleetMap && fleetMap.socket.status === 'live'")
        bob_context, bob = self.open_map("bob")
        carol_context, carol = self.open_map("carol")
        try:
            send_positions(self.van, fix(self.van, centre.y, centre.x, 0, speed=20.0, ignition=True))
            for page in (self.page, bob):
                page.wait_for_selector(".toast", timeout=5000)
                assert page.inner_text(".toast") == "Entered geofence · Van 01 · Depot <script>"
            event = Event.objects.get(device=self.van, type="geofenceEnter")
            assert event.geofence == self.depot and event.source == "fleet"
            carol.wait_for_timeout(1000)
            assert carol.query_selector(".toast") is None and carol.inner_text("#event-feed ol") == ""
            # the feed lists it; bob acknowledges it
            bob.click("#event-feed [data-f=toggle]")
            row = bob.locator(f"#event-feed li[data-id='{event.pk}']")
            row.locator("button.ack").click()
            row.locator("button.ack:has-text('✓ bob')").wait_for()
            assert EventAck.objects.get(event=event).user.get_username() == "bob"
        finally:
            bob_context.close()
            carol_context.close()
