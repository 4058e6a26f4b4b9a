"""Phone (390×844) and tablet (820×1180) layouts in Chromium: nothing scrolls the page sideways, the live map fills a
phone's width with its device panel below it, "Log out" is behind the Menu button, wide tables scroll in place."""

import pytest

from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


class SmallScreenTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.drive_and_park()
        self.log_in()

    def resize(self, viewport: dict) -> None:
        self.page.set_viewport_size(viewport)

    def box(self, selector: str) -> dict:
        return self.page.locator(selector).bounding_box()

    def assert_no_sideways_scroll(self) -> None:
        assert self.page.evaluate(NO_SIDEWAYS_SCROLL), self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )

    def open_menu_and_find_log_out(self) -> None:
        page = self.page
        log_out = page.get_by_role("button", name="Log out")
        assert not log_out.is_visible()  # folded away until asked for
        page.click(".menu-toggle")
        assert page.get_attribute(".menu-toggle", "aria-expanded") == "true"
        assert log_out.is_visible() and page.locator(".topbar nav").get_by_role("link", name="Reports").is_visible()
        self.assert_no_sideways_scroll()
        box = log_out.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= self.page.viewport_size["width"]

    def test_on_a_phone_the_map_fills_the_width_and_the_panel_is_a_sheet_below_it(self):
        page = self.page
        self.resize(PHONE)
        page.goto(f"{self.live_server_url}/", wait_until="domcontentloaded")
        self.wait_for_map(4)
        self.assert_no_sideways_scroll()
        map_box, panel = self.box("#map"), self.box(".panel")
        assert map_box["width"] >= 0.9 * PHONE["width"]
        assert map_box["height"] >= 0.35 * PHONE["height"]
        # the panel: full width, under the map, inside the screen, its list scrolls on its own
        assert panel["width"] >= 0.9 * PHONE["width"] and panel["y"] >= map_box["y"] + map_box["height"] - 1
        assert panel["y"] + panel["height"] <= PHONE["height"] + 1
        assert page.locator("#list").is_visible() and page.locator("#q").is_visible()
        page.locator("#list >> text=Van 01").click()
        page.wait_for_selector("#card:not([hidden])")
        card = self.box("#card")
        assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]
        assert page.locator("#card a[data-f=replay]").is_visible()
        self.assert_no_sideways_scroll()
        page.click("#card [data-action=close]", timeout=3000)  # Playwright clicks only what nothing covers
        page.wait_for_selector("#card", state="hidden")
        self.open_menu_and_find_log_out()
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/login/**", wait_until="domcontentloaded")

    def test_on_a_tablet_the_map_keeps_its_side_panel(self):
        page = self.page
        self.resize(TABLET)
        page.goto(f"{self.live_server_url}/", wait_until="domcontentloaded")
        self.wait_for_map(4)
        self.assert_no_sideways_scroll()
        map_box, panel = self.box("#map"), self.box(".panel")
        assert panel["x"] == 0 and map_box["x"] >= panel["width"] - 1
        assert map_box["width"] >= 0.5 * TABLET["width"] and map_box["height"] >= 0.8 * TABLET["height"]
        self.open_menu_and_find_log_out()

    def test_a_report_scrolls_its_wide_table_in_place(self):
        page = self.page
        url = f"{self.live_server_url}/reports/trips/?device={self.van.pk}&preset=today"
        for viewport in (PHONE, TABLET):
            self.resize(viewport)
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector(".report-grid tbody tr")
            self.assert_no_sideways_scroll()
            scroller = page.locator(".table-scroll").first
            assert scroller.evaluate("e => e.getBoundingClientRect().right") <= viewport["width"]
        # on the phone the trips table is wider than the screen and scrolls inside its box
        self.resize(PHONE)
        assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")
        self.assert_no_sideways_scroll()
        self.open_menu_and_find_log_out()

    def test_replay_is_usable_on_a_phone_and_a_tablet(self):
        page = self.page
        for viewport in (PHONE, TABLET):
            self.resize(viewport)
            page.goto(f"{self.live_server_url}/devices/{self.van.pk}/replay/", wait_until="domcontentloaded")
            page.wait_for_function("() => window.fleetReplay && fleetReplay.state.positions.length === 30")
            self.assert_no_sideways_scroll()
            map_box = self.box("#map")
            assert map_box["width"] >= 0.9 * viewport["width"] and map_box["height"] >= 200
            for control in ("#r-play", "#r-slider", "#r-clock"):
                box = self.box(control)
                assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], control
            page.locator("#r-rows tr[data-i='29']").scroll_into_view_if_needed()
            page.click("#r-rows tr[data-i='29']")
            assert page.evaluate("fleetReplay.currentRow()") == 29
            self.assert_no_sideways_scroll()
