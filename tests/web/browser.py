"""Browser-test plumbing: Debian's Chromium through Playwright against a live Daphne (HTTP + WebSocket).

Pages run under fleet's Content-Security-Policy, which forbids eval: give ``wait_for_function`` a function
("() => …"), never a bare expression (Playwright evals those in the page). A test fails on any violation."""

import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from asgiref.sync import SyncToAsync
from channels.testing import ChannelsLiveServerTestCase
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from playwright.sync_api import Page, sync_playwright

from fleet.tracking import ingest
from fleet.tracking.records import PositionRecord
from tests.conftest import make_account, make_device, make_org, make_user

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXTERNAL = re.compile(r"^https?://(?!localhost[:/]|127\.0\.0\.1[:/])")
# In every page before its own scripts: report each Content-Security-Policy violation on the console.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`csp-violation ${e.effectiveDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _fresh_executors_after_fork() -> None:
    """Daphne runs in a forked child. If earlier tests in this process used sync_to_async, the class-wide
    single-thread executor believes its worker thread exists, but threads do not survive a fork: every
    database_sync_to_async in the child would wait forever. Give the child a new executor."""
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_fresh_executors_after_fork)


def private_layers() -> dict:
    """The shared Redis also serves dev servers and other test runs: a prefix of our own."""
    layers = {name: {**cfg} for name, cfg in settings.CHANNEL_LAYERS.items()}
    layers["default"]["CONFIG"] = {**layers["default"]["CONFIG"], "prefix": f"web{uuid.uuid4().hex[:8]}"}
    return layers


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def send_positions(device, *records: PositionRecord) -> None:
    ingest.positions(device.organization_id, device.account_id, list(records))


def fix(device, lat: float, lon: float, seconds_ago: float = 0, speed: float = 0.0, ignition=None, **kw):
    attrs = {} if ignition is None else {"ignition": ignition}
    return PositionRecord(
        device.vendor_id, now() - timedelta(seconds=seconds_ago), lat, lon, speed=speed, attributes=attrs, **kw
    )


def private_caches() -> dict:
    """The cache (Redis) outlives a test run: a key prefix of our own, so nothing a run claimed (a notification
    rule's interval, a throttle) is seen by the next."""
    return {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"web{uuid.uuid4().hex[:8]}"}}


@override_settings(CHANNEL_LAYERS=private_layers(), CACHES=private_caches())
class BrowserTestCase(ChannelsLiveServerTestCase):
    """Starts Daphne (in setUpClass, after the private channel layer is in place) and one Chromium."""

    host = "localhost"

    @classmethod
    def setUpClass(cls) -> None:
        # Playwright's sync API runs an event loop in this thread; the ORM calls around it are still sync.
        # Only while these tests run: the variable must not leak into other tests' subprocesses.
        cls._async_unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        super().setUpClass()
        cls._pw = sync_playwright().start()
        cls.browser = cls._pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.browser.close()
        cls._pw.stop()
        super().tearDownClass()
        if cls._async_unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = cls._async_unsafe

    def setUp(self) -> None:
        ingest.forget_devices()
        self.context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.route(EXTERNAL, lambda route: route.abort())  # no tile servers in tests
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.csp_violations: list[str] = []
        self.context.add_init_script(CSP_LISTENER)
        self.page.on("console", self._on_console)

    def _on_console(self, message) -> None:
        if message.text.startswith("csp-violation") or "Content Security Policy" in message.text:
            self.csp_violations.append(f"{self.page.url}: {message.text}")

    def tearDown(self) -> None:
        self.context.close()
        ingest.forget_devices()
        assert not self.errors, self.errors
        assert not self.csp_violations, self.csp_violations  # every page runs under the policy, inline-free

    # ---- data ----
    def make_world(self) -> None:
        """Org A: two vendors, two groups, a moving van, a parked truck, a tag with a hostile name; org B: one van."""
        self.org = make_org("a")
        self.user = make_user(get_user_model(), "alice", self.org)
        self.datatrak = make_account(self.org, "Data Trak A", kind="datatrak")
        self.safectory = make_account(self.org, "Safectory A", kind="safectory")
        from fleet.tracking.models import DeviceGroup

        vans = DeviceGroup.objects.create(organization=self.org, name="Vans")
        trucks = DeviceGroup.objects.create(organization=self.org, name="Trucks")
        self.van = make_device(self.org, "Van 01", self.datatrak, group=vans, plate="VAN-001", unique_id="356000001")
        self.truck = make_device(self.org, "Truck 02", self.datatrak, group=trucks, plate="TRK-002")
        self.tag = make_device(self.org, "<img src=x onerror=alert(1)>", self.safectory, vendor_id="tag1")
        self.quiet = make_device(self.org, "Never Reported", self.datatrak)
        send_positions(self.van, fix(self.van, 60.170, 24.940, 20, speed=40.0, ignition=True, course=90.0))
        send_positions(self.truck, fix(self.truck, 60.180, 24.960, 30, speed=0.0, ignition=False))
        send_positions(self.tag, fix(self.tag, 60.160, 24.920, 10, speed=0.0, ignition=True))
        self.org_b = make_org("b")
        self.other = make_device(self.org_b, "Org B van", make_account(self.org_b, "B acct"))
        send_positions(self.other, fix(self.other, 60.175, 24.945, 5, speed=10.0, ignition=True))

    def drive_and_park(self) -> None:
        """20 minutes of the van driving east, then parked for 8 minutes (one stop): a replay with a route."""
        records = [
            fix(self.van, 60.17, 24.90 + i * 0.002, 1800 - i * 60, speed=40.0, ignition=True, course=90.0)
            for i in range(20)
        ]
        records += [fix(self.van, 60.17, 24.94, 600 - i * 60, speed=0.0, ignition=False) for i in range(9)]
        send_positions(self.van, *records)

    # ---- browser ----
    def log_in(self, page: Page | None = None, username: str = "alice") -> Page:
        page = page or self.page
        page.goto(f"{self.live_server_url}/login/", wait_until="domcontentloaded")
        page.fill("#id_username", username)
        page.fill("#id_password", "pw-" + username)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.live_server_url}/", wait_until="domcontentloaded")
        return page

    def wait_for_map(self, devices: int) -> None:
        self.page.wait_for_function(
            "n => window.fleetMap && fleetMap.store.devices.size === n && fleetMap.stats.firstRenderMs !== null",
            arg=devices,
        )

    def counts(self) -> dict:
        return self.page.evaluate("window.fleetMap.counts()")
