import math
from datetime import UTC, datetime, timedelta

import pytest

from fleet.tracking import ingest
from fleet.tracking.models import Device, Position
from fleet.tracking.records import PositionRecord
from tests.conftest import make_account, make_device

NOW = datetime.now(UTC).replace(microsecond=0)


def rec(device: str, seconds: float, lat: float = 60.17, lon: float = 24.94, **kw) -> PositionRecord:
    return PositionRecord(device, NOW - timedelta(hours=1) + timedelta(seconds=seconds), lat, lon, **kw)


@pytest.fixture
def account(org_a):
    account = make_account(org_a)
    make_device(org_a, "one", account, vendor_id="1")
    make_device(org_a, "two", account, vendor_id="2")
    return account


def store(account, records):
    return ingest.positions(account.organization_id, account.pk, records)


def test_it_stores_a_batch_and_reports_counts(account):
    result = store(account, [rec("1", i, speed=30.0, attributes={"ignition": True}) for i in range(10)])
    assert (result.received, result.created, result.rejected) == (10, 10, 0)
    stored = Position.objects.filter(device__vendor_id="1").order_by("fix_time")
    assert stored.count() == 10
    assert stored.first().attributes == {"ignition": True}
    assert stored.first().speed == 30.0


def test_it_drops_duplicates_within_and_across_batches(account):
    store(account, [rec("1", 0), rec("1", 10)])
    result = store(account, [rec("1", 10), rec("1", 10), rec("1", 20)])
    assert (result.created, result.duplicates) == (1, 2)
    assert Position.objects.count() == 3


def test_one_bad_position_never_drops_its_batch(account):
    bad = [
        rec("1", 1, lat=91.0),
        rec("1", 2, lon=-181.0),
        rec("1", 3, lat=math.nan),
        PositionRecord("1", datetime(2099, 1, 1, tzinfo=UTC), 60.0, 24.0),
        PositionRecord("1", datetime(1999, 12, 31, tzinfo=UTC), 60.0, 24.0),
    ]
    result = store(account, [rec("1", 0), *bad, rec("2", 0)])
    assert result.created == 2
    assert result.rejected == 5
    assert result.reasons == {
        "latitude out of range": 1,
        "longitude out of range": 1,
        "not a finite number": 1,
        "fix time in the future": 1,
        "fix time before 2000": 1,
    }
    assert Position.objects.count() == 2


def test_it_moves_the_last_position_forward_only(account):
    store(account, [rec("1", 100, lat=61.0, speed=50.0)])
    store(account, [rec("1", 50, lat=59.0)])  # a late, older fix
    device = Device.objects.get(vendor_id="1")
    assert device.last_latitude == 61.0
    assert device.last_speed == 50.0
    assert device.last_fix_time == NOW - timedelta(hours=1) + timedelta(seconds=100)
    assert device.last_position_id == Position.objects.get(device=device, latitude=61.0).pk
    assert device.status == "online"
    store(account, [rec("1", 200, lat=62.0)])
    device.refresh_from_db()
    assert device.last_latitude == 62.0


def test_a_position_for_a_device_the_account_does_not_have_is_rejected_and_no_placeholder_is_made(account):
    result = store(account, [rec("77", 0), rec("1", 0)])
    assert (result.created, result.rejected, result.reasons) == (1, 1, {"unknown device": 1})
    assert result.unknown_devices == {"77"} and result.examples == {"unknown device": "77"}
    assert not Device.objects.filter(account=account, vendor_id="77").exists()


def test_subscribers_receive_only_new_positions_in_time_order(account):
    seen = []
    ingest.subscribe(lambda org, stored: seen.append((org, [s.record.fix_time for s in stored])))
    try:
        store(account, [rec("1", 0)])
        store(account, [rec("1", 20), rec("1", 0), rec("2", 10)])
    finally:
        ingest._subscribers.pop()
    assert seen[1][0] == account.organization_id
    assert seen[1][1] == sorted(seen[1][1]) and len(seen[1][1]) == 2


def test_a_failing_subscriber_does_not_lose_the_batch(account):
    def boom(org, stored):
        raise RuntimeError("subscriber down")

    ingest.subscribe(boom)
    try:
        assert store(account, [rec("1", 0)]).created == 1
    finally:
        ingest._subscribers.remove(boom)
    assert Position.objects.count() == 1


@pytest.mark.parametrize("size", [10, 2000])
def test_a_batch_costs_a_constant_number_of_queries(account, django_assert_max_num_queries, settings, size):
    """Ingest itself at most 9; the event engine after it at most 10 more (the batch's backlog row, the engine's
    transaction (a savepoint and its release inside the test), the lock on the devices' states, their speed
    limits, the states' upsert, the backlog row's delete; with events found, the ones already stored, the
    vendor's for the same happenings, the insert), whatever the batch's size."""
    store(account, [rec("1", -5000)])
    settings.EVENTS_ENGINE = False
    with django_assert_max_num_queries(9):
        store(account, [rec(str(1 + i % 2), i - size) for i in range(size)])
    settings.EVENTS_ENGINE = True
    with django_assert_max_num_queries(9 + 10):
        store(account, [rec(str(1 + i % 2), i) for i in range(size)])
    assert Position.objects.count() == 2 * size + 1


def test_imports_without_an_account_name_devices_by_pk(org_a):
    device = make_device(org_a, "gpx")
    result = ingest.positions(org_a.pk, None, [rec(str(device.pk), 0), rec("999999", 0)])
    assert result.created == 1 and result.reasons == {"unknown device": 1}


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when ingest's own transaction commits
def test_a_deleted_device_in_the_cache_costs_a_retry_not_the_batch(account):
    store(account, [rec("1", 0)])
    Device.objects.filter(vendor_id="1").delete()
    result = store(account, [rec("1", 10), rec("2", 10)])  # the cached pk of "1" is gone: the insert fails once
    assert (result.created, result.rejected, result.reasons) == (1, 1, {"unknown device": 1})
    assert Device.objects.get(vendor_id="2").positions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_batch_chosen_as_a_deadlock_victim_runs_again(account):
    """Another transaction holds a fix of device 2 and then wants device 1's, which this batch inserted first
    while it waits for device 2's: PostgreSQL aborts the batch (it waited first) and ingest runs it again once
    the other has committed; every fix is stored once. Without the retry the batch raises DeadlockDetected (and
    were the other side the victim, its own retries would meet the same cycle and raise here)."""
    import threading
    import time

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks and deadlock detection are PostgreSQL's")
    out = {}

    def batch():
        try:
            out["result"] = store(account, [rec("1", 10), rec("2", 10)])
        except Exception as exc:  # noqa: BLE001 - asserted below
            out["error"] = exc
        finally:
            connections.close_all()

    other = threading.Thread(target=batch)
    with transaction.atomic():
        store(account, [rec("2", 10)])
        other.start()
        with connection.cursor() as cur:
            for _ in range(200):
                cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")  # live, unlike pg_stat_activity
                if cur.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"the batch never waited for the held fix: {out}")
        time.sleep(0.2)  # it waits first, so its deadlock check (after deadlock_timeout) finds the cycle
        store(account, [rec("1", 10)])
    other.join(30)
    assert "error" not in out, out.get("error")
    assert (out["result"].created, out["result"].duplicates) == (0, 2)
    assert Position.objects.filter(device__account=account).count() == 2


def test_the_admin_lists_the_ingest_backlog_read_only(client, user_a, world_a, world_b):
    """An operator sees what the event engine still owes, in their organisation only, and cannot edit it."""
    from django.urls import reverse

    from fleet.tracking.models import IngestBacklog

    mine = world_a["ingestbacklog"]
    other_device = make_device(world_a["organization"], "second van", world_a["vendoraccount"])
    mine.since[str(other_device.pk)] = mine.since[str(world_a["device"].pk)] - 3600
    mine.save()
    client.force_login(user_a)
    listing = client.get(reverse("admin:tracking_ingestbacklog_changelist")).content.decode()
    first = datetime.fromtimestamp(min(mine.since.values()), UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert '<td class="field-devices">2</td>' in listing and first in listing
    assert list(IngestBacklog.objects.filter(organization=world_b["organization"])) == [world_b["ingestbacklog"]]
    assert f"/{world_b['ingestbacklog'].pk}/change/" not in listing
    page = client.get(reverse("admin:tracking_ingestbacklog_change", args=[mine.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client.get(reverse("admin:tracking_ingestbacklog_add")).status_code == 403
