import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fleet.vendors import ratelimit, tasks
from fleet.vendors.models import SyncRun, VendorAccount
from tests.conftest import make_account, make_org
from tests.vendors.conftest import make_sim_account

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.sync_account, "delay", lambda account_id: calls.append(account_id))
    return calls


def test_beat_queues_due_accounts_once_and_pushes_their_next_run_out(org_a, queued):
    due = make_account(org_a, "due", next_run=timezone.now() - timedelta(seconds=1))
    make_account(org_a, "later", next_run=timezone.now() + timedelta(minutes=5))
    make_account(org_a, "off", enabled=False, next_run=timezone.now() - timedelta(seconds=1))
    make_account(org_a, "broken", disabled_by_error=True, next_run=timezone.now() - timedelta(seconds=1))
    assert tasks.enqueue_due_syncs() == 1
    assert queued == [due.pk]
    assert tasks.enqueue_due_syncs() == 0  # claimed: not queued twice
    due.refresh_from_db()
    assert due.next_run > timezone.now()


def test_the_sync_task_skips_a_disabled_account(org_a):
    account = make_account(org_a, disabled_by_error=True)
    assert tasks.sync_account(account.pk) is None


def test_the_token_bucket_is_shared_and_refills():
    client = ratelimit.client()
    client.delete("fleet:bucket:999001")
    waits = [ratelimit.take(999001, rate=10.0, burst=3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.05 < waits[3] <= 0.1  # one token every 100 ms
    time.sleep(0.15)
    assert ratelimit.take(999001, rate=10.0, burst=3) == 0.0


@pytest.mark.django_db(transaction=True)
def test_addaccount_then_sync_prints_counts(simulator):
    sim = simulator("datatrak", devices=3)
    make_org("ops")
    out = StringIO()
    call_command(
        "addaccount",
        "--org",
        "ops",
        "--kind",
        "datatrak",
        "--name",
        "dt",
        "--base-url",
        sim.url,
        "--username",
        "demo",
        "--password",
        "demo",
        "--interval",
        "20",
        stdout=out,
    )
    account = VendorAccount.objects.get(name="dt")
    assert (account.sync_interval_s, account.credentials["password"]) == (20, "demo")
    call_command("sync", "dt", stdout=out)
    assert "ok: fetched" in out.getvalue() and "positions: fetched" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_sync_exits_1_on_failure(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak", password="nope", username="demo")
    with pytest.raises(SystemExit) as exit_info:
        call_command("sync", account.name, stdout=StringIO(), stderr=StringIO())
    assert exit_info.value.code == 1


def test_addaccount_refuses_an_unknown_organisation(db):
    with pytest.raises(CommandError, match="no organisation"):
        call_command(
            "addaccount", "--org", "nope", "--kind", "datatrak", "--name", "x", "--base-url", "http://h", "--token", "t"
        )


def test_pruning_old_sync_runs_is_one_delete_statement(org_a, django_assert_max_num_queries):
    account = make_account(org_a)
    for days in (30, 20, 15, 1):
        SyncRun.objects.create(account=account, started=timezone.now() - timedelta(days=days))
    with django_assert_max_num_queries(1):
        assert tasks.prune_sync_runs(keep_days=14) == 3
    assert SyncRun.objects.filter(account=account).count() == 1
