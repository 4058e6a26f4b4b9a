"""Chromium against Daphne with its default 1 MiB message limit (the Procfile's): a 3,000-device snapshot
arrives in parts, none near the limit, that the page assembles; a page sending an oversized frame is cut off."""

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_org, make_user
from tests.security.conftest import big_fleet
from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser

# A second socket opened by the page itself: the frames the server sends, as the browser receives them.
FRAMES_JS = """() => new Promise((resolve, reject) => {
  const ws = new WebSocket(`ws://${location.host}/ws/live/`);
  const frames = [];
  ws.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    frames.push([frame.type, e.data.length, frame.cols ? frame.cols.id.length : 0]);
    if (frame.type === "snapshot") { ws.close(); resolve(frames); }
  };
  ws.onclose = (e) => reject(new Error(`closed ${e.code}`));
})"""

OVERSIZED_JS = """() => new Promise((resolve) => {
  const ws = new WebSocket(`ws://${location.host}/ws/live/`);
  ws.onmessage = (e) => { if (JSON.parse(e.data).type === "snapshot") ws.send("x".repeat(10000)); };
  ws.onclose = (e) => resolve(e.code);
})"""


class LargeFleetTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        org = make_org("a")
        make_user(get_user_model(), "alice", org)
        self.device_ids = big_fleet(org, 3000)
        self.log_in()

    def test_a_3000_device_snapshot_arrives_in_parts_that_the_page_assembles(self):
        self.wait_for_map(3000)
        page = self.page
        assert sorted(page.evaluate("[...fleetMap.store.devices.keys()]")) == sorted(self.device_ids)
        assert page.evaluate("fleetMap.counts().listed") == 3000
        assert page.inner_text("#conn") == "Live"
        frames = page.evaluate(FRAMES_JS)
        kinds = [kind for kind, _, _ in frames]
        assert kinds == ["config"] + ["snapshot.part"] * (len(frames) - 2) + ["snapshot"] and len(frames) > 3
        assert sum(n for _, _, n in frames) == 3000
        assert max(size for _, size, _ in frames) < 300 * 1024

    def test_a_page_sending_an_oversized_frame_has_its_socket_closed_with_4413(self):
        self.wait_for_map(3000)
        assert self.page.evaluate(OVERSIZED_JS) == 4413
        assert self.page.inner_text("#conn") == "Live"  # the map's own socket is untouched
