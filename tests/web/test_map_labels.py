"""Vehicle labels at street zoom: placed so that none overlaps another label or a marker; a label that finds no
free spot is left out and its name shows on hover."""

import math

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_account, make_device, make_org, make_user
from tests.web.browser import BrowserTestCase, fix, send_positions

pytestmark = pytest.mark.browser

LAT, LON = 60.17, 24.94
M_PER_DEG = 111_320.0


def _overlap(a: dict, b: dict) -> bool:
    across = a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
    return across and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


class MapLabelTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.org = make_org("a")
        self.user = make_user(get_user_model(), "alice", self.org)
        self.account = make_account(self.org, "Data Trak A")

    def place(self, spacing_m: float, columns: int, rows: int) -> list:
        devices = []
        for i in range(columns * rows):
            device = make_device(self.org, f"Delivery van {i:02d}", self.account)
            lat = LAT + (i // columns) * spacing_m / M_PER_DEG
            lon = LON + (i % columns) * spacing_m / (M_PER_DEG * math.cos(math.radians(LAT)))
            send_positions(device, fix(device, lat, lon, 20, speed=0.0, ignition=False))
            devices.append(device)
        return devices

    def open_at(self, devices: int, zoom: int) -> dict:
        self.log_in()
        self.wait_for_map(devices)
        centre = f"[{LAT + 0.0002}, {LON + 0.0004}]"
        self.page.evaluate(f"() => fleetMap.map.setView({centre}, {zoom}, {{ animate: false }})")
        self.page.evaluate("() => fleetMap.markers.redraw()")
        return self.page.evaluate("() => fleetMap.markers.labels")

    def test_crowded_labels_never_overlap_and_a_hidden_one_shows_on_hover(self):
        devices = self.place(spacing_m=15, columns=4, rows=3)  # ~25 px apart at zoom 17: names are ~90 px wide
        labels = self.open_at(len(devices), 17)
        shown, hidden = labels["shown"], labels["hidden"]
        assert len(shown) + len(hidden) == len(devices)
        assert shown and hidden  # some fit, not all
        for i, a in enumerate(shown):
            for b in shown[i + 1 :]:
                assert not _overlap(a, b), (a, b)
        # the canvas is offset from the map container by the draw padding: hover through the device's own position
        target = next(d for d in devices if d.pk == hidden[0])
        point = self.page.evaluate(f"() => fleetMap.markers.screenPosition({target.pk})")
        box = self.page.locator("#map").bounding_box()
        self.page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
        self.page.wait_for_function(
            "name => [...document.querySelectorAll('.leaflet-tooltip')].some((t) => t.textContent.includes(name))",
            arg=target.name,
        )

    def test_spread_out_vehicles_all_get_their_label(self):
        devices = self.place(spacing_m=150, columns=3, rows=2)  # ~250 px apart at zoom 17
        labels = self.open_at(len(devices), 17)
        assert labels["hidden"] == []
        assert sorted(label["id"] for label in labels["shown"]) == sorted(d.pk for d in devices)

    def test_no_labels_below_street_zoom(self):
        devices = self.place(spacing_m=150, columns=3, rows=2)
        labels = self.open_at(len(devices), 13)
        assert labels == {"shown": [], "hidden": []}
