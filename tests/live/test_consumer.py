import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.gis.geos import Point

from fleet.dispatch.models import Task
from fleet.live.broadcast import publish_positions
from fleet.live.consumers import LiveConsumer
from fleet.tracking import ingest
from fleet.tracking.ingest import Stored
from fleet.tracking.models import DeviceGroup, Driver
from fleet.tracking.records import PositionRecord
from tests.conftest import make_account, make_device
from tests.live.conftest import close_layer, connect, connect_and_sync, receive, receive_type

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def recent(seconds_ago: float = 5) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)


@pytest.fixture
def van_a(org_a):
    account = make_account(org_a, "A trak")
    group = DeviceGroup.objects.create(organization=org_a, name="Vans")
    driver = Driver.objects.create(organization=org_a, name="Anna K.")
    attrs = {"ignition": True, "battery_level": 98, "odometer_m": 5, "rssi": -70}
    device = make_device(
        org_a,
        "Van 07",
        account,
        vendor_id="1",
        unique_id="356307042441013",
        plate="ABC-123",
        category="van",
        group=group,
        driver=driver,
        status="online",
        last_fix_time=recent(10),
        last_latitude=60.17,
        last_longitude=24.94,
        last_speed=32.5,
        last_course=270.0,
        last_attributes=attrs,
    )
    Task.objects.create(
        organization=org_a,
        order_ref="ORD-OLD",
        device=device,
        destination=Point(24.0, 60.0),
        status=Task.Status.COMPLETED,
    )
    Task.objects.create(
        organization=org_a,
        order_ref="ORD-1",
        device=device,
        destination=Point(24.93, 60.16),
        status=Task.Status.IN_PROGRESS,
    )
    return device


@pytest.fixture
def van_b(org_b):
    return make_device(org_b, "Van B", make_account(org_b, "B trak"), vendor_id="1")


async def test_an_anonymous_socket_is_closed_with_4401(org_a):
    communicator = await connect(None)
    closed = await communicator.receive_output(timeout=2)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)


async def test_config_and_snapshot_describe_only_the_users_organisation(user_a, van_a, van_b):
    communicator, config, snapshot = await connect_and_sync(user_a)
    assert [o["id"] for o in config["orgs"]] == [van_a.organization_id]
    org = config["orgs"][0]
    assert set(org) == {"id", "name", "timezone", "speed_unit", "distance_unit", "speed_threshold_kmh", "stale_after_s"}
    assert (org["speed_threshold_kmh"], org["stale_after_s"]) == (1.852, 900)
    assert config["states"] == ["moving", "idle", "stopped", "stale", "nofix"]
    [device] = snapshot["devices"]
    task = device.pop("task")
    assert device == {
        "id": van_a.pk,
        "org": van_a.organization_id,
        "name": "Van 07",
        "unique_id": "356307042441013",
        "plate": "ABC-123",
        "category": "van",
        "vendor": "datatrak",
        "vendor_label": "Data Trak (Traccar 4.2)",
        "account": "A trak",
        "group": van_a.group_id,
        "group_name": "Vans",
        "driver": "Anna K.",
        "fix": van_a.last_fix_time.timestamp(),
        "lat": 60.17,
        "lon": 24.94,
        "speed": 32.5,
        "course": 270.0,
        "valid": True,
        "ignition": True,
        "state": "moving",
        "status": "online",
        "attrs": {"battery_level": 98, "rssi": -70},
        "battery_health": None,  # a fleet-v2 vehicle's battery prediction; none for this vendor
    }
    assert task["order_ref"] == "ORD-1" and task["status"] == "in_progress"
    assert (task["lat"], task["lon"]) == (60.16, 24.93)
    await communicator.disconnect()
    await close_layer()


async def test_a_device_that_never_reported_has_nulls_and_no_fix(user_a, org_a):
    device = await database_sync_to_async(make_device)(org_a, "Silent")
    communicator, _, snapshot = await connect_and_sync(user_a)
    [entry] = snapshot["devices"]
    assert entry["id"] == device.pk
    assert [entry[k] for k in ("fix", "lat", "lon", "speed", "course", "valid", "ignition")] == [None] * 7
    assert (entry["state"], entry["task"], entry["vendor"], entry["attrs"]) == ("nofix", None, None, {})
    await communicator.disconnect()
    await close_layer()


async def test_a_superuser_sees_every_organisation(superuser, van_a, van_b):
    communicator, config, snapshot = await connect_and_sync(superuser)
    assert {o["id"] for o in config["orgs"]} == {van_a.organization_id, van_b.organization_id}
    assert {d["id"] for d in snapshot["devices"]} == {van_a.pk, van_b.pk}
    await communicator.disconnect()
    await close_layer()


async def test_a_user_never_receives_another_organisations_positions(user_a, user_b, van_a, van_b):
    """Both organisations have a Data Trak account with a device "1"; ingest runs for B, then A."""
    alice, _, _ = await connect_and_sync(user_a)
    bob, _, _ = await connect_and_sync(user_b)
    store = database_sync_to_async(ingest.positions)
    await store(van_b.organization_id, van_b.account_id, [PositionRecord("1", recent(2), 59.0, 18.0, speed=10.0)])
    await store(van_a.organization_id, van_a.account_id, [PositionRecord("1", recent(1), 60.2, 24.9, speed=10.0)])
    alice_frame = await receive_type(alice, "positions")
    bob_frame = await receive_type(bob, "positions")
    assert [p[0] for p in alice_frame["p"]] == [van_a.pk]
    assert [p[0] for p in bob_frame["p"]] == [van_b.pk]
    assert alice_frame["p"][0][2:4] == [60.2, 24.9]
    await asyncio.sleep(0.3)
    assert await alice.receive_nothing(timeout=0.2)
    await alice.disconnect()
    await bob.disconnect()
    await close_layer()


def stored(device_id: int, fix: datetime, lat: float = 60.0) -> Stored:
    return Stored(0, device_id, PositionRecord(str(device_id), fix, lat, 24.9, speed=20.0))


async def test_coalescing_sends_only_the_newest_fix_per_device_in_a_window(user_a, van_a, org_a):
    other = await database_sync_to_async(make_device)(org_a, "Van 08", van_a.account, vendor_id="2")
    communicator, _, _ = await connect_and_sync(user_a)
    base = recent(0)
    publish = database_sync_to_async(publish_positions)
    await publish(org_a.pk, [stored(van_a.pk, base), stored(other.pk, base)])
    first = await receive_type(communicator, "positions")  # a quiet socket sends at once
    for i in range(1, 9):  # eight fast batches: at most the burst goes out at once, the rest coalesce
        await publish(org_a.pk, [stored(van_a.pk, base + timedelta(seconds=i), lat=60.0 + i)])
    await publish(org_a.pk, [stored(van_a.pk, base + timedelta(seconds=3)), stored(other.pk, base - timedelta(1))])
    frames, newest = [], (base + timedelta(seconds=8)).timestamp()
    while not frames or frames[-1]["p"][-1][1] < newest:
        frames.append(await receive_type(communicator, "positions"))
    assert sorted(p[0] for p in first["p"]) == sorted([van_a.pk, other.pk])
    assert len(frames) <= LiveConsumer.burst + 1 < 8
    assert all([p[0] for p in f["p"]] == [van_a.pk] for f in frames)  # one entry per device; no older ones
    fixes = [f["p"][0][1] for f in frames]
    assert fixes == sorted(set(fixes))
    assert frames[-1]["p"] == [[van_a.pk, newest, 68.0, 24.9, 20.0, None, True, None, "moving"]]
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
    await close_layer()


async def test_a_reconnect_and_a_resync_both_get_a_fresh_snapshot(user_a, van_a, org_a, settings):
    settings.LIVE_RESYNC_MIN_S = 0.2
    communicator, _, snapshot = await connect_and_sync(user_a)
    assert snapshot["devices"][0]["lat"] == 60.17
    await communicator.disconnect()
    fix = recent(1)
    await database_sync_to_async(ingest.positions)(
        org_a.pk, van_a.account_id, [PositionRecord("1", fix, 61.0, 25.0, attributes={"ignition": False})]
    )
    communicator, _, snapshot = await connect_and_sync(user_a)
    assert (snapshot["devices"][0]["fix"], snapshot["devices"][0]["lat"]) == (fix.timestamp(), 61.0)
    assert snapshot["devices"][0]["state"] == "stopped"
    await communicator.send_json_to({"type": "resync"})
    assert [(await receive(communicator))["type"] for _ in range(2)] == ["config", "snapshot"]
    await communicator.send_to(text_data="not json")
    await communicator.send_json_to({"type": "resync"})
    assert (await receive(communicator))["type"] == "config"
    assert (await receive(communicator))["devices"][0]["lat"] == 61.0
    await communicator.disconnect()
    await close_layer()


async def test_positions_not_newer_than_the_snapshot_are_not_sent_again(user_a, van_a, org_a):
    communicator, _, snapshot = await connect_and_sync(user_a)
    await database_sync_to_async(publish_positions)(org_a.pk, [stored(van_a.pk, van_a.last_fix_time)])
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
    await close_layer()


async def test_heartbeats_arrive_on_their_interval(user_a, van_a, monkeypatch):
    monkeypatch.setattr(LiveConsumer, "heartbeat_s", 0.05)
    communicator, _, _ = await connect_and_sync(user_a)
    frame = await receive(communicator, timeout=2)
    assert frame["type"] == "heartbeat" and frame["server_time"] > 0
    await communicator.disconnect()
    await close_layer()


async def test_a_disconnect_leaves_other_sockets_of_the_organisation_subscribed(user_a, van_a, org_a):
    first, _, _ = await connect_and_sync(user_a)
    second, _, _ = await connect_and_sync(user_a)
    await first.disconnect()
    await database_sync_to_async(publish_positions)(org_a.pk, [stored(van_a.pk, recent(0))])
    frame = await receive_type(second, "positions")
    assert [p[0] for p in frame["p"]] == [van_a.pk]
    await second.disconnect()
    await close_layer()


async def test_the_layer_epoch_is_the_redis_servers_run_id():
    from fleet.live.consumers import LayerEpoch

    epoch = LayerEpoch()
    first = await epoch.read()
    assert first and len(first) == 40  # Redis' run id: 40 hex characters
    assert await epoch.read() == first


async def test_after_redis_restarted_a_socket_takes_a_fresh_snapshot_and_not_before(
    user_a, van_a, org_a, settings, monkeypatch
):
    """A Redis restart drops the pushes in flight: the socket's next access check sees a new run id and sends
    config + snapshot (with what was stored meanwhile); the same run id sends nothing."""
    from fleet.live import consumers

    settings.LIVE_ACCESS_CHECK_S = 0.2
    epochs = iter(["run-1"] * 3 + ["run-2"] * 1000)

    async def read():
        return next(epochs)

    monkeypatch.setattr(consumers.layer_epoch, "read", read)
    communicator, _, _ = await connect_and_sync(user_a)
    assert await communicator.receive_nothing(timeout=0.3)  # two checks, the same server: no snapshot
    fix = recent(1)
    # stored while the push could not go out (Redis down): only the snapshot brings it
    await database_sync_to_async(ingest.positions)(
        org_a.pk, van_a.account_id, [PositionRecord("1", fix, 61.5, 25.0)], notify=False
    )
    assert (await receive(communicator, timeout=2))["type"] == "config"
    snapshot = await receive(communicator)
    assert snapshot["type"] == "snapshot" and snapshot["devices"][0]["lat"] == 61.5
    assert await communicator.receive_nothing(timeout=0.5)  # one snapshot per restart
    await communicator.disconnect()
    await close_layer()
