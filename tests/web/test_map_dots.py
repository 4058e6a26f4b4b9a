"""Thousands of devices in view, unclustered: dots stamped as pixels (static/js/dots.js). A batch re-stamps only the
boxes its devices left and entered; the canvas must then be exactly what a full redraw gives, pixel for pixel, with
the selected device's halo on top, and a click must find a device where it moved to."""

import pytest

from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser

# 3,000 devices copied from a real one (so the filters treat them as the page's own), on a dense patch of Helsinki,
# unclustered: more than the 1,500 that switch the map to dots.
CROWD_JS = """() => {
  // the page's own fields only: not the template's projection (_x, _y, _z) or draw state (_dot, _feature)
  const real = [...fleetMap.store.devices.values()].find((d) => d.lat !== null);
  const template = Object.fromEntries(Object.entries(real).filter(([k]) => !k.startsWith("_")));
  const states = ["moving", "idle", "stopped", "offline"];
  const devices = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < 3000; i++) {
    devices.push({ ...template, id: 900000 + i, name: `Crowd ${i}`, lat: 60.15 + rnd() * 0.04,
                   lon: 24.90 + rnd() * 0.08, state: states[i % 4], fix: 1, moved: false });
  }
  fleetMap.handle({ type: "snapshot", server_time: Date.now() / 1000, devices });
}"""

PIXELS_JS = """() => {
  const c = fleetMap.markers.canvas;
  return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data);
}"""

# Batches of positions: short moves (one box over both places), long jumps (two boxes), state changes (a new stamp).
BATCHES_JS = """async () => {
  const ids = [...fleetMap.store.devices.keys()].filter((id) => id >= 900000);
  const states = ["moving", "idle", "stopped", "offline"];
  for (let r = 0; r < 5; r++) {
    const p = [];
    for (let i = 0; i < 400; i++) {
      const d = fleetMap.store.devices.get(ids[(r * 577 + i * 7) % ids.length]);
      const far = i % 5 === 0;
      p.push([d.id, d.fix + 1, d.lat + (far ? 0.004 : 0.00003), d.lon + (far ? -0.006 : 0.00005), 30, 90, true, true,
              states[(i + r) % 4]]);
    }
    const before = fleetMap.stats.lastApplyAt;
    fleetMap.handle({ type: "positions", p });
    while (fleetMap.stats.lastApplyAt === before) await new Promise(requestAnimationFrame);
  }
}"""


class MapDotsTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.log_in()
        self.wait_for_map(4)
        self.page.evaluate("() => fleetMap.setClustering(false)")
        self.page.evaluate(CROWD_JS)
        self.page.wait_for_function("() => fleetMap.store.devices.size === 3000 && fleetMap.markers.stats.dense")
        self.page.evaluate("() => fleetMap.map.setView([60.17, 24.94], 13, { animate: false })")
        self.page.wait_for_function("() => fleetMap.markers.stats.drawn > 1500 && fleetMap.markers.stats.dense")

    def patched_then_full(self) -> tuple[list[int], list[int], dict]:
        """Run the batches; the canvas' pixels then, and after a full redraw; the draw counters in between."""
        before = self.page.evaluate("() => ({ ...fleetMap.markers.stats })")
        self.page.evaluate(BATCHES_JS)
        after = self.page.evaluate("() => ({ ...fleetMap.markers.stats })")
        patched = self.page.evaluate(PIXELS_JS)
        self.page.evaluate("() => fleetMap.markers.redraw()")
        full = self.page.evaluate(PIXELS_JS)
        return (
            patched,
            full,
            {
                "patches": (after.get("patches") or 0) - (before.get("patches") or 0),
                "draws": after["draws"] - before["draws"],
            },
        )

    def assert_same(self, patched: list[int], full: list[int]) -> None:
        assert len(patched) == len(full)
        differ = sum(1 for a, b in zip(patched, full, strict=True) if a != b)
        assert differ == 0, f"{differ} bytes differ from a full redraw"
        assert sum(1 for a in full[3::4] if a) > 20_000  # the dots are there, not an empty canvas on both sides

    def test_batches_re_stamp_only_their_dots_and_give_the_full_redraws_pixels(self):
        patched, full, counted = self.patched_then_full()
        assert counted == {"patches": 5, "draws": 0}  # every batch patched in place, none redrew everything
        self.assert_same(patched, full)

    def test_the_selected_devices_halo_stays_on_top_of_the_re_stamped_dots(self):
        # a device in the middle of the crowd, with others moving over and around it
        self.page.evaluate("() => fleetMap.select(901234)")  # from the list: zooms in to it
        self.page.evaluate("() => fleetMap.map.setView([60.17, 24.94], 13, { animate: false })")
        self.page.wait_for_function("() => fleetMap.markers.stats.dense && fleetMap.markers.selectedAt !== null")
        patched, full, counted = self.patched_then_full()
        assert counted["patches"] >= 4  # a batch that moves the selected device itself redraws everything
        self.assert_same(patched, full)

    def test_a_click_finds_a_device_where_a_batch_moved_it(self):
        page = self.page
        # an empty spot on the map's left edge, west of the crowd
        lat, lon = page.evaluate("""() => {
          const s = fleetMap.map.getSize(), ll = fleetMap.map.containerPointToLatLng([s.x * 0.08, s.y * 0.5]);
          return [ll.lat, ll.lng];
        }""")
        assert lon < 24.895
        before = page.evaluate("() => ({ ...fleetMap.markers.stats })")
        row = [900010, 2, lat, lon, 0, 0, True, False, "stopped"]
        page.evaluate("""row => fleetMap.handle({ type: "positions", p: [row] })""", row)
        page.wait_for_function("lat => fleetMap.store.devices.get(900010).lat === lat", arg=lat)
        page.wait_for_function("n => (fleetMap.markers.stats.patches || 0) > n", arg=before.get("patches") or 0)
        assert page.evaluate("() => fleetMap.markers.stats.draws") == before["draws"]  # patched, not redrawn
        at = page.evaluate("() => fleetMap.position(900010)")
        assert at["drawn"]
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
        page.wait_for_selector("#card:not([hidden])")
        assert page.inner_text("[data-f=name]") == "Crowd 10"
