"""The Dispatch board in Chromium: create a task, drag it onto a vehicle to assign it, drag it to a column the
state machine refuses (the reason shows, the card stays), then the vehicle drives to the destination and the
task is marked arrived by itself."""

import pytest

from fleet.dispatch.models import Task
from fleet.events import places
from tests.web.browser import BrowserTestCase, fix, send_positions

pytestmark = pytest.mark.browser


class DispatchBoardTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        places.forget()
        self.make_world()
        self.log_in()

    def test_create_assign_by_drag_and_see_the_vehicle_arrive(self):
        page = self.page
        page.goto(f"{self.live_server_url}/dispatch/tasks/new/")
        page.fill("#id_order_ref", "ORD-77")
        page.fill("#id_title", "Boxes")
        page.fill("#id_latitude", "60.1900")
        page.fill("#id_longitude", "24.9700")
        page.fill("#id_destination_radius_m", "60")
        page.click("form.rule-form button[type=submit]")
        page.wait_for_url(f"{self.live_server_url}/dispatch/")
        card = page.locator(".column[data-status=created] .task-card", has_text="ORD-77")
        card.wait_for()
        # a move the state machine refuses
        card.drag_to(page.locator(".column[data-status=completed]"))
        page.wait_for_selector("#board-error:not([hidden])")
        assert page.inner_text("#board-error") == "A task cannot go from created to completed."
        assert page.locator(".column[data-status=created] .task-card", has_text="ORD-77").count() == 1
        # drop it on the van: assigned
        card.drag_to(page.locator(f".vehicle[data-device='{self.van.pk}']"))
        page.locator(".column[data-status=assigned] .task-card", has_text="ORD-77").wait_for()
        task = Task.objects.get(order_ref="ORD-77")
        assert (task.status, task.device) == ("assigned", self.van)
        # the van drives there: the event engine marks it arrived
        send_positions(self.van, fix(self.van, 60.1850, 24.9700, 60, speed=30.0), fix(self.van, 60.1900, 24.9700, 0))
        task.refresh_from_db()
        assert task.status == "arrived"
        page.reload()
        page.locator(".column[data-status=arrived] .task-card", has_text="ORD-77").wait_for()
        page.click("text=ORD-77")
        assert "created → assigned" in page.inner_text(".timeline")
        assert "assigned → arrived (vehicle)" in page.inner_text(".timeline")

    def test_the_map_shows_the_visible_tasks_and_the_vehicles_and_a_card_click_highlights_its_destination(self):
        from django.contrib.gis.geos import Point

        make = Task.objects.create
        make(organization=self.org, order_ref="M-1", title="<b>Crates</b>", destination=Point(24.95, 60.18))
        van = {"status": "assigned", "device": self.van}
        make(organization=self.org, order_ref="M-2", destination=Point(24.93, 60.16), **van)
        make(organization=self.org_b, order_ref="B-9", destination=Point(24.9, 60.1))
        page = self.page
        page.goto(f"{self.live_server_url}/dispatch/")
        page.wait_for_function("() => window.fleetDispatch && fleetDispatch.ready")
        shown = page.evaluate(
            "() => [...fleetDispatch.map.destinations.values()].map(d => [d.task.order_ref, d.dot.options.fillColor])"
        )
        assert sorted(shown) == [["M-1", "#667085"], ["M-2", "#2e90fa"]]  # created grey, assigned blue; not org B's
        assert page.evaluate("() => fleetDispatch.map.vehicles.getLayers().length") == 3  # org A's with a position
        assert page.locator("#dispatch-map .leaflet-interactive").count() == 2 * 2 + 3  # radius + dot each, vans
        page.locator(".task-card", has_text="M-1").locator(".meta").first.click()
        page.wait_for_selector(".leaflet-popup-content")
        assert page.inner_text(".leaflet-popup-content").startswith("M-1 <b>Crates</b>\nCreated")  # as text
        highlighted = page.evaluate("() => fleetDispatch.map.highlighted")
        assert highlighted == Task.objects.get(order_ref="M-1").pk
        assert page.evaluate(f"() => fleetDispatch.map.destinations.get({highlighted}).dot.getRadius()") == 10
        # the map follows the board's search
        page.goto(f"{self.live_server_url}/dispatch/?q=M-2")
        page.wait_for_function("() => window.fleetDispatch && fleetDispatch.ready")
        assert page.evaluate("() => [...fleetDispatch.map.destinations.values()].map(d => d.task.order_ref)") == ["M-2"]
