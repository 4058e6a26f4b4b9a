"""Live socket helpers: a private channel-layer prefix per test (the Redis is shared), and
connected WebsocketCommunicators on the real ASGI app, logged in through the session cookie."""

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from fleet.tracking.state import forget_rules

TIMEOUT = 5


@pytest.fixture(autouse=True)
def private_channel_layer(settings):
    """Tests share Redis with dev servers and other runs: give each test its own prefix."""
    layers = {name: {**cfg} for name, cfg in django_settings.CHANNEL_LAYERS.items()}
    layers["default"]["CONFIG"] = {**layers["default"]["CONFIG"], "prefix": f"test{uuid.uuid4().hex[:8]}"}
    settings.CHANNEL_LAYERS = layers  # channels resets its layer cache on setting_changed
    forget_rules()
    yield
    forget_rules()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def connect(user=None, expect_accept: bool = True) -> WebsocketCommunicator:
    from fleet.asgi import application

    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected is expect_accept
    return communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> dict:
    """The next frame; a snapshot's parts are gathered and decoded, as the page does, into one `snapshot`
    frame with `devices`."""
    frame = await communicator.receive_json_from(timeout=timeout)
    if frame["type"] not in ("snapshot.part", "snapshot"):
        return frame
    frames = [frame]
    while frames[-1]["type"] == "snapshot.part":
        frames.append(await communicator.receive_json_from(timeout=timeout))
    return {"type": "snapshot", "server_time": frames[-1]["server_time"], "devices": decode_snapshot(frames)}


def decode_snapshot(frames: list[dict]) -> list[dict]:
    """The devices of a snapshot's frames (docs/live-protocol.md), in order, as the page's device objects."""
    strings, devices = [], []
    for frame in frames:
        strings += frame["strings"]
        part = [dict(zip(frame["cols"], values, strict=True)) for values in zip(*frame["cols"].values(), strict=True)]
        for d, codes in zip(part, zip(*frame["codes"].values(), strict=True), strict=True):
            d.update((name, strings[code]) for name, code in zip(frame["codes"], codes, strict=True))
            d.update({"plate": "", "driver": None, "attrs": {}, "task": None, "battery_health": None})
        for name, pairs in frame["sparse"].items():
            for i, value in pairs:
                part[i][name] = value
        devices += part
    return devices


async def receive_type(communicator: WebsocketCommunicator, kind: str, timeout: float = TIMEOUT) -> dict:
    """The next frame of one type, skipping heartbeats."""
    while True:
        frame = await receive(communicator, timeout)
        if frame["type"] == kind:
            return frame
        assert frame["type"] == "heartbeat", f"expected {kind}, got {frame['type']}"


async def connect_and_sync(user) -> tuple[WebsocketCommunicator, dict, dict]:
    communicator = await connect(user)
    config = await receive(communicator)
    snapshot = await receive(communicator)
    assert (config["type"], snapshot["type"]) == ("config", "snapshot")
    return communicator, config, snapshot


async def close_layer() -> None:
    """Close this event loop's Redis connections before the loop goes away."""
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
