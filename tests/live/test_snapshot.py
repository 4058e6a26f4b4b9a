from datetime import UTC, datetime, timedelta

import orjson
import pytest

from fleet.live import broadcast
from fleet.live import snapshot as live_snapshot
from fleet.live.snapshot import config, encode, snapshot, visible_org_ids
from fleet.tracking import drivers, ingest
from fleet.tracking.models import Driver, DriverAssignment
from fleet.tracking.records import PositionRecord
from tests.conftest import make_account, make_device
from tests.live.conftest import decode_snapshot

pytestmark = pytest.mark.django_db


def devices(org_ids: list[int]) -> list[dict]:
    """The snapshot's devices as the page decodes its frames."""
    _, rules = config(org_ids)
    return decode_snapshot([orjson.loads(f) for f in encode(snapshot(org_ids, rules))])


def test_the_snapshot_takes_three_queries_whatever_the_fleet_size(org_a, django_assert_num_queries):
    account = make_account(org_a)
    for i in range(20):
        make_device(org_a, f"Van {i}", account, vendor_id=str(i))
    _, rules = config([org_a.pk])
    with django_assert_num_queries(3):  # devices, current tasks, current driver assignments
        frame = snapshot([org_a.pk], rules)
    assert len(frame) == 20


def test_the_card_names_the_driver_assigned_now_else_the_fixed_driver(org_a):
    account = make_account(org_a)
    fixed = Driver.objects.create(organization=org_a, name="Fixed")
    van = make_device(org_a, "Van", account, vendor_id="1", driver=fixed)
    truck = make_device(org_a, "Truck", account, vendor_id="2", driver=fixed)
    now = datetime.now(UTC)
    aino = Driver.objects.create(organization=org_a, name="Aino")
    drivers.save_assignment(DriverAssignment(device=van, driver=aino, start=now - timedelta(hours=1)), UTC)
    done = DriverAssignment(device=truck, driver=aino, start=now - timedelta(hours=3), end=now - timedelta(hours=2))
    drivers.save_assignment(done, UTC)
    cards = {d["name"]: d["driver"] for d in devices([org_a.pk])}
    assert cards == {"Van": "Aino", "Truck": "Fixed"}


def test_the_snapshot_gives_each_fix_time_as_the_live_pushes_do_to_the_microsecond(org_a):
    """On PostgreSQL the database computes the epoch seconds (snapshot.FIX_EPOCH), elsewhere Python: either way
    the float equals ``datetime.timestamp()``, the value ingest pushes, or a pushed position would look newer or
    older than the same fix in the snapshot."""
    account = make_account(org_a)
    base = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
    micros = [0, 1, 7, 499_999, 500_000, 654_321, 999_999, 123_457]
    fixes = {}
    for i, us in enumerate(micros):
        fix = base + timedelta(days=i * 37, seconds=i * 1_234, microseconds=us)
        make_device(org_a, f"Van {i}", account, vendor_id=str(i), last_fix_time=fix, last_latitude=60.0)
        fixes[f"Van {i}"] = fix.timestamp()
    make_device(org_a, "Never", account, vendor_id="never")
    got = {d["name"]: d["fix"] for d in devices([org_a.pk])}
    assert got == {**fixes, "Never": None}


def test_a_member_sees_only_their_organisations_and_a_superuser_all(user_a, org_b, superuser):
    assert visible_org_ids(user_a) == [user_a.memberships.get().organization_id]
    assert set(visible_org_ids(superuser)) == {user_a.memberships.get().organization_id, org_b.pk}


def test_an_invalid_newest_fix_shows_as_nofix_in_the_snapshot(org_a):
    account = make_account(org_a)
    make_device(org_a, "Van", account, vendor_id="1")
    fix = datetime.now(UTC) - timedelta(seconds=5)
    ingest.positions(org_a.pk, account.pk, [PositionRecord("1", fix, 60.0, 24.0, speed=50.0, valid=False)])
    [device] = devices([org_a.pk])
    assert (device["valid"], device["state"], device["fix"]) == (False, "nofix", fix.timestamp())


def test_ingest_publishes_one_message_per_batch_with_the_state_in_each_tuple(org_a, monkeypatch):
    account = make_account(org_a)
    for i in range(3):
        make_device(org_a, f"Van {i}", account, vendor_id=str(i))
    sent = []
    monkeypatch.setattr(broadcast, "send", lambda group, message: sent.append((group, message)))
    fix = datetime.now(UTC) - timedelta(seconds=5)
    records = [
        PositionRecord(str(i), fix + timedelta(seconds=s), 60.0, 24.0, speed=40.0) for i in range(3) for s in (0, 1)
    ]
    ingest.positions(org_a.pk, account.pk, records)
    [(group, message)] = sent
    assert group == f"fleet.org.{org_a.pk}" and message["type"] == "positions.batch"
    assert len(message["positions"]) == 6
    assert {len(p) for p in message["positions"]} == {9}
    assert {p[8] for p in message["positions"]} == {"moving"}


def test_a_vendors_battery_health_reaches_the_device_card_in_a_few_words(org_a):
    account = make_account(org_a, kind="fleetv2")
    health = {"prediction": "Check", "voltage": 12.314, "score": 58, "forecast": "<b>soon</b>"}
    make_device(org_a, "Hino", account, vendor_id="1", attributes={"battery_health": health})
    make_device(org_a, "Van", account, vendor_id="2")
    cards = {d["name"]: d for d in devices([org_a.pk])}
    assert cards["Hino"]["battery_health"] == "Check · 12.31 V · score 58"
    assert cards["Van"]["battery_health"] is None


def test_a_part_over_the_byte_bound_is_halved_and_each_string_is_sent_once(org_a, monkeypatch):
    account = make_account(org_a)
    for i in range(40):
        make_device(org_a, f"Van {i:02}", account, vendor_id=str(i), category="van", plate=f"P-{i}" * (i % 3))
    whole = devices([org_a.pk])
    monkeypatch.setattr(live_snapshot, "PART_BYTES", 1500)
    _, rules = config([org_a.pk])
    frames = [orjson.loads(f) for f in encode(snapshot([org_a.pk], rules))]
    assert len(frames) > 2 and all(len(orjson.dumps(f)) <= 1500 for f in frames)
    assert decode_snapshot(frames) == whole and [d["name"] for d in whole] == [f"Van {i:02}" for i in range(40)]
    strings = [s for f in frames for s in f["strings"]]
    assert len(strings) == len(set(strings)) and "van" in strings
    assert sum(len(f["sparse"].get("plate", [])) for f in frames) == 26  # the devices that have one
