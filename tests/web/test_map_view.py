"""The live map's first view: where most of the fleet is (not a box around a far-away outlier), "fit all", and an
organisation admin's home view that then opens the map for every member."""

import pytest
from django.urls import reverse

from fleet.core.models import Membership
from tests.conftest import make_device, make_user
from tests.web.browser import EXTERNAL, BrowserTestCase, fix, send_positions

pytestmark = pytest.mark.browser


class MapViewTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()
        far = [make_device(self.org, f"Berlin {i}", self.datatrak) for i in range(2)]  # the warehouse in Germany
        for i, device in enumerate(far):
            send_positions(device, fix(device, 52.52 + i / 100, 13.40, 30, speed=0.0))

    def centre(self) -> tuple[float, float, int]:
        return tuple(
            self.page.evaluate(
                "() => { const c = fleetMap.map.getCenter(); return [c.lat, c.lng, fleetMap.map.getZoom()]; }"
            )
        )

    def test_the_map_opens_on_the_densest_cluster_and_fit_all_shows_everyone(self):
        self.log_in()
        self.wait_for_map(6)
        lat, lon, zoom = self.centre()
        assert 60.1 < lat < 60.25 and 24.85 < lon < 25.05 and zoom >= 10  # Helsinki, not northern Europe
        self.page.click("#fit-all")
        self.page.wait_for_function("() => fleetMap.map.getBounds().contains([52.52, 13.40])")
        assert self.page.evaluate("() => fleetMap.map.getBounds().contains([60.17, 24.94])")

    def test_an_admin_sets_the_home_view_and_it_opens_the_map_for_a_dispatcher_too(self):
        from django.contrib.auth import get_user_model

        make_user(get_user_model(), "dora", self.org, role=Membership.Role.DISPATCHER)
        self.log_in()
        self.wait_for_map(6)
        self.page.evaluate("() => fleetMap.map.setView([60.30, 25.10], 12, { animate: false })")
        self.page.click("#set-home")
        self.page.wait_for_function("() => document.getElementById('set-home').dataset.saved === 'true'")
        self.org.refresh_from_db()
        assert self.org.map_home == {"lat": pytest.approx(60.30), "lon": pytest.approx(25.10), "zoom": 12}
        other = self.context.browser.new_context()
        page = other.new_page()
        page.route(EXTERNAL, lambda route: route.abort())
        self.log_in(page, "dora")
        page.wait_for_function("() => window.fleetMap && fleetMap.stats.firstRenderMs !== null")
        lat, lon, zoom = page.evaluate(
            "() => { const c = fleetMap.map.getCenter(); return [c.lat, c.lng, fleetMap.map.getZoom()]; }"
        )
        assert abs(lat - 60.30) < 0.01 and abs(lon - 25.10) < 0.01 and zoom == 12
        assert page.locator("#set-home").count() == 0  # a dispatcher does not set it
        other.close()


@pytest.mark.django_db
def test_only_admins_set_a_home_view_and_only_a_sane_one(client, org_a, django_user_model):
    admin = make_user(django_user_model, "ada", org_a)
    dispatcher = make_user(django_user_model, "dan", org_a, role=Membership.Role.DISPATCHER)
    url = reverse("map-home")
    client.force_login(dispatcher)
    assert client.post(url, {"lat": 60, "lon": 25, "zoom": 9}, content_type="application/json").status_code == 403
    client.force_login(admin)
    for bad in ("nope", [], {"lat": 91, "lon": 0, "zoom": 5}, {"lat": 60, "lon": 25, "zoom": 99}, {"lat": "60"}):
        response = client.post(url, bad, content_type="application/json")
        assert response.status_code == 400 and "lat" in response.json()["error"]
    assert client.post(url, {"lat": 60.2, "lon": 25, "zoom": 9}, content_type="application/json").status_code == 200
    org_a.refresh_from_db()
    assert org_a.map_home == {"lat": 60.2, "lon": 25.0, "zoom": 9}
