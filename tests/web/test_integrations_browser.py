"""The Integrations page in Chromium: a wrong API key is refused in plain words; "Sync now" queues a sync
that runs against the fleet-v2 simulator (the queued task run as a worker would), and the page's counts update
in place."""

import pytest
from django.contrib.auth import get_user_model

from fleet.celery import app as celery_app
from fleet.simulators.server import start_simulator
from fleet.vendors.models import SyncRun, VendorAccount
from fleet.vendors.tasks import sync_account as sync_task
from tests.conftest import make_account, make_org, make_user
from tests.web.browser import BrowserTestCase

pytestmark = pytest.mark.browser

API_KEY = "6f1c2d7e-4b1a-4c55-9a3e-2f0d8b7c9e11"


class IntegrationsPageTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.sim = start_simulator("fleetv2", devices=3, history=900, lag=0, frozen=True, token=API_KEY)
        self.org = make_org("a")
        self.user = make_user(get_user_model(), "alice", self.org)
        self.log_in()

    def tearDown(self) -> None:
        self.sim.stop()
        super().tearDown()

    def test_a_wrong_api_key_is_refused_with_a_clear_message(self):
        page = self.page
        page.goto(f"{self.live_server_url}/integrations/", wait_until="domcontentloaded")
        page.fill("#id_name", "Telemax")
        page.select_option("#id_kind", "fleetv2")
        page.fill("#id_base_url", self.sim.url)
        page.fill("#id_token", "not-the-key")
        page.click(".add-integration button[type=submit]")
        page.wait_for_selector("#add-error")
        assert page.inner_text("#add-error") == (
            "The vendor refused these credentials: check the username and password, or the API key."
        )
        assert not VendorAccount.objects.filter(name="Telemax").exists()
        page.fill("#id_token", API_KEY)
        page.click(".add-integration button[type=submit]")
        page.wait_for_selector("section.integration h2")
        assert "Telemax" in page.inner_text("section.integration h2")
        assert API_KEY not in page.content()

    def test_sync_now_updates_the_counts_on_the_page(self):
        account = make_account(
            self.org, "Telemax", kind="fleetv2", base_url=self.sim.url, credentials={"token": API_KEY}
        )
        page = self.page
        page.goto(f"{self.live_server_url}/integrations/", wait_until="domcontentloaded")
        assert page.inner_text(f'section[data-account="{account.pk}"] [data-field="counts"]') == "No sync has run yet."
        celery_app.control.purge()  # tasks other tests queued on this broker would come first (and may wait)
        page.click(f'section[data-account="{account.pk}"] button.sync-now')
        page.wait_for_selector("ul.messages li")
        assert "a sync is queued" in page.inner_text("ul.messages")
        # What a worker does with the queued task, done here: a worker started inside the full suite's process
        # met tasks and workers of earlier tests on the same broker (Celery workers are exercised in tests/vendors)
        celery_app.control.purge()
        sync_task(account.pk)
        page.wait_for_selector(f'section[data-account="{account.pk}"] tr[data-resource="positions"]', timeout=60_000)
        run = SyncRun.objects.get(account=account)
        created = str(run.counts["positions"]["created"])
        row = page.locator(f'section[data-account="{account.pk}"] tr[data-resource="positions"] td')
        assert row.nth(2).inner_text() == created and int(created) > 0
        assert page.inner_text(f'section[data-account="{account.pk}"] [data-field="last_success"]') != "never"
