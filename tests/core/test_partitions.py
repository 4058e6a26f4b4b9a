from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from fleet.tracking import partitions
from fleet.tracking.models import Position
from tests.conftest import make_device

pg_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitioning is PostgreSQL's")


@pg_only
def test_positions_are_partitioned_by_day_on_postgresql(db):
    assert partitions.is_partitioned()
    today = datetime.now(UTC).date()
    assert partitions.partition_name(today) in partitions.existing_partitions()


@pg_only
def test_a_new_partition_takes_over_its_days_rows_from_the_default_partition(org_a):
    device = make_device(org_a)
    day = date(2020, 5, 17)
    fix = datetime(2020, 5, 17, 12, tzinfo=UTC)
    Position.objects.create(device=device, fix_time=fix, latitude=1, longitude=2)
    assert partitions.ensure_partitions(days_ahead=0, days_back=0, today=day) == ["tracking_position_p20200517"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_position_p20200517")
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT count(*) FROM tracking_position_default")
        assert cursor.fetchone()[0] == 0
    assert Position.objects.get().fix_time == fix


def test_retention_drops_old_positions_and_keeps_recent_ones(org_a):
    device = make_device(org_a)
    now = datetime.now(UTC)
    for days in (400, 40, 1):
        Position.objects.create(device=device, fix_time=now - timedelta(days=days), latitude=1, longitude=2)
    partitions.ensure_partitions(days_ahead=0, days_back=0, today=(now - timedelta(days=40)).date())
    assert partitions.drop_expired(retention_days=30) == 2
    assert Position.objects.count() == 1


def test_retention_zero_keeps_everything(org_a):
    device = make_device(org_a)
    Position.objects.create(device=device, fix_time=datetime(2001, 1, 1, tzinfo=UTC), latitude=1, longitude=2)
    assert partitions.drop_expired(retention_days=0) == 0
    assert Position.objects.count() == 1
