"""A live socket never outlives the access it was opened with: a lost membership, a logout, an expired
session or a new password close it (4403 / 4401) at once or within the re-check interval, and a user
removed from one organisation stops receiving that organisation's data."""

from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from fleet.core.models import Membership
from fleet.live.broadcast import publish_positions
from fleet.tracking.ingest import Stored
from fleet.tracking.records import PositionRecord
from tests.conftest import make_device
from tests.live.conftest import TIMEOUT, close_layer, connect, connect_and_sync, receive, receive_type

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
AT_ONCE = 2.0  # seconds: a notified socket closes well within this


@pytest.fixture(autouse=True)
def slow_timer(settings):
    """The timer is out of the way unless a test shortens it: what closes a socket is then the notice."""
    settings.LIVE_ACCESS_CHECK_S = 60.0


async def close_code(communicator: WebsocketCommunicator, timeout: float = AT_ONCE) -> int:
    """The code the server closed with, skipping any frames sent before."""
    while True:
        out = await communicator.receive_output(timeout)
        if out["type"] == "websocket.close":
            return out["code"]


def delete_behind_the_orms_back(membership: Membership) -> None:
    """As another process or a SQL console would: no signal tells the sockets."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Membership._meta.db_table} WHERE id = %s", [membership.pk])


def stored(device_id: int) -> Stored:
    fix = datetime.now(UTC)
    return Stored(0, device_id, PositionRecord(str(device_id), fix, 60.2, 24.9, speed=20.0))


def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def connect_with(client: Client) -> WebsocketCommunicator:
    from fleet.asgi import application

    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie.encode())]
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    assert [(await receive(communicator))["type"] for _ in range(2)] == ["config", "snapshot"]
    return communicator


async def test_a_user_without_an_organisation_is_refused_with_4403(django_user_model):
    loner = await database_sync_to_async(django_user_model.objects.create_user)("loner", password="pw-loner")
    communicator = await connect(loner)
    assert await close_code(communicator) == 4403
    await close_layer()


async def test_a_socket_closes_within_the_check_interval_once_its_membership_is_gone(user_a, settings):
    settings.LIVE_ACCESS_CHECK_S = 0.3
    alice, _, _ = await connect_and_sync(user_a)
    await database_sync_to_async(delete_behind_the_orms_back)(await Membership.objects.aget(user=user_a))
    assert await close_code(alice, timeout=0.3 + AT_ONCE) == 4403
    await close_layer()


async def test_deleting_a_membership_closes_all_the_users_sockets_at_once(user_a):
    first, _, _ = await connect_and_sync(user_a)
    second, _, _ = await connect_and_sync(user_a)
    await Membership.objects.filter(user=user_a).adelete()
    assert [await close_code(first), await close_code(second)] == [4403, 4403]
    await close_layer()


async def test_a_resync_re_checks_access(user_a, settings):
    settings.LIVE_RESYNC_MIN_S = 0.0
    alice, _, _ = await connect_and_sync(user_a)
    await database_sync_to_async(delete_behind_the_orms_back)(await Membership.objects.aget(user=user_a))
    await alice.send_json_to({"type": "resync"})
    assert await close_code(alice) == 4403
    await close_layer()


async def test_logging_out_closes_every_socket_of_that_session_at_once(user_a, org_a):
    van = await database_sync_to_async(make_device)(org_a, "Van 1")
    browser = await database_sync_to_async(logged_in_client)(user_a)
    phone = await database_sync_to_async(logged_in_client)(user_a)  # another session of the same user
    tabs = [await connect_with(browser), await connect_with(browser)]
    on_phone = await connect_with(phone)

    response = await database_sync_to_async(browser.post)("/logout/")
    assert response.status_code == 302
    assert [await close_code(tab) for tab in tabs] == [4401, 4401]

    await database_sync_to_async(publish_positions)(org_a.pk, [stored(van.pk)])
    assert [p[0] for p in (await receive_type(on_phone, "positions"))["p"]] == [van.pk]
    await on_phone.disconnect()
    await close_layer()


async def test_a_socket_whose_session_expired_closes_on_the_next_check(user_a, settings):
    settings.LIVE_ACCESS_CHECK_S = 0.3
    alice, _, _ = await connect_and_sync(user_a)
    await Session.objects.all().aupdate(expire_date=datetime.now(UTC) - timedelta(seconds=1))
    assert await close_code(alice, timeout=0.3 + AT_ONCE) == 4401
    await close_layer()


async def test_a_new_password_closes_the_users_sockets_at_once(user_a):
    alice, _, _ = await connect_and_sync(user_a)
    user_a.set_password("a-new-password-1")
    await user_a.asave()
    assert await close_code(alice) == 4401
    await close_layer()


async def test_a_deactivated_user_is_closed_at_once(user_a):
    alice, _, _ = await connect_and_sync(user_a)
    user_a.is_active = False
    await user_a.asave(update_fields=["is_active"])
    assert await close_code(alice) == 4401
    await close_layer()


async def test_a_user_removed_from_one_of_two_organisations_stops_receiving_its_positions(user_a, org_a, org_b):
    await Membership.objects.acreate(user=user_a, organization=org_b)
    van_a = await database_sync_to_async(make_device)(org_a, "Van A")
    van_b = await database_sync_to_async(make_device)(org_b, "Van B")
    alice, config, snapshot = await connect_and_sync(user_a)
    assert {o["id"] for o in config["orgs"]} == {org_a.pk, org_b.pk}
    assert {d["id"] for d in snapshot["devices"]} == {van_a.pk, van_b.pk}

    await Membership.objects.filter(user=user_a, organization=org_b).adelete()
    config = await receive_type(alice, "config")
    snapshot = await receive_type(alice, "snapshot")  # the page replaces what it shows
    assert [o["id"] for o in config["orgs"]] == [org_a.pk]
    assert [d["id"] for d in snapshot["devices"]] == [van_a.pk]

    publish = database_sync_to_async(publish_positions)
    await publish(org_b.pk, [stored(van_b.pk)])
    await publish(org_a.pk, [stored(van_a.pk)])
    assert [p[0] for p in (await receive_type(alice, "positions"))["p"]] == [van_a.pk]
    assert await alice.receive_nothing(timeout=0.3)
    await alice.disconnect()
    await close_layer()


async def test_a_new_membership_shows_its_organisation_at_once(user_a, org_a, org_b):
    van_b = await database_sync_to_async(make_device)(org_b, "Van B")
    alice, _, _ = await connect_and_sync(user_a)
    await Membership.objects.acreate(user=user_a, organization=org_b)
    config = await receive_type(alice, "config")
    snapshot = await receive_type(alice, "snapshot")
    assert {o["id"] for o in config["orgs"]} == {org_a.pk, org_b.pk}
    assert [d["id"] for d in snapshot["devices"]] == [van_b.pk]
    await database_sync_to_async(publish_positions)(org_b.pk, [stored(van_b.pk)])
    assert [p[0] for p in (await receive_type(alice, "positions"))["p"]] == [van_b.pk]
    await alice.disconnect()
    await close_layer()
