"""The device list in Chromium: search, filter by state, sort by a header, then the device's page and its reports."""

import pytest

from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser


class DeviceListTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.log_in()

    def rows(self) -> list[str]:
        return self.page.locator("#device-table tbody td:first-child > a:first-child").all_inner_texts()

    def test_a_dispatcher_finds_a_device_and_opens_its_reports(self):
        page = self.page
        page.goto(f"{self.live_server_url}/devices/", wait_until="domcontentloaded")
        assert self.rows() == ["<img src=x onerror=alert(1)>", "Never Reported", "Truck 02", "Van 01"]  # as text

        page.select_option("#id_state", "moving")
        page.click("#device-filters button[type=submit]")
        page.wait_for_url("**state=moving**", wait_until="domcontentloaded")
        assert self.rows() == ["Van 01"]

        page.click("text=Clear")
        page.wait_for_url(f"{self.live_server_url}/devices/", wait_until="domcontentloaded")
        page.fill("#device-filters input[name=q]", "trk-0")  # a plate
        page.press("#device-filters input[name=q]", "Enter")
        page.wait_for_url("**q=trk-0**", wait_until="domcontentloaded")
        assert self.rows() == ["Truck 02"]

        page.goto(f"{self.live_server_url}/devices/", wait_until="domcontentloaded")
        page.click("#device-table th >> text=Last fix")  # newest fix first, never-fixed last
        page.wait_for_url("**sort=last_fix**", wait_until="domcontentloaded")
        assert self.rows() == ["<img src=x onerror=alert(1)>", "Van 01", "Truck 02", "Never Reported"]

        page.click("#device-table >> text=Van 01")
        page.wait_for_url(f"**/devices/{self.van.pk}/", wait_until="domcontentloaded")
        assert page.locator("#history tbody tr").count() == 1
        page.click("#device-reports >> text=Trips")
        page.wait_for_url("**/reports/trips/**", wait_until="domcontentloaded")
        assert page.input_value("#id_device") == str(self.van.pk)
