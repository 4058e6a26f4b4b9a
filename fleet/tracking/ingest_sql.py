"""The bulk statements of ingest, per database: PostgreSQL (COPY into a temporary table, then one
statement that inserts with ON CONFLICT and moves the devices' last positions) and SpatiaLite/SQLite
(multi-row INSERT … ON CONFLICT … RETURNING, then one UPDATE … FROM (VALUES …))."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from django.db import connection

if TYPE_CHECKING:
    from fleet.tracking.ingest import Stored
    from fleet.tracking.records import PositionRecord

COLUMNS = "device_id, fix_time, server_time, latitude, longitude, altitude, speed, course, accuracy, valid, attributes"
PG_TYPES = [
    "int8",
    "timestamptz",
    "timestamptz",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
    "bool",
    "jsonb",
]
SQLITE_CHUNK = 900  # 11 parameters a row stays under SQLite's 32766 variables
SET_LAST = (
    "last_position_id = v.pid, last_fix_time = v.fix, last_latitude = v.lat, last_longitude = v.lon, "
    "last_speed = v.speed, last_course = v.course, last_attributes = v.attrs, status = 'online'"
)


def store_positions(records: list[PositionRecord], devices: dict[str, int]) -> list[Stored]:
    """Insert the records (``devices`` maps their device ids to pks), dropping duplicates of (device, fix_time);
    move each device's last position forward to its newest new fix, never back; return what was stored."""
    if not records:
        return []
    if connection.vendor == "postgresql":
        return _store_postgresql(records, devices)
    stored = _insert_sqlite([(devices[r.device_id], r) for r in records])
    if stored:
        _advance_sqlite(_newest_per_device(stored))
    return stored


def _dumps(value: dict) -> bytes:
    return orjson.dumps(value)


# --- PostgreSQL ---------------------------------------------------------------------------------
BATCH_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_batch (ord int4, device_id int8, fix_time timestamptz, "
    "server_time timestamptz, latitude float8, longitude float8, altitude float8, speed float8, "
    "course float8, accuracy float8, valid bool, attributes jsonb) ON COMMIT DELETE ROWS"
)
# One statement, one round trip: insert what is new; move each device's last position to its newest
# new fix when that is newer than the one it has; name the stored rows by their place in the batch
# (ord), as two arrays rather than a row each, in fix-time order so that ingest's sort finds them
# sorted. RETURNING keeps only the key: the newest rows' values are read back from the batch (one row
# per device) rather than materialising every inserted row's attributes. The sub-statements see one
# snapshot, which is all they need.
STORE = f"""
WITH new AS (
    INSERT INTO tracking_position ({COLUMNS}) SELECT {COLUMNS} FROM ingest_batch
    ON CONFLICT (device_id, fix_time) DO NOTHING
    RETURNING id, device_id, fix_time
), newest AS (
    SELECT DISTINCT ON (device_id) device_id, id, fix_time FROM new ORDER BY device_id, fix_time DESC
), moved AS (
    UPDATE tracking_device d SET {SET_LAST}, last_update = greatest(d.last_update, v.seen)
    FROM (
        SELECT n.device_id AS did, n.id AS pid, n.fix_time AS fix, b.latitude AS lat, b.longitude AS lon,
            b.speed, b.course, b.attributes AS attrs, coalesce(b.server_time, now()) AS seen
        FROM newest n JOIN ingest_batch b USING (device_id, fix_time)
    ) v
    WHERE d.id = v.did AND (d.last_fix_time IS NULL OR d.last_fix_time < v.fix)
)
SELECT array_agg(ord), array_agg(id) FROM (
    SELECT b.ord, new.id FROM new JOIN ingest_batch b USING (device_id, fix_time) ORDER BY b.fix_time, b.ord
) stored
"""


def _store_postgresql(records: list[PositionRecord], devices: dict[str, int]) -> list[Stored]:
    import psycopg
    from psycopg.types.json import Jsonb

    from fleet.tracking.ingest import Stored

    connection.ensure_connection()
    # The raw psycopg cursor binds server-side and reads binary: Django's client-side quoting
    # and text timestamps cost more than the insert itself.
    with psycopg.Cursor(connection.connection) as cursor:
        # Positions can be fetched again from the vendor (cursors are saved, synchronously, after
        # this commit), so this commit need not wait for the WAL flush: WAL order keeps it safe.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(BATCH_TABLE)
        with cursor.copy(f"COPY ingest_batch (ord, {COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", *PG_TYPES])
            write = copy.write_row
            for i, r in enumerate(records):
                write((i, devices[r.device_id], r.fix_time, r.server_time, r.latitude, r.longitude, r.altitude, r.speed,
                       r.course, r.accuracy, r.valid, Jsonb(r.attributes, dumps=_dumps)))  # fmt: skip
        ords, ids = cursor.execute(STORE, binary=True).fetchone()
    if not ids:  # all duplicates
        return []
    return [Stored(pk, devices[(r := records[i]).device_id], r) for i, pk in zip(ords, ids, strict=True)]


# --- SQLite / SpatiaLite ------------------------------------------------------------------------
def _insert_sqlite(rows: list[tuple[int, PositionRecord]]) -> list[Stored]:
    from fleet.tracking.ingest import Stored

    adapt = connection.ops.adapt_datetimefield_value
    returned = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), SQLITE_CHUNK):
            chunk = rows[start : start + SQLITE_CHUNK]
            params = []
            for device_id, r in chunk:
                params += [device_id, adapt(r.fix_time), adapt(r.server_time), r.latitude, r.longitude, r.altitude,
                           r.speed, r.course, r.accuracy, r.valid, json.dumps(r.attributes)]  # fmt: skip
            values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO tracking_position ({COLUMNS}) VALUES {values} "
                "ON CONFLICT (device_id, fix_time) DO NOTHING RETURNING id, device_id, fix_time",
                params,
            )
            returned += cursor.fetchall()

    def key(t: object) -> object:
        return str(adapt(t)) if isinstance(t, datetime) else t

    by_key = {(device_id, key(r.fix_time)): r for device_id, r in rows}
    return [Stored(pk, device_id, by_key[(device_id, key(fix))]) for pk, device_id, fix in returned]


def _newest_per_device(stored: list[Stored]) -> list[Stored]:
    newest: dict[int, Stored] = {}
    for s in stored:
        current = newest.get(s.device_id)
        if current is None or s.record.fix_time > current.record.fix_time:
            newest[s.device_id] = s
    return list(newest.values())


def _advance_sqlite(newest: list[Stored]) -> None:
    adapt, now = connection.ops.adapt_datetimefield_value, datetime.now(UTC)
    params = []
    for s in newest:
        r = s.record
        params += [s.device_id, s.id, adapt(r.fix_time), r.latitude, r.longitude, r.speed, r.course,
                   json.dumps(r.attributes), adapt(r.server_time or now)]  # fmt: skip
    values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(newest))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE tracking_device SET {SET_LAST}, "
            "last_update = max(coalesce(tracking_device.last_update, v.seen), v.seen) "
            "FROM (SELECT column1 AS did, column2 AS pid, column3 AS fix, column4 AS lat, column5 AS lon, "
            f"column6 AS speed, column7 AS course, column8 AS attrs, column9 AS seen FROM (VALUES {values})) AS v "
            "WHERE tracking_device.id = v.did AND (tracking_device.last_fix_time IS NULL "
            "OR tracking_device.last_fix_time < v.fix)",
            params,
        )
