"""The migrations that moved the closed-day archive into tracking (forward and backward, data and triggers kept)
and coerced stored attributes to their canonical types."""

from datetime import UTC, datetime, timedelta
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fleet.tracking import store
from fleet.tracking.models import Position, TrackDay
from tests.conftest import make_device

DAY = datetime(2026, 11, 20, tzinfo=UTC)
BEFORE = [("tracking", "0003_partition_positions"), ("reports", "0002_track_day_archive")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def latest() -> list[tuple[str, str]]:
    """Every app's last migration: going back to BEFORE also unapplies the migrations of other apps that depend on
    later tracking migrations (geo, events, dispatch...), and they must all come back for the tests after this."""
    executor = MigrationExecutor(connection)
    return list(executor.loader.graph.leaf_nodes())


def version(table: str, device_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {table} WHERE device_id = %s AND day = %s", [device_id, DAY.date()])
        return cursor.fetchone()[0]


def late_fix(device, minutes: int) -> None:
    Position.objects.create(device=device, fix_time=DAY + timedelta(minutes=minutes), latitude=60, longitude=25)


@pytest.mark.django_db(transaction=True)
def test_the_archive_moves_to_tracking_and_back_with_its_days_and_triggers(org_a):
    van = make_device(org_a)
    late_fix(van, 1)
    assert len(store.window(van.id, DAY, DAY + timedelta(days=1))) == 1  # the day is archived
    archived = TrackDay.objects.get(device_id=van.id)
    try:
        migrate(BEFORE)
        assert "reports_trackday" in connection.introspection.table_names()
        assert "tracking_trackday" not in connection.introspection.table_names()
        before = version("reports_trackday", van.id)
        late_fix(van, 2)  # the old triggers are back and raise the old table's version
        assert version("reports_trackday", van.id) == before + 1
    finally:
        migrate(latest())
    day = TrackDay.objects.get(device_id=van.id)
    assert (day.pk, day.day, bytes(day.data)) == (archived.pk, archived.day, bytes(archived.data))
    late_fix(van, 3)  # and the new ones after the move forward
    assert TrackDay.objects.get(device_id=van.id).version == day.version + 1
    assert len(store.window(van.id, DAY, DAY + timedelta(days=1))) == 3


@pytest.mark.django_db
def test_stored_attributes_get_their_canonical_types(org_a):
    van = make_device(org_a)
    odd = {"ignition": "on", "odometer_m": "1200.5", "fuel_l": None, "temperatures": [3, "x", 4.5], "note": "kept"}
    rows = [odd, {"ignition": True, "odometer_m": 5.0}, {"motion": 0, "battery_level": "bad"}]
    Position.objects.bulk_create(
        Position(device=van, fix_time=DAY + timedelta(minutes=i), latitude=60, longitude=25, attributes=attributes)
        for i, attributes in enumerate(rows)
    )
    migration = import_module("fleet.tracking.migrations.0005_canonical_attributes")
    migration.coerce(apps, SimpleNamespace(connection=connection))  # it only needs the editor's connection
    stored = list(Position.objects.filter(device=van).order_by("fix_time").values_list("attributes", flat=True))
    assert stored[0] == {"ignition": True, "odometer_m": 1200.5, "temperatures": [3.0, 4.5], "note": "kept"}
    assert stored[1] == {"ignition": True, "odometer_m": 5.0}
    assert stored[2] == {"motion": False}
