"""fleet-v2 (Telemax) against its simulator over real HTTP: what is stored equals what the simulator served."""

import logging

import pytest

from fleet.tracking.models import Device, Event
from fleet.vendors import ratelimit, sync
from fleet.vendors.fleetv2 import sunset_key
from tests.vendors.conftest import make_sim_account, stored_keys, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "6f1c2d7e-4b1a-4c55-9a3e-2f0d8b7c9e11"


@pytest.fixture(autouse=True)
def short_window(settings):
    """The simulator counts its limits over 6 s in these tests (60 at the vendor); so does the connector."""
    settings.FLEETV2_RATE_WINDOW_S = 6.0


def fleetv2(simulator, **opts):
    opts.setdefault("token", API_KEY)
    opts.setdefault("rate_window", 6.0)
    return simulator("fleetv2", **opts)


def account_on(sim, org=None, name="fleetv2-sim", **creds):
    return make_sim_account(sim, "fleetv2", org=org, name=name, **(creds or {"api_key": API_KEY}))


def stored_alerts(account) -> list[tuple[str, str, str]]:
    rows = Event.objects.filter(device__account=account).values_list("device__vendor_id", "key", "type")
    return sorted(rows)


def truth_alerts(truth) -> list[tuple[str, str, str]]:
    names = {7: "deviceOverspeed", 18: "ignitionOn", 19: "ignitionOff", 24: "geofenceEnter", 25: "geofenceExit"}
    return sorted((str(a["deviceId"]), f"{a['id']}@{a['utcTime']}", names[a["code"]]) for a in truth["alerts"])


def clear_buckets():
    client = ratelimit.client()
    for key in client.scan_iter("fleet:bucket:fleetv2:*"):
        client.delete(key)
    for key in client.scan_iter("fleet:sunset:*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def fresh_buckets():
    clear_buckets()
    yield
    clear_buckets()


def test_a_full_sync_stores_exactly_what_the_simulator_served(simulator):
    sim = fleetv2(simulator, devices=6, history=1800, frozen=True)
    account = account_on(sim)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert stored_alerts(account) == truth_alerts(truth)
    assert {"ignitionOn", "ignitionOff"} <= {t for _d, _k, t in stored_alerts(account)}
    devices = {d.vendor_id: d for d in Device.objects.filter(account=account)}
    assert {str(v) for v in truth["imeis"].values()} == set(devices)
    assert {d.unique_id: int(d.vendor_id) for d in devices.values()} == truth["imeis"]
    for vendor_id, battery in truth["battery"].items():
        health = devices[vendor_id].attributes["battery_health"]
        assert health["voltage"] == battery["voltage"]
        assert health["prediction"] == battery["prediction"]
    assert sim.stats()["rate_limited"] == 0


def test_an_incremental_sync_adds_only_what_is_new_and_loses_nothing(simulator):
    sim = fleetv2(simulator, devices=5, history=1800, lag=900)
    account = account_on(sim)
    assert sync.sync_account(account).status == "ok"
    sim.clock(advance=900)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    sim.clock(freeze=True)
    account.refresh_from_db()
    sync.sync_account(account)
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert stored_alerts(account) == truth_alerts(truth)


def test_a_vehicle_the_vendor_stops_listing_is_retired_and_the_others_are_kept(simulator):
    sim = fleetv2(simulator, devices=3, history=600, frozen=True)
    account = account_on(sim)
    sync.sync_account(account)
    account.refresh_from_db()
    sync.sync_account(account)
    assert Device.objects.filter(account=account, retired__isnull=True).count() == 3
