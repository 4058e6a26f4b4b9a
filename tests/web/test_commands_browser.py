"""A command sent from the device page in Chromium to a real Data Trak simulator: a dangerous one is refused
until confirmed, and the vendor's answer is logged on the page."""

import httpx
import pytest

from fleet.simulators.server import start_simulator
from fleet.vendors.models import CommandLog
from tests.conftest import make_account, make_device
from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser


class CommandsPageTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.sim = start_simulator("datatrak", devices=3, seed=3, frozen=True, tick=0.05)
        self.sim.clock(advance=1800)
        with httpx.Client(base_url=self.sim.url, auth=("demo", "demo")) as client:
            self.vendor_id = min(d["id"] for d in client.get("/api/devices").json())
        account = make_account(
            self.org, "Data Trak sim", base_url=self.sim.url, credentials={"username": "demo", "password": "demo"}
        )
        self.device = make_device(self.org, "Sim van", account, vendor_id=str(self.vendor_id))

    def tearDown(self) -> None:
        self.sim.stop()
        super().tearDown()

    def test_engine_stop_needs_confirming_and_its_answer_is_logged(self):
        page = self.log_in()
        page.goto(f"{self.live_server_url}/devices/{self.device.pk}/")
        page.click("#device-commands a")
        page.wait_for_selector("#command-form")
        options = page.eval_on_selector_all("#id_type option", "els => els.map(e => e.value)")
        assert "engineStop" in options and "positionPeriodic" not in options
        page.select_option("#id_type", "engineStop")
        page.click("#command-form button[type=submit]")
        page.wait_for_selector("#command-form .errorlist")
        assert "tick to confirm" in page.inner_text("#command-form")
        assert self.sim.truth()["commands"] == [] and not CommandLog.objects.exists()
        page.select_option("#id_type", "engineStop")
        page.check("#id_confirm")
        page.click("#command-form button[type=submit]")
        page.wait_for_function("() => document.querySelector('#command-log tbody tr.command-ok') !== null")
        row = page.inner_text("#command-log tbody tr.command-ok")
        assert "engineStop" in row and "alice" in row and "Sent" in row and '"deviceId":' in row
        assert [(c["deviceId"], c["type"], c["status"]) for c in self.sim.truth()["commands"]] == [
            (self.vendor_id, "engineStop", "sent")
        ]
        page.goto(f"{self.live_server_url}/devices/{self.device.pk}/")
        assert "engineStop by alice: Sent" in page.inner_text(".recent-commands")

    def test_the_form_shows_the_chosen_types_attributes_and_sends_them(self):
        page = self.log_in()
        page.goto(f"{self.live_server_url}/devices/{self.device.pk}/commands/")
        page.wait_for_selector("#command-form")
        page.select_option("#id_type", "positionSingle")
        assert not page.is_visible("#id_index") and not page.is_visible("#id_data")
        assert not page.is_visible("#id_confirm")  # a request for a position needs no confirmation
        page.select_option("#id_type", "custom")
        assert page.is_visible("#id_data") and not page.is_visible("#id_index") and page.is_visible("#id_confirm")
        page.select_option("#id_type", "outputControl")
        assert page.is_visible("#id_index") and page.is_visible("#id_data")
        page.fill("#id_index", "3")
        page.fill("#id_data", "1")
        page.check("#id_confirm")
        page.click("#command-form button[type=submit]")
        page.wait_for_function("() => document.querySelector('#command-log tbody tr.command-ok') !== null")
        assert "index=3" in page.inner_text("#command-log tbody tr.command-ok")
        assert [c["attributes"] for c in self.sim.truth()["commands"]] == [{"index": 3, "data": "1"}]
        assert CommandLog.objects.get().attributes == {"index": 3, "data": "1"}
