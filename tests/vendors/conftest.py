"""Vendor tests run against the simulators over real HTTP/WebSocket on 127.0.0.1."""

import pytest

from fleet.simulators.server import RunningSimulator
from fleet.tracking.models import Position
from fleet.vendors.models import VendorAccount
from tests.conftest import make_org


@pytest.fixture(autouse=True)
def fast_http(settings):
    settings.VENDOR_HTTP_TIMEOUT = 1.0
    settings.VENDOR_HTTP_ATTEMPTS = 4
    settings.VENDOR_INITIAL_HISTORY_S = 2 * 3600


@pytest.fixture
def simulator(simulator):
    """The shared fixture, with a small fleet whose history is all visible (lag 0) by default."""

    def make(kind: str, **opts) -> RunningSimulator:
        opts.setdefault("devices", 5)
        opts.setdefault("history", 1800)
        opts.setdefault("lag", 0)
        return simulator(kind, **opts)

    return make


def make_sim_account(sim: RunningSimulator, kind: str, org=None, name: str | None = None, **creds) -> VendorAccount:
    org = org or make_org(f"org-{kind}")
    creds = creds or {"username": "demo", "password": "demo"}
    return VendorAccount.objects.create(
        organization=org, kind=kind, name=name or f"{kind}-sim", base_url=sim.url, credentials=creds
    )


def metrotec_account(sim: RunningSimulator, org=None, name: str = "metrotec-sim", **creds) -> VendorAccount:
    """An account on the Metrotec simulator; Metrotec's base URL names the API root (``…/api``)."""
    account = make_sim_account(sim, "metrotec", org=org, name=name, **creds)
    VendorAccount.objects.filter(pk=account.pk).update(base_url=sim.url + "/api")
    account.refresh_from_db()
    return account


def itrack_account(sim: RunningSimulator, org=None, name: str = "itrack-sim", **creds) -> VendorAccount:
    """An account on the iTrack simulator; its base URL names the API root (``…/api``, Navixy's ``…/v2``)."""
    account = make_sim_account(sim, "itrack", org=org, name=name, **creds)
    VendorAccount.objects.filter(pk=account.pk).update(base_url=sim.url + "/api")
    account.refresh_from_db()
    return account


@pytest.fixture
def metrotec(simulator):
    """A Metrotec simulator with five vehicles and an account on it."""
    sim = simulator("metrotec", devices=5)
    return sim, metrotec_account(sim)


def stored_keys(account: VendorAccount) -> list[tuple[str, str]]:
    """(vendor device id, fix time ISO Z) of every stored position of the account, sorted."""
    rows = Position.objects.filter(device__account=account).values_list("device__vendor_id", "fix_time")
    return sorted((vid, t.strftime("%Y-%m-%dT%H:%M:%SZ")) for vid, t in rows)


def truth_keys(truth: dict, include_bad: bool = False) -> list[tuple[str, str]]:
    keys = {(str(p["deviceId"]), p["fixTime"]) for p in truth["positions"] if include_bad or not p.get("bad")}
    return sorted(keys)


class StreamRunner:
    """Runs the stream process's task for one account in a thread with its own event loop."""

    def __init__(self, account: VendorAccount) -> None:
        import asyncio
        import threading

        from fleet.vendors.stream import stream_account

        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()
        self.opened = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(stream_account(account.pk, self.stop_event, on_open=self.opened.set))

        self.thread = threading.Thread(target=run, daemon=True, name="test-stream")
        self.thread.start()

    def stop(self) -> None:
        from django.db import connections

        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=10)
        connections.close_all()


@pytest.fixture
def stream():
    runners: list[StreamRunner] = []

    def start(account: VendorAccount) -> StreamRunner:
        runner = StreamRunner(account)
        runners.append(runner)
        assert runner.opened.wait(10), "the stream never connected"
        return runner

    yield start
    for runner in runners:
        runner.stop()


class GroupListener:
    """Receives what ingest broadcasts to an organisation's channel-layer group, in a thread."""

    def __init__(self, group: str) -> None:
        import asyncio
        import queue
        import threading

        from channels.layers import get_channel_layer

        self.messages: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.layer = get_channel_layer()

        async def listen() -> None:
            channel = await self.layer.new_channel()
            await self.layer.group_add(group, channel)
            self.ready.set()
            while True:
                message = await self.layer.receive(channel)
                self.messages.put((time.time(), message))

        self.task = self.loop.create_task(listen())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        assert self.ready.wait(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


import time  # noqa: E402


def sync_until_ok(account, tries: int = 6) -> list:
    """Sync again until a run is ok (faults on the way), at most ``tries`` times; the runs."""
    from fleet.vendors import sync

    runs = []
    for _ in range(tries):
        account.refresh_from_db()
        runs.append(sync.sync_account(account))
        if runs[-1].status == "ok":
            break
    return runs
