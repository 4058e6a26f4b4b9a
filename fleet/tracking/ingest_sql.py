"""The two bulk statements of ingest, per database: PostgreSQL (COPY + INSERT … ON CONFLICT)
and SpatiaLite/SQLite (multi-row INSERT … ON CONFLICT … RETURNING)."""

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


def insert_positions(rows: list[tuple[int, PositionRecord]]) -> list[Stored]:
    if not rows:
        return []
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_sqlite
    return insert(rows)


def advance_last_positions(newest: list[Stored]) -> None:
    if newest:
        (_advance_postgresql if connection.vendor == "postgresql" else _advance_sqlite)(newest)


def _stored(rows: list[tuple[int, PositionRecord]], returned: list[tuple], key) -> list[Stored]:
    from fleet.tracking.ingest import Stored

    by_key = {(device_id, key(r.fix_time)): r for device_id, r in rows}
    return [Stored(pk, device_id, by_key[(device_id, key(fix))]) for pk, device_id, fix in returned]


def _insert_postgresql(rows: list[tuple[int, PositionRecord]]) -> list[Stored]:
    import psycopg
    from psycopg.types.json import Jsonb

    connection.ensure_connection()
    # The raw psycopg cursor binds server-side and reads binary: Django's client-side quoting
    # and text timestamps cost more than the insert itself.
    with psycopg.Cursor(connection.connection) as cursor:
        # Positions can be fetched again from the vendor (cursors are saved, synchronously, after
        # this commit), so this commit need not wait for the WAL flush: WAL order keeps it safe.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ingest_position (device_id int8, fix_time timestamptz, "
            "server_time timestamptz, latitude float8, longitude float8, altitude float8, speed float8, "
            "course float8, accuracy float8, valid bool, attributes jsonb) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY ingest_position ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(PG_TYPES)
            for device_id, r in rows:
                copy.write_row(
                    (device_id, r.fix_time, r.server_time, r.latitude, r.longitude, r.altitude, r.speed,
                     r.course, r.accuracy, r.valid, Jsonb(r.attributes, dumps=_dumps))
                )  # fmt: skip
        cursor.execute(
            f"INSERT INTO tracking_position ({COLUMNS}) SELECT {COLUMNS} FROM ingest_position "
            "ON CONFLICT (device_id, fix_time) DO NOTHING RETURNING id, device_id, fix_time",
            binary=True,
        )
        returned = cursor.fetchall()
    return _stored(rows, returned, lambda t: t)


def _dumps(value: dict) -> str:
    return orjson.dumps(value).decode()


def _insert_sqlite(rows: list[tuple[int, PositionRecord]]) -> list[Stored]:
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
    return _stored(rows, returned, lambda t: str(adapt(t)) if isinstance(t, datetime) else t)


def _last_values(newest: list[Stored]) -> list[list]:
    now = datetime.now(UTC)
    return [
        [s.device_id, s.id, s.record.fix_time, s.record.latitude, s.record.longitude, s.record.speed,
         s.record.course, s.record.attributes, s.record.server_time or now]
        for s in newest
    ]  # fmt: skip


SET_LAST = (
    "last_position_id = v.pid, last_fix_time = v.fix, last_latitude = v.lat, last_longitude = v.lon, "
    "last_speed = v.speed, last_course = v.course, last_attributes = v.attrs, status = 'online'"
)


def _advance_postgresql(newest: list[Stored]) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ingest_last (did int8, pid int8, fix timestamptz, lat float8, "
            "lon float8, speed float8, course float8, attrs jsonb, seen timestamptz) ON COMMIT DELETE ROWS"
        )
        with cursor.copy("COPY ingest_last FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(
                ["int8", "int8", "timestamptz", "float8", "float8", "float8", "float8", "jsonb", "timestamptz"]
            )
            for row in _last_values(newest):
                row[7] = Jsonb(row[7], dumps=_dumps)
                copy.write_row(row)
        cursor.execute(
            f"UPDATE tracking_device d SET {SET_LAST}, last_update = GREATEST(d.last_update, v.seen) "
            "FROM ingest_last v WHERE d.id = v.did AND (d.last_fix_time IS NULL OR d.last_fix_time < v.fix)"
        )


def _advance_sqlite(newest: list[Stored]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for did, pid, fix, lat, lon, speed, course, attrs, seen in _last_values(newest):
        params += [did, pid, adapt(fix), lat, lon, speed, course, json.dumps(attrs), adapt(seen)]
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
