"""The offline street map in Chromium: when the tile server does not answer, the live map and the shared-location
page draw the demo streets from the PMTiles archive fleet serves (protomaps-leaflet, under the pages' policy)."""

import socket

import pytest
from django.conf import settings
from django.test import override_settings

from fleet.live.models import ShareLink
from fleet.settings import _tile_origin
from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser


def closed_port() -> int:
    """A port nothing listens on (just bound and let go): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REFUSED = f"http://127.0.0.1:{closed_port()}/{{z}}/{{x}}/{{y}}.png"
STALLED = "https://tiles.stalled.test/{z}/{x}/{y}.png"  # answered by nothing: every tile hangs
# Pixels of the offline layer's tile canvases: drawn (opaque) ones, and those that are neither the archive's
# "no data" background (#cccccc) nor its land (#e2dfda): streets and their names.
DRAWN = """() => {
  const plain = [[0xcc, 0xcc, 0xcc], [0xe2, 0xdf, 0xda]];
  let all = 0, drawn = 0, streets = 0;
  for (const canvas of document.querySelectorAll("canvas.leaflet-tile-loaded")) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      all += 1;
      if (data[i + 3] < 255) continue;
      drawn += 1;
      const near = ([r, g, b]) => Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 12;
      if (!plain.some(near)) streets += 1;
    }
  }
  return { all, drawn: all ? drawn / all : 0, streets: all ? streets / all : 0 };
}"""

# Until it holds: a page's own move (the share page zooms to its vehicle) may still be animating.
SET_VIEW = """([name, at]) => {
  const map = window[name].map;
  if (map.getZoom() === 16 && map.getCenter().distanceTo(at) < 5) return true;
  map.setView(at, 16, { animate: false });
  return false;
}"""


def tiles_from(url: str) -> dict:
    """LEAFLET_CONFIG and the policy for a map whose one tile server is `url`."""
    leaflet = {**settings.LEAFLET_CONFIG, "TILES": [("Map", url, {"attribution": "Test tiles", "maxZoom": 19})]}
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    origin = _tile_origin(url)
    policy = {"DIRECTIVES": {**directives, "img-src": [*directives["img-src"], origin]}}
    return {"LEAFLET_CONFIG": leaflet, "CONTENT_SECURITY_POLICY": policy}


class OfflineMapCase(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        self.archive_answers: list[int] = []
        self.page.on(
            "response", lambda r: self.archive_answers.append(r.status) if "/basemap.pmtiles" in r.url else None
        )

    def wait_for_offline_map(self) -> None:
        self.page.wait_for_function(
            "() => !document.querySelector('#tile-note')?.hidden && document.querySelector('canvas.leaflet-tile')"
        )

    def pixels(self, at: tuple[float, float], streets: bool = True) -> dict:
        """Centre the map on `at` at zoom 16 and wait until its offline tiles are drawn (with streets, or not)."""
        self.page.wait_for_function(SET_VIEW, arg=[self.map_global, at])
        condition = "s.streets > 0.005" if streets else "s.drawn > 0.95"
        self.page.wait_for_function(f"() => {{ const s = ({DRAWN})(); return s.all > 0 && {condition}; }}")
        return self.page.evaluate(DRAWN)


@override_settings(**tiles_from(REFUSED))
class RefusedTileServerTests(OfflineMapCase):
    map_global = "fleetMap"

    def test_the_live_map_draws_the_offline_streets_when_the_tile_server_refuses(self):
        self.log_in()
        self.wait_for_map(4)
        self.wait_for_offline_map()
        assert self.page.inner_text("#tile-note") == "Map tiles unavailable: showing the offline street map."
        base = self.page.locator(".leaflet-control-layers-base label", has=self.page.locator("input:checked"))
        assert base.inner_text().strip() == "Offline streets"  # the layers control says which map is shown
        seen = self.pixels((60.1700, 24.9440))  # Esplanadi, in the middle of the demo's streets
        assert seen["drawn"] > 0.95 and seen["streets"] > 0.005, seen
        assert 206 in self.archive_answers and set(self.archive_answers) <= {200, 206}, self.archive_answers

    def test_where_the_archive_has_no_streets_the_same_count_finds_none(self):
        self.log_in()
        self.wait_for_map(4)
        self.wait_for_offline_map()
        seen = self.pixels((52.5200, 13.4000), streets=False)  # Berlin: the demo archive has no data there
        assert seen["drawn"] > 0.95 and seen["streets"] == 0, seen  # so the street count above can fail

    def test_the_shared_location_page_falls_back_too(self):
        _, key = ShareLink.issue(self.van, self.user, 1)
        self.page.goto(f"{self.live_server_url}/s/{key}/")  # public: no login
        self.page.wait_for_function("() => window.fleetShare && window.fleetShare.markers() === 1")
        self.map_global = "fleetShare"
        seen = self.pixels((60.1700, 24.9400))
        assert seen["streets"] > 0.005, seen


@override_settings(**tiles_from(STALLED))
class StalledTileServerTests(OfflineMapCase):
    map_global = "fleetMap"

    def test_a_tile_server_that_never_answers_gives_way_to_the_offline_map_within_seconds(self):
        self.page.route("https://tiles.stalled.test/**", lambda route: None)  # held, never answered
        self.log_in()
        self.wait_for_map(4)
        self.wait_for_offline_map()
        seen = self.pixels((60.1700, 24.9440))
        assert seen["streets"] > 0.005, seen
