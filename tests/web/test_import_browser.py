"""The GPX upload in Chromium: the form queues the file, and the import's page follows a real Celery worker
(Celery's embedded worker on Redis, on a queue of the test's own) from queued to the result's counts."""

import re
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.test import override_settings

from fleet.celery import app as celery_app
from fleet.tracking.models import GpxImport, Position
from tests.conftest import make_device, make_org, make_user
from tests.web.browser import BrowserTestCase
from tests.web.test_import import GPX

pytestmark = pytest.mark.browser

QUEUE = f"fleet-test-imports-{uuid.uuid4().hex[:10]}"


@override_settings(IMPORTS_QUEUE=QUEUE)
class ImportPageTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.org = make_org("a")
        self.user = make_user(get_user_model(), "alice", self.org)
        self.van = make_device(self.org, "Van 1")
        self.log_in()

    def test_an_uploads_page_follows_the_worker_to_the_counts(self):
        page = self.page
        page.goto(f"{self.live_server_url}/devices/import/", wait_until="domcontentloaded")
        page.select_option("#id_device", str(self.van.pk))
        page.set_input_files("#id_file", {"name": "morning.gpx", "mimeType": "application/gpx+xml", "buffer": GPX})
        page.click(".import-gpx button[type=submit]")  # not the top bar's log out

        page.wait_for_url(re.compile(r"/devices/import/\d+/$"), wait_until="domcontentloaded")
        job = GpxImport.objects.get()
        assert page.url == f"{self.live_server_url}/devices/import/{job.pk}/"
        page.wait_for_function("() => window.fleetJob && fleetJob.status === 'queued'")  # no worker yet
        assert page.inner_text("#job-state") == "queued"

        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[QUEUE], shutdown_timeout=30):
            page.wait_for_selector("#import-result", timeout=60_000)

        counts = "4 points read, 3 stored, 0 duplicates, 1 rejected (no time: 1)"
        assert page.inner_text("#import-result") == f"Van 1: {counts}."
        assert Position.objects.filter(device=self.van).count() == 3
        page.click("text=Import another file")
        page.wait_for_url(f"{self.live_server_url}/devices/import/", wait_until="domcontentloaded")
        assert "morning.gpx" in page.inner_text(".import-recent")
