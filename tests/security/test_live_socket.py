"""What one client can make the live socket do is bounded: resync frames cost one snapshot per interval at
most, an oversized frame closes the socket, no frame the server sends outgrows Daphne's 1 MiB message
limit, and a message for an organisation the socket does not serve is never forwarded."""

import asyncio
import time
from datetime import UTC, datetime

import orjson
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from fleet.live import snapshot as live_snapshot
from fleet.live.broadcast import group_name, publish_positions
from fleet.live.consumers import MAX_INBOUND, PER_FRAME
from fleet.tracking.ingest import Stored
from fleet.tracking.records import PositionRecord
from tests.conftest import make_device
from tests.live.conftest import TIMEOUT, close_layer, connect, connect_and_sync, decode_snapshot, receive_type
from tests.security.conftest import big_fleet

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
DAPHNE_LIMIT = 1024 * 1024  # the Procfile's --websocket-max-message-size


def stored(device_id: int, fix: datetime | None = None) -> Stored:
    fix = fix or datetime.now(UTC)
    return Stored(0, device_id, PositionRecord(str(device_id), fix, 60.2, 24.9, speed=20.0))


async def raw_frames_until_snapshot(communicator) -> list[str]:
    frames = []
    while not frames or orjson.loads(frames[-1])["type"] != "snapshot":
        frames.append(await communicator.receive_from(timeout=TIMEOUT))
    return frames


async def close_code(communicator) -> int:
    while True:
        out = await communicator.receive_output(TIMEOUT)
        if out["type"] == "websocket.close":
            return out["code"]


async def snapshot_times(communicator, seconds: float) -> list[tuple[float, dict]]:
    """(arrival, frame) of every snapshot within the next `seconds`."""
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await communicator.receive_nothing(timeout=0.05):  # (a receive that times out ends the app)
            continue
        frame = orjson.loads(await communicator.receive_from())
        if frame["type"] == "snapshot":
            out.append((time.monotonic(), frame))
    return out


async def test_a_flood_of_resync_frames_costs_one_snapshot_per_interval_and_the_socket_keeps_working(
    user_a, org_a, settings
):
    settings.LIVE_RESYNC_MIN_S = 1.0
    van = await database_sync_to_async(make_device)(org_a, "Van 1")
    alice, _, _ = await connect_and_sync(user_a)
    watching = asyncio.create_task(snapshot_times(alice, 3.5))
    for _ in range(20):  # 300 frames over two seconds
        for _ in range(15):
            await alice.send_json_to({"type": "resync"})
        await asyncio.sleep(0.1)
    last_request = time.monotonic()
    snapshots = await watching
    arrivals = [at for at, _ in snapshots]
    assert 1 <= len(snapshots) <= 3  # one a second at most, counted from the connect's own snapshot
    assert all(b - a > 0.8 for a, b in zip(arrivals, arrivals[1:], strict=False))
    assert arrivals[-1] > last_request  # the last requests were folded into a later snapshot, not dropped
    assert decode_snapshot([snapshots[-1][1]])[0]["id"] == van.pk
    await database_sync_to_async(publish_positions)(org_a.pk, [stored(van.pk)])
    assert [p[0] for p in (await receive_type(alice, "positions"))["p"]] == [van.pk]
    await alice.disconnect()
    await close_layer()


async def test_an_inbound_frame_over_a_few_kilobytes_closes_the_socket(user_a, org_a, settings):
    settings.LIVE_RESYNC_MIN_S = 0.0
    alice, _, _ = await connect_and_sync(user_a)
    padded = orjson.dumps({"type": "resync", "pad": "x" * (MAX_INBOUND - 40)}).decode()
    assert len(padded) <= MAX_INBOUND
    await alice.send_to(text_data=padded)  # within the cap: an ordinary resync
    assert (await receive_type(alice, "config"))["type"] == "config"
    await receive_type(alice, "snapshot")
    await alice.send_to(text_data="x" * (MAX_INBOUND + 1))
    assert await close_code(alice) == 4413
    await close_layer()


async def test_a_large_fleets_snapshot_arrives_in_parts_that_add_up_to_every_device(user_a, org_a):
    device_ids = await database_sync_to_async(big_fleet)(org_a, 3000)
    communicator = await connect(user_a)
    assert orjson.loads(await communicator.receive_from(timeout=TIMEOUT))["type"] == "config"
    frames = await raw_frames_until_snapshot(communicator)
    parsed = [orjson.loads(f) for f in frames]
    assert [f["type"] for f in parsed] == ["snapshot.part"] * (len(frames) - 1) + ["snapshot"]
    assert len(frames) > 2
    assert [d["id"] for d in decode_snapshot(parsed)] == device_ids  # in order, each once
    assert max(len(f["cols"]["id"]) for f in parsed) <= live_snapshot.PART_DEVICES
    assert max(len(f.encode()) for f in frames) <= live_snapshot.PART_BYTES
    await communicator.disconnect()
    await close_layer()


async def test_a_burst_for_many_devices_is_split_into_positions_frames_that_fit(user_a, org_a):
    alice, _, _ = await connect_and_sync(user_a)
    fix = datetime.now(UTC)
    await database_sync_to_async(publish_positions)(org_a.pk, [stored(10_000 + i, fix) for i in range(5000)])
    frames = [await alice.receive_from(timeout=TIMEOUT) for _ in range(3)]
    parsed = [orjson.loads(f) for f in frames]
    assert [len(f["p"]) for f in parsed] == [PER_FRAME, PER_FRAME, 5000 - 2 * PER_FRAME]
    assert sorted(p[0] for f in parsed for p in f["p"]) == list(range(10_000, 15_000))
    assert max(len(f.encode()) for f in frames) < DAPHNE_LIMIT / 2
    await alice.disconnect()
    await close_layer()


async def test_a_message_for_an_organisation_the_socket_does_not_serve_is_never_forwarded(user_a, org_a, org_b):
    """Say a batch of B's sits in A's group (or was queued before the user lost B): the socket drops it."""
    van_a = await database_sync_to_async(make_device)(org_a, "Van A")
    alice, _, _ = await connect_and_sync(user_a)
    positions = [[van_a.pk, datetime.now(UTC).timestamp(), 1.0, 2.0, 3.0, None, True, None, "moving"]]
    layer = get_channel_layer()
    await layer.group_send(group_name(org_a.pk), {"type": "positions.batch", "org": org_b.pk, "positions": positions})
    await layer.group_send(
        group_name(org_a.pk), {"type": "states.batch", "org": org_b.pk, "d": [[van_a.pk, "stale", "offline"]]}
    )
    await layer.group_send(group_name(org_a.pk), {"type": "positions.batch", "positions": positions})  # unnamed
    assert await alice.receive_nothing(timeout=0.5)
    await alice.disconnect()
    await close_layer()
