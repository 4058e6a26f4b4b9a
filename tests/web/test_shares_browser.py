"""A shared live location in Chromium: the public page shows the one vehicle, follows it, and empties itself
when the link expires."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fleet.live.models import ShareLink
from tests.web.browser import BrowserTestCase, fix, send_positions

pytestmark = pytest.mark.browser


class SharedLocationTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_world()

    def test_the_link_shows_one_vehicle_follows_it_and_expires(self):
        link, key = ShareLink.issue(self.van, self.user, 1, label="Your parcel <b>today</b>")
        page = self.page  # not logged in: a customer
        page.goto(f"{self.live_server_url}/s/{key}/")
        page.wait_for_function("() => window.fleetShare && window.fleetShare.markers() === 1")
        assert page.inner_text("#share-title") == "Your parcel <b>today</b>"
        assert page.locator("path.share-vehicle").count() == 1  # one vehicle, none of the organisation's others
        assert "Last seen" in page.inner_text("#share-status")
        before = page.evaluate("() => document.querySelector('path.share-vehicle').getAttribute('d')")
        send_positions(self.van, fix(self.van, 60.172, 24.960, 0, speed=35.0))
        page.evaluate("() => window.fleetShare.poll()")
        page.wait_for_function("d => document.querySelector('path.share-vehicle').getAttribute('d') !== d", arg=before)
        ShareLink.objects.filter(pk=link.pk).update(expires=timezone.now() - timedelta(seconds=1))
        page.evaluate("() => window.fleetShare.poll()")
        page.wait_for_function("() => document.body.dataset.gone === 'true'")
        assert page.locator("path.share-vehicle").count() == 0
        assert "expired" in page.inner_text("#share-status")
        page.reload()
        assert page.inner_text("h1") == "This link has expired"
