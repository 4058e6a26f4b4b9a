import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async

from fleet.live.broadcast import publish_positions
from fleet.tracking.ingest import Stored
from fleet.tracking.models import Device
from fleet.tracking.records import PositionRecord
from tests.live.conftest import close_layer, connect_and_sync, receive_type

BATCHES, DEVICES = 50, 500


def fleet_of(org, n: int) -> list[int]:
    Device.objects.bulk_create([Device(organization=org, name=f"D{i:04}") for i in range(n)])
    return list(Device.objects.filter(organization=org).values_list("pk", flat=True))


def publish_all(org_id: int, device_ids: list[int], base: datetime) -> dict[int, float]:
    """50 batches of 500 positions as fast as ingest could hand them over; device -> newest fix sent."""
    rnd, newest = random.Random(7), {}
    for b in range(BATCHES):
        batch = []
        for device_id in device_ids:
            fix = base + timedelta(seconds=b, milliseconds=rnd.randrange(1000))
            batch.append(Stored(0, device_id, PositionRecord(str(device_id), fix, 60.0 + b / 1000, 24.9)))
            newest[device_id] = max(newest.get(device_id, 0.0), fix.timestamp())
        rnd.shuffle(batch)
        publish_positions(org_id, batch)
    return newest


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_no_latest_position_is_dropped_under_a_burst(user_a, org_a):
    device_ids = await database_sync_to_async(fleet_of)(org_a, DEVICES)
    communicator, _, _ = await connect_and_sync(user_a)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=BATCHES + 5)

    newest = await database_sync_to_async(publish_all)(org_a.pk, device_ids, base)

    seen: dict[int, float] = {}
    frames, deadline = 0, time.monotonic() + 20
    while seen != newest and time.monotonic() < deadline:
        frame = await receive_type(communicator, "positions", timeout=5)
        frames += 1
        for device_id, fix, *_ in frame["p"]:
            assert fix > seen.get(device_id, 0.0), "a device's fix went backwards"
            seen[device_id] = fix
        assert len({p[0] for p in frame["p"]}) == len(frame["p"]), "a device twice in one frame"
    assert seen == newest
    assert frames < BATCHES * 2
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
    await close_layer()


def kill_publisher_connections() -> int:
    """Close, on the Redis server, every connection whose last command was a PUBLISH (the push's own), as a
    Redis restart or failover would; the socket's subscription connection stays."""
    import redis
    from django.conf import settings

    server = redis.Redis.from_url(settings.REDIS_URL)
    killed = 0
    for client in server.client_list():
        if client.get("cmd") == "publish":
            killed += server.client_kill_filter(_id=client["id"])
    server.close()
    return killed


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_push_after_redis_dropped_the_publishers_connection_still_arrives(user_a, org_a):
    (device_id,) = await database_sync_to_async(fleet_of)(org_a, 1)
    communicator, _, _ = await connect_and_sync(user_a)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)

    def push(seconds: int) -> None:
        fix = base + timedelta(seconds=seconds)
        publish_positions(org_a.pk, [Stored(0, device_id, PositionRecord(str(device_id), fix, 60.0, 24.9))])

    await database_sync_to_async(push)(1)
    first = await receive_type(communicator, "positions", timeout=5)
    assert [p[0] for p in first["p"]] == [device_id]
    assert await database_sync_to_async(kill_publisher_connections)() >= 1
    await database_sync_to_async(push)(2)  # the first send on the dead connection fails: sent again
    second = await receive_type(communicator, "positions", timeout=5)
    assert second["p"][0][1] == (base + timedelta(seconds=2)).timestamp()
    await communicator.disconnect()
    await close_layer()
