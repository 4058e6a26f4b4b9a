"""Daily range partitions of the positions table on PostgreSQL, and retention everywhere.

Rows outside every daily partition land in a DEFAULT partition (old history imports);
creating a partition moves that day's rows out of it first, so attaching never fails.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

TABLE = "tracking_position"
DEFAULT_PARTITION = f"{TABLE}_default"

CONVERT_SQL = f"""
ALTER TABLE {TABLE} RENAME TO {TABLE}_flat;
CREATE TABLE {TABLE} (LIKE {TABLE}_flat INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY RANGE (fix_time);
DROP TABLE {TABLE}_flat;
ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, fix_time);
ALTER TABLE {TABLE} ADD CONSTRAINT position_unique_device_fix UNIQUE (device_id, fix_time);
ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_device_id_fk FOREIGN KEY (device_id)
    REFERENCES tracking_device (id) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT;
"""


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = %s", [TABLE]
        )
        return cursor.fetchone() is not None


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def existing_partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        return {row[0] for row in cursor.fetchall()}


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def create_partition(day: date) -> None:
    name, (start, end) = partition_name(day), _bounds(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE fix_time >= %s AND fix_time < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])


def ensure_partitions(days_ahead: int, days_back: int = 1, today: date | None = None) -> list[str]:
    """Create the missing daily partitions from ``days_back`` ago to ``days_ahead`` ahead; return their names."""
    if not is_partitioned():
        return []
    today = today or timezone.now().date()
    have = existing_partitions()
    created = []
    for offset in range(-days_back, days_ahead + 1):
        day = today + timedelta(days=offset)
        if partition_name(day) not in have:
            create_partition(day)
            created.append(partition_name(day))
    return created


def drop_expired(retention_days: int, today: date | None = None) -> int:
    """Drop positions older than the retention (whole partitions on PostgreSQL); return how many went."""
    if retention_days <= 0:
        return 0
    cutoff_day = (today or timezone.now().date()) - timedelta(days=retention_days)
    cutoff = _bounds(cutoff_day)[0]
    if not is_partitioned():
        from fleet.tracking.models import Position

        deleted, _ = Position.objects.filter(fix_time__lt=cutoff).delete()  # one DELETE: nothing cascades
        return deleted
    dropped = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for name in sorted(existing_partitions()):
            if name != DEFAULT_PARTITION and name < partition_name(cutoff_day):
                cursor.execute(f"SELECT count(*) FROM {name}")
                dropped += cursor.fetchone()[0]
                cursor.execute(f"DROP TABLE {name}")
        cursor.execute(f"DELETE FROM {DEFAULT_PARTITION} WHERE fix_time < %s", [cutoff])
        dropped += cursor.rowcount
    return dropped
