"""Vendor tests run against the simulators over real HTTP/WebSocket on 127.0.0.1."""

from collections.abc import Iterator

import pytest

from fleet.simulators.server import RunningSimulator, start_simulator
from fleet.tracking.models import Position
from fleet.vendors.models import VendorAccount
from tests.conftest import make_org


@pytest.fixture(autouse=True)
def fast_http(settings):
    settings.VENDOR_HTTP_TIMEOUT = 1.0
    settings.VENDOR_HTTP_ATTEMPTS = 4
    settings.VENDOR_INITIAL_HISTORY_S = 2 * 3600


@pytest.fixture
def simulator() -> Iterator:
    started: list[RunningSimulator] = []

    def make(kind: str, **opts) -> RunningSimulator:
        opts.setdefault("frozen", True)
        opts.setdefault("devices", 5)
        opts.setdefault("history", 1800)
        opts.setdefault("lag", 0)
        sim = start_simulator(kind, **opts)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def make_sim_account(sim: RunningSimulator, kind: str, org=None, name: str | None = None, **creds) -> VendorAccount:
    org = org or make_org(f"org-{kind}")
    creds = creds or {"username": "demo", "password": "demo"}
    return VendorAccount.objects.create(
        organization=org, kind=kind, name=name or f"{kind}-sim", base_url=sim.url, credentials=creds
    )


def stored_keys(account: VendorAccount) -> list[tuple[str, str]]:
    """(vendor device id, fix time ISO Z) of every stored position of the account, sorted."""
    rows = Position.objects.filter(device__account=account).values_list("device__vendor_id", "fix_time")
    return sorted((vid, t.strftime("%Y-%m-%dT%H:%M:%SZ")) for vid, t in rows)


def truth_keys(truth: dict, include_bad: bool = False) -> list[tuple[str, str]]:
    keys = {(str(p["deviceId"]), p["fixTime"]) for p in truth["positions"] if include_bad or not p.get("bad")}
    return sorted(keys)
