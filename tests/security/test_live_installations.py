"""Installations that share one Redis server never see each other's live traffic. Redis pub/sub ignores the
database number in REDIS_URL; the channel layer's per-installation prefix is what keeps them apart."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from fleet.live.broadcast import group_name, user_group_name
from fleet.live.layers import SharedDecodePubSubLayer
from fleet.settings import default_channel_prefix
from tests.live.conftest import close_layer, connect_and_sync, receive_type

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {"DEBUG": "true", "CHANNEL_PREFIX": "", "DJANGO_SETTINGS_MODULE": "fleet.settings"}  # over any .env
PRINT_LAYER = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps([s.CHANNEL_PREFIX, s.CHANNEL_LAYERS['default']['CONFIG']['prefix']]))"
)


def another_database(redis_url: str) -> str:
    """The same Redis server, another database number."""
    base, _, db = redis_url.rpartition("/")
    return f"{base}/{(int(db or 0) + 1) % 16}"


def prefixes_of(**env: str) -> list[str]:
    """CHANNEL_PREFIX and the layer's prefix as a process started with this environment derives them."""
    out = subprocess.run(
        [sys.executable, "-c", PRINT_LAYER],
        env={**os.environ, **BASE_ENV, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def installation(name: str, redis_url: str) -> dict:
    """The channel-layer config an installation with its own database on this Redis URL gets by default."""
    prefix = default_channel_prefix(django_settings.SECRET_KEY, f"{name}_{uuid.uuid4().hex[:8]}", redis_url)
    return {**django_settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [redis_url], "prefix": prefix}


def positions_for(org_id: int, device_id: int) -> dict:
    fix = datetime.now(UTC).timestamp()
    return {
        "type": "positions.batch",
        "org": org_id,
        "positions": [[device_id, fix, 1.0, 2.0, 9.0, None, True, None, "moving"]],
    }


def test_two_installations_on_one_redis_server_derive_different_channel_prefixes():
    redis_url = django_settings.REDIS_URL
    a = prefixes_of(DATABASE_URL="postgis://postgres@127.0.0.1:5432/fleet_a", REDIS_URL=redis_url)
    b = prefixes_of(DATABASE_URL="postgis://postgres@127.0.0.1:5432/fleet_b", REDIS_URL=another_database(redis_url))
    a_again = prefixes_of(DATABASE_URL="postgis://postgres@127.0.0.1:5432/fleet_a", REDIS_URL=redis_url)
    assert a[0] == a[1] and b[0] == b[1]  # the layer uses the setting
    assert a[0] != b[0]
    assert a_again == a  # every process of one installation derives the same prefix


def test_the_default_prefix_changes_with_the_secret_key_the_database_and_the_redis_database():
    url = "redis://127.0.0.1:6379/3"
    base = default_channel_prefix("k" * 50, "fleet", url)
    assert default_channel_prefix("k" * 50, "fleet", url) == base
    assert default_channel_prefix("j" * 50, "fleet", url) != base
    assert default_channel_prefix("k" * 50, "fleet2", url) != base
    assert default_channel_prefix("k" * 50, "fleet", "redis://127.0.0.1:6379/4") != base
    assert "k" * 8 not in base  # the key itself is not in channel names anyone on the Redis server can list


def test_a_channel_prefix_from_the_environment_is_used_and_a_malformed_one_refused():
    assert prefixes_of(CHANNEL_PREFIX="acme-fleet.") == ["acme-fleet.", "acme-fleet."]
    env = {**os.environ, **BASE_ENV, "CHANNEL_PREFIX": "two words"}
    out = subprocess.run(
        [sys.executable, "-c", "import fleet.settings"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0 and "CHANNEL_PREFIX may hold only" in out.stderr


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_position_published_by_another_installation_never_reaches_a_socket(user_a, org_a, settings):
    """Both installations have an organisation with this pk; the other one publishes to its group."""
    ours = installation("fleet_a", settings.REDIS_URL)
    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": ours}}
    theirs = SharedDecodePubSubLayer(**installation("fleet_b", another_database(settings.REDIS_URL)))
    alice, _, _ = await connect_and_sync(user_a)

    await theirs.group_send(group_name(org_a.pk), positions_for(org_a.pk, 424242))
    assert await alice.receive_nothing(timeout=0.5)

    # What the unprefixed layer did: the Redis database number alone separates nothing.
    same_prefix = SharedDecodePubSubLayer(**{**ours, "hosts": [another_database(settings.REDIS_URL)]})
    await same_prefix.group_send(group_name(org_a.pk), positions_for(org_a.pk, 424242))
    frame = await receive_type(alice, "positions")
    assert [p[0] for p in frame["p"]] == [424242]
    await alice.disconnect()
    for layer in (theirs, same_prefix):
        await layer.flush()
    await close_layer()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_subscribes_only_under_its_installations_prefix(user_a, org_a, settings):
    ours = installation("fleet_a", settings.REDIS_URL)
    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": ours}}
    alice, _, _ = await connect_and_sync(user_a)
    client = redis.Redis.from_url(settings.REDIS_URL)
    channels = sorted(c.decode() for c in client.pubsub_channels(f"{ours['prefix']}*"))
    client.close()
    prefix = ours["prefix"]
    assert channels[:2] == [
        f"{prefix}__group__{group_name(org_a.pk)}",
        f"{prefix}__group__{user_group_name(user_a.pk)}",
    ]
    assert len(channels) == 3 and channels[2].startswith(f"{prefix}specific.")  # the socket's own channel
    await alice.disconnect()
    await close_layer()
