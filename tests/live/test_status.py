from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async

from fleet.live.status import silent_changes
from fleet.live.tasks import refresh_device_states
from fleet.tracking.models import Device
from tests.conftest import make_device
from tests.live.conftest import close_layer, connect_and_sync, receive_type


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def silent(org, name: str, minutes: float, status: str = "online") -> Device:
    return make_device(
        org,
        name,
        status=status,
        last_fix_time=ago(minutes),
        last_latitude=60.0,
        last_longitude=24.0,
        last_speed=40.0,
        last_attributes={"ignition": True},
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_status_task_turns_a_silent_device_stale_offline_and_pushes_it(user_a, org_a, org_b):
    quiet = await database_sync_to_async(silent)(org_a, "Quiet", 20)
    await database_sync_to_async(silent)(org_a, "Busy", 1)
    await database_sync_to_async(silent)(org_b, "Quiet B", 20)
    communicator, _, snapshot = await connect_and_sync(user_a)
    assert {d["name"]: d["state"] for d in snapshot["devices"]} == {"Quiet": "stale", "Busy": "moving"}

    result = await database_sync_to_async(refresh_device_states)()

    frame = await receive_type(communicator, "states")
    assert frame == {"type": "states", "d": [[quiet.pk, "stale", "offline"]]}
    assert result == {"changed": {org_a.pk: 1, org_b.pk: 1}}
    statuses = await database_sync_to_async(lambda: dict(Device.objects.values_list("name", "status")))()
    assert statuses == {"Quiet": "offline", "Busy": "online", "Quiet B": "offline"}
    assert await database_sync_to_async(refresh_device_states)() == {"changed": {}}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
    await close_layer()


@pytest.mark.django_db
def test_a_device_crossing_the_stale_line_is_published_even_if_a_sync_already_set_it_offline(org_a):
    just = silent(org_a, "Just stale", 15.2, status="offline")
    silent(org_a, "Long offline", 60, status="offline")
    silent(org_a, "Fresh", 14, status="offline")
    changes = silent_changes(datetime.now(UTC))
    assert [(pk, state, status) for pk, state, status, _ in changes[org_a.pk]] == [(just.pk, "stale", "offline")]


@pytest.mark.django_db
def test_each_organisation_uses_its_own_stale_line(org_a, org_b):
    org_b.stale_after_minutes = 60
    org_b.save()
    a = silent(org_a, "A", 20)
    silent(org_b, "B", 20)
    changes = silent_changes(datetime.now(UTC))
    assert list(changes) == [org_a.pk]
    assert changes[org_a.pk][0][:3] == (a.pk, "stale", "offline")


@pytest.mark.django_db
def test_finding_silent_devices_takes_a_constant_number_of_queries(org_a, django_assert_max_num_queries):
    for i in range(30):
        silent(org_a, f"Quiet {i}", 20)
    with django_assert_max_num_queries(5):
        changes = silent_changes(datetime.now(UTC))
    assert len(changes[org_a.pk]) == 30
