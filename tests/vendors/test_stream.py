import queue
import time
from datetime import UTC, datetime

import pytest

from fleet.live.broadcast import group_name
from fleet.tracking.models import Beacon, Device, Position
from fleet.vendors import sync
from fleet.vendors.models import VendorAccount
from tests.vendors.conftest import GroupListener, make_sim_account

pytestmark = pytest.mark.django_db(transaction=True)


def live_sim(simulator, kind: str, **opts):
    return simulator(kind, frozen=False, lag=0, history=600, tick=0.05, **opts)


def test_a_pushed_position_reaches_the_database_and_a_broadcast_batch_within_a_second(simulator, stream):
    sim = live_sim(simulator, "datatrak", devices=20, interval=2)
    account = make_sim_account(sim, "datatrak")
    sync.sync_account(account)  # the devices are known (a socket's position of an unknown device is refused)
    listener = GroupListener(group_name(account.organization_id))
    try:
        stream(account)
        connected = time.time()
        latencies = []
        deadline = time.monotonic() + 15
        while len(latencies) < 10 and time.monotonic() < deadline:
            try:
                received, message = listener.messages.get(timeout=1)
            except queue.Empty:
                continue
            if message.get("type") != "positions.batch":
                continue  # the group also carries state changes and the event engine's events
            for device_pk, fix_epoch, lat, _lon, *_ in message["positions"]:
                fix = datetime.fromtimestamp(fix_epoch, UTC)
                if fix_epoch > connected:  # a live push, not the greeting's latest positions
                    latencies.append(received - fix_epoch)
                    assert Position.objects.filter(device_id=device_pk, fix_time=fix, latitude=lat).exists()
    finally:
        listener.stop()
    assert len(latencies) >= 10, "too few live positions arrived"
    # The simulator pushes a fix within one tick (50 ms) of its time; the rest is our path.
    assert max(latencies) < 1.0, latencies


def test_the_stream_marks_the_account_connected_and_reconnects_after_a_drop(simulator, stream):
    sim = live_sim(simulator, "datatrak", devices=5)
    account = make_sim_account(sim, "datatrak")
    runner = stream(account)
    assert VendorAccount.objects.get(pk=account.pk).stream_connected
    runner.opened.clear()
    sim.set_faults(drop_socket=True)
    assert runner.opened.wait(10), "no reconnect after the socket dropped"
    assert sim.stats()["sockets_opened"] >= 2
    assert sim.stats()["logins"] >= 2  # a fresh session for the new socket


def test_the_stream_logs_in_again_when_the_session_expired(simulator, stream):
    sim = live_sim(simulator, "datatrak", devices=3)
    account = make_sim_account(sim, "datatrak")
    runner = stream(account)
    runner.opened.clear()
    sim.set_faults(expire_sessions=True, drop_socket=True)
    assert runner.opened.wait(10)
    assert sim.stats()["sockets_rejected"] == 0  # it never tried the dead session


def test_a_safectory_socket_that_answers_pings_stays_up_past_three_intervals(simulator, stream):
    sim = live_sim(simulator, "safectory", devices=4, ping_interval=0.3)
    account = make_sim_account(sim, "safectory")
    stream(account)
    time.sleep(1.5)
    stats = sim.stats()
    assert stats["pings_sent"] >= 3
    assert stats["pongs_received"] >= 3
    assert stats["sockets_pong_timeout"] == 0
    assert stats["sockets_opened"] == 1 and stats["sockets_open"] == 1


def test_the_safectory_greeting_brings_devices_beacons_and_positions(simulator, stream):
    sim = live_sim(simulator, "safectory", devices=4)
    account = make_sim_account(sim, "safectory")
    stream(account)
    deadline = time.monotonic() + 5
    while not (
        Beacon.objects.filter(account=account).exists() and Position.objects.filter(device__account=account).exists()
    ):
        assert time.monotonic() < deadline, "greeting not applied"
        time.sleep(0.1)
    truth = sim.truth()
    assert Beacon.objects.filter(account=account).count() == len(truth["beacons"])
    assert Device.objects.filter(account=account).count() == len(truth["devices"])
