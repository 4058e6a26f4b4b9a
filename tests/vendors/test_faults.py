"""Every fault knob, alone and together, ends with stored data equal to the vendor's truth."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from fleet.tracking import ingest
from fleet.tracking.models import Position
from fleet.vendors import ratelimit, sync
from fleet.vendors.models import VendorAccount
from tests.vendors.conftest import make_sim_account, stored_keys, sync_until_ok, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)


def assert_matches_truth(sim, account: VendorAccount) -> None:
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert Position.objects.filter(device__account=account).count() == len(truth_keys(truth))


@pytest.fixture
def datatrak(simulator):
    sim = simulator("datatrak", devices=4)
    return sim, make_sim_account(sim, "datatrak")


def test_a_429_reschedules_the_account_after_retry_after_and_doubles(datatrak):
    sim, account = datatrak
    sim.set_faults(rate_limit={"every": 1, "retry_after": 2})
    first = sync.sync_account(account)
    account.refresh_from_db()
    assert first.status == "error" and "rate limited" in first.error
    assert timedelta(seconds=1.5) < account.next_run - timezone.now() <= timedelta(seconds=2)
    sync.sync_account(account)
    account.refresh_from_db()
    assert timedelta(seconds=3.5) < account.next_run - timezone.now() <= timedelta(seconds=4)
    assert not account.disabled_by_error
    sim.set_faults(reset=True)
    assert sync_until_ok(account)[-1].status == "ok"
    assert_matches_truth(sim, account)


def test_rate_limit_backoff_is_capped_at_a_minute(datatrak):
    sim, account = datatrak
    sim.set_faults(rate_limit={"every": 1, "retry_after": 50})
    VendorAccount.objects.filter(pk=account.pk).update(consecutive_errors=3)
    account.refresh_from_db()
    sync.sync_account(account)
    account.refresh_from_db()
    assert timedelta(seconds=55) < account.next_run - timezone.now() <= timedelta(seconds=60)


@pytest.mark.parametrize(
    "knob",
    [
        pytest.param({"errors": {"status": 503, "count": 3}}, id="503-burst"),
        pytest.param({"errors": {"status": 500, "count": 2}}, id="500-burst"),
        pytest.param({"slow": {"delay": 3, "count": 2}}, id="slower-than-timeout"),
        pytest.param({"malformed": {"count": 2, "mode": "truncated"}}, id="truncated-json"),
        pytest.param({"malformed": {"count": 1, "mode": "garbage"}}, id="garbage-body"),
        pytest.param({"expire_sessions": True}, id="expired-session"),
        pytest.param({"duplicates": 0.3}, id="duplicated-positions"),
    ],
)
def test_a_fault_alone_ends_with_the_vendors_data_stored_once(datatrak, knob):
    sim, account = datatrak
    sim.set_faults(**knob)
    runs = sync_until_ok(account)
    assert runs[-1].status == "ok", [r.error for r in runs]
    assert_matches_truth(sim, account)


def test_an_expired_session_is_renewed_once_mid_sync(datatrak):
    sim, account = datatrak
    sync.sync_account(account)
    logins = sim.stats()["logins"]
    sim.set_faults(expire_sessions=True)
    account.refresh_from_db()
    assert sync.sync_account(account).status == "ok"
    assert sim.stats()["logins"] > logins


def test_late_positions_are_picked_up_by_the_lookback(simulator):
    sim = simulator("datatrak", devices=4, lag=900)
    account = make_sim_account(sim, "datatrak")
    sim.set_faults(out_of_order={"fraction": 0.3, "delay": 90})
    sim.clock(advance=300)
    assert sync.sync_account(account).status == "ok"
    for _ in range(3):
        sim.clock(advance=200)
        account.refresh_from_db()
        assert sync.sync_account(account).status == "ok"
    assert_matches_truth(sim, account)


def test_invalid_positions_are_rejected_and_counted_while_their_batch_is_stored(datatrak):
    sim, account = datatrak
    sim.set_faults(bad_positions=0.05)
    run = sync.sync_account(account)
    truth = sim.truth(all=True)
    bad = [p for p in truth["positions"] if p.get("bad")]
    assert bad, "the knob corrupted nothing"
    assert run.status == "ok"
    assert run.rejected == len(bad)
    assert set(run.counts["positions"]["reasons"]) <= {
        "latitude out of range",
        "not a finite number",
        "fix time in the future",
    }
    assert stored_keys(account) == truth_keys(truth)  # every good one, no bad one


def test_all_faults_together_then_recovery_end_with_the_truth(simulator):
    sim = simulator("datatrak", devices=4, lag=600)
    account = make_sim_account(sim, "datatrak")
    sim.set_faults(
        rate_limit={"every": 7, "retry_after": 0.1},
        errors={"status": 503, "count": 2},
        slow={"delay": 3, "count": 1},
        malformed={"count": 1, "mode": "truncated"},
        expire_sessions=True,
        duplicates=0.2,
        out_of_order={"fraction": 0.2, "delay": 60},
    )
    for _ in range(6):
        sim.clock(advance=100)
        account.refresh_from_db()
        sync.sync_account(account)
    sim.set_faults(reset=True)
    assert sync_until_ok(account)[-1].status == "ok"
    assert_matches_truth(sim, account)


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it on the way out."""


def test_a_sync_killed_mid_run_and_rerun_loses_and_duplicates_nothing(simulator, monkeypatch):
    sim = simulator("datatrak", devices=120)  # three chunks of 50 devices
    account = make_sim_account(sim, "datatrak")
    batches = []

    def die_after_first_batch(org, stored):
        batches.append(len(stored))
        raise Killed

    ingest.subscribe(die_after_first_batch)
    try:
        with pytest.raises(Killed):
            sync.sync_account(account)
    finally:
        ingest._subscribers.remove(die_after_first_batch)
    partial = Position.objects.filter(device__account=account).count()
    assert 0 < partial < len(sim.truth(all=True)["positions"])
    account.refresh_from_db()
    assert sync.sync_account(account).status == "ok"
    assert_matches_truth(sim, account)


def test_a_sync_process_killed_with_sigkill_and_rerun_loses_and_duplicates_nothing(simulator):
    sim = simulator("datatrak", devices=150)
    account = make_sim_account(sim, "datatrak")
    sim.set_faults(slow={"delay": 0.8, "count": 100})
    env = {**os.environ, "DATABASE_URL": _this_database_url(), "VENDOR_HTTP_TIMEOUT": "5"}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sync", account.name],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not Position.objects.filter(device__account=account).exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the sync never stored anything"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert Position.objects.filter(device__account=account).count() < len(sim.truth(all=True)["positions"])
    ratelimit.client().delete(sync.lock_key(account.pk))  # the dead worker's lock would expire within a minute
    sim.set_faults(reset=True)
    account.refresh_from_db()
    assert sync.sync_account(account).status == "ok"
    assert_matches_truth(sim, account)


def _this_database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"spatialite:///{s['NAME']}"
    return f"postgis://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def test_prefetching_hands_over_the_producers_error_and_stops_with_the_consumer():
    def failing():
        yield 1
        raise sync.VendorError("vendor fell over")

    got = []
    with pytest.raises(sync.VendorError, match="fell over"):
        for item in sync.prefetched(failing()):
            got.append(item)
    assert got == [1]
    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    for item in sync.prefetched(endless(), depth=2):
        if item == 3:
            break
    assert len(produced) < 10  # the producer stopped soon after the consumer did


def test_a_step_longer_than_the_locks_life_keeps_the_lock(datatrak, monkeypatch):
    """The lock is renewed by a thread while the run lives, not only between batches: a step slowed past the
    lock's life (a loaded machine) neither loses the lock nor lets a second worker in."""
    sim, account = datatrak
    monkeypatch.setattr(sync, "LOCK_TTL_S", 1)
    from fleet.vendors.traccar import TraccarConnector

    devices = TraccarConnector.devices
    second: list = []

    def slow_devices(self):
        time.sleep(2.5)
        try:
            sync.sync_account(VendorAccount.objects.get(pk=account.pk))
        except sync.Busy:
            second.append("busy")
        return devices(self)

    monkeypatch.setattr(TraccarConnector, "devices", slow_devices)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert second == ["busy"]
    assert not ratelimit.client().exists(sync.lock_key(account.pk))  # released at the end
    assert_matches_truth(sim, account)


def test_a_run_whose_lock_vanished_stops_without_counting_an_error(datatrak, monkeypatch):
    """Redis restarted under the run (its lock gone): the run stops at its next check, is recorded with the
    reason, counts no vendor error and the next run is due at once; nothing stored is lost."""
    sim, account = datatrak
    monkeypatch.setattr(sync, "LOCK_TTL_S", 1)
    from fleet.vendors.traccar import TraccarConnector

    devices = TraccarConnector.devices

    def devices_then_lock_gone(self):
        ratelimit.client().delete(sync.lock_key(account.pk))
        time.sleep(0.6)  # the keeper's next renewal finds it gone
        return devices(self)

    monkeypatch.setattr(TraccarConnector, "devices", devices_then_lock_gone)
    run = sync.sync_account(account)
    account.refresh_from_db()
    assert run.status == "error" and "sync lock was lost" in run.error, run.error
    assert account.consecutive_errors == 0 and not account.disabled_by_error
    assert account.next_run - timezone.now() <= timedelta(seconds=sync.CATCH_UP_S)
    monkeypatch.setattr(TraccarConnector, "devices", devices)
    assert sync_until_ok(account)[-1].status == "ok"
    assert_matches_truth(sim, account)
