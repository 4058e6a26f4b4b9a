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
