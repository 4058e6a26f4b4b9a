"""The positions store on PostgreSQL: binary COPY in, binary arrays out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import orjson
import psycopg
from django.db import connection, transaction
from psycopg.types.json import Jsonb
from psycopg.types.range import Range

from fleet.tracking.models import Device, Position, TrackDay
from fleet.tracking.track import Track

if TYPE_CHECKING:
    from fleet.tracking.ingest import Stored
    from fleet.tracking.records import PositionRecord

POSITIONS, DEVICES, DAYS = Position._meta.db_table, Device._meta.db_table, TrackDay._meta.db_table
COLUMNS = "device_id, fix_time, server_time, latitude, longitude, altitude, speed, course, accuracy, valid, attributes"
TYPES = [
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
EPOCH_US = 946_684_800_000_000  # PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC


def _cursor() -> psycopg.Cursor:
    """A raw psycopg cursor: it binds server-side and reads binary, where Django's quotes client-side and
    reads text (which costs more than the statements themselves here)."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


# ------------------------------------------------------------------------------------------------ insert

BATCH_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_batch (ord int4, device_id int8, fix_time timestamptz, "
    "server_time timestamptz, latitude float8, longitude float8, altitude float8, speed float8, "
    "course float8, accuracy float8, valid bool, attributes jsonb) ON COMMIT DELETE ROWS"
)
SET_LAST = (
    "last_position_id = v.pid, last_fix_time = v.fix, last_latitude = v.lat, last_longitude = v.lon, "
    "last_speed = v.speed, last_course = v.course, last_attributes = v.attrs, status = 'online'"
)
# One statement, one round trip: insert what is new (in key order, so that two batches with fixes of the
# same devices wait for each other's rows in one order, not in a cycle); move each device's last position to
# its newest new fix when that is newer than the one it has; name the stored rows by their place in the batch
# (ord), as two arrays in fix-time order. RETURNING keeps only the key: the newest rows' values are read back
# from the batch (one row per device) rather than materialising every inserted row's attributes.
STORE = f"""
WITH new AS (
    INSERT INTO {POSITIONS} ({COLUMNS}) SELECT {COLUMNS} FROM ingest_batch ORDER BY device_id, fix_time
    ON CONFLICT (device_id, fix_time) DO NOTHING
    RETURNING id, device_id, fix_time
), newest AS (
    SELECT DISTINCT ON (device_id) device_id, id, fix_time FROM new ORDER BY device_id, fix_time DESC
), moved AS (
    UPDATE {DEVICES} d SET {SET_LAST}, last_update = greatest(d.last_update, v.seen)
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


def insert(records: list[PositionRecord], devices: dict[str, int]) -> list[Stored]:
    from fleet.tracking.ingest import Stored

    with _cursor() as cursor:
        # Positions can be fetched again from the vendor (cursors are saved after this commit), so the commit
        # need not wait for the WAL flush: WAL order keeps it safe.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(BATCH_TABLE)
        with cursor.copy(f"COPY ingest_batch (ord, {COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", *TYPES])
            write = copy.write_row
            for i, r in enumerate(records):
                attributes = Jsonb(r.attributes, dumps=orjson.dumps)
                write(
                    (
                        i,
                        devices[r.device_id],
                        r.fix_time,
                        r.server_time,
                        r.latitude,
                        r.longitude,
                        r.altitude,
                        r.speed,
                        r.course,
                        r.accuracy,
                        r.valid,
                        attributes,
                    )
                )
        ords, ids = cursor.execute(STORE, binary=True).fetchone()
    if not ids:  # all duplicates
        return []
    return [Stored(pk, devices[(r := records[i]).device_id], r) for i, pk in zip(ords, ids, strict=True)]


# ------------------------------------------------------------------------------------------ read a window


def _number_sql(key: str) -> str:
    return f"COALESCE((attributes->>'{key}')::float8, 'NaN')"


# (array name, SQL expression, element type in PostgreSQL's binary format); never NULL, so fixed-width.
# The casts trust ingest's canonical types; a row they cannot read fails the query (see ``chunks``).
WINDOW_COLUMNS = [
    ("t", "fix_time", ">i8"),
    ("lat", "latitude", ">f8"),
    ("lon", "longitude", ">f8"),
    ("speed", "COALESCE(speed, 'NaN')", ">f8"),
    ("valid", "valid", "?"),
    ("ignition", "COALESCE((attributes->>'ignition')::boolean::int::float8, 'NaN')", ">f8"),
    ("odometer", _number_sql("odometer_m"), ">f8"),
    ("fuel", _number_sql("fuel_l"), ">f8"),
    ("hours", _number_sql("engine_hours_s"), ">f8"),
    ("altitude", "COALESCE(altitude, 'NaN')", ">f8"),
    ("battery", f"COALESCE(NULLIF({_number_sql('battery_level')}, 'NaN'), {_number_sql('battery')})", ">f8"),
]
WINDOW = (
    "SELECT "
    + ", ".join(f"array_send(array_agg({name}))" for name, _, _ in WINDOW_COLUMNS)
    + " FROM (SELECT "
    + ", ".join(f"{expr} AS {name}" for name, expr, _ in WINDOW_COLUMNS)
    + f" FROM {POSITIONS} WHERE device_id = %s AND fix_time >= %s AND fix_time < %s ORDER BY fix_time) AS fix"
)


def array(blob: bytes, kind: str) -> np.ndarray:
    """The elements of a one-dimensional array in binary format (array_send): a 20-byte header, then
    (length, value) per element."""
    if int.from_bytes(blob[:4], "big") != 1:
        raise RuntimeError("expected a one-dimensional array")
    items = np.frombuffer(blob, dtype=np.dtype([("length", ">i4"), ("value", kind)]), offset=20)
    if not (items["length"] == np.dtype(kind).itemsize).all():
        raise RuntimeError("unexpected NULL or element size in a positions array")
    return items["value"]


def _sorted(t: np.ndarray) -> np.ndarray | None:
    """array_agg keeps the ordered subquery's order (PostgreSQL does, though SQL does not promise it): the
    permutation that sorts ``t`` when it is not sorted, else None."""
    return None if len(t) < 2 or (np.diff(t) > 0).all() else np.argsort(t, kind="stable")


def chunks(device_id: int, start: datetime, end: datetime, chunk: int) -> Iterator[Track] | None:
    """The window as tracks of at most ``chunk`` fixes, each column one array; None when a row's attributes
    are not of their canonical types (rows stored before ingest coerced them): the caller reads it slowly."""
    try:
        with transaction.atomic(), _cursor() as cursor:
            blobs = cursor.execute(WINDOW, (device_id, start, end), binary=True).fetchone()
    except psycopg.DataError:
        return None
    return _split(blobs, chunk)


def _split(blobs: tuple, chunk: int) -> Iterator[Track]:
    if blobs[0] is None:  # no rows
        return
    arrays = {name: array(blob, kind) for blob, (name, _, kind) in zip(blobs, WINDOW_COLUMNS, strict=True)}
    t = (arrays.pop("t").astype(np.int64) + EPOCH_US) / 1e6
    valid = arrays.pop("valid").astype(bool)
    floats = {name: values.astype(np.float64) for name, values in arrays.items()}
    order = _sorted(t)
    for lo in range(0, len(t), chunk):
        part = slice(lo, lo + chunk) if order is None else order[lo : lo + chunk]
        yield Track(t=t[part], valid=valid[part], **{name: values[part] for name, values in floats.items()})


# ------------------------------------------------------------------------------------------- map points

POINTS = (
    "SELECT array_send(array_agg(fix_time)), array_send(array_agg(latitude)), array_send(array_agg(longitude)), "
    "array_send(array_agg(COALESCE(speed, 'NaN'))), array_send(array_agg(COALESCE(altitude, 'NaN'))) "
    f"FROM (SELECT fix_time, latitude, longitude, speed, altitude FROM {POSITIONS} "
    "WHERE device_id = %s AND fix_time >= %s AND fix_time < %s AND valid ORDER BY fix_time) AS fix"
)
# The same narrowed to spans (a device's trips): a multirange test per row (a binary search), so a month of
# parked fixes between the trips is skipped before it is aggregated and sent.
SPAN_POINTS = POINTS.replace(
    "AND valid ORDER BY", "AND valid AND fix_time <@ tstzmultirange(VARIADIC %s::tstzrange[]) ORDER BY"
)


def points(device_id: int, start: datetime, end: datetime, spans: list[tuple[datetime, datetime]]) -> list:
    query, args = POINTS, [device_id, start, end]
    if spans:
        query, args = SPAN_POINTS, [*args, [Range(a, b, "[)") for a, b in spans]]
    with _cursor() as cursor:
        blobs = cursor.execute(query, args, binary=True).fetchone()
    if blobs[0] is None:
        return [np.empty(0)] * 5
    kinds = (">i8", ">f8", ">f8", ">f8", ">f8")
    t, *rest = (array(blob, kind).astype(np.float64) for blob, kind in zip(blobs, kinds, strict=True))
    return [(t + EPOCH_US) / 1e6, *rest]


# ---------------------------------------------------------------------------------- stamps and the archive

AROUND = f"""
SELECT (SELECT fix_time FROM {POSITIONS} p WHERE p.device_id = %s AND p.fix_time < s.lo ORDER BY fix_time DESC LIMIT 1),
       (SELECT fix_time FROM {POSITIONS} p WHERE p.device_id = %s AND p.fix_time >= s.hi ORDER BY fix_time LIMIT 1)
FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS s(lo, hi, k) ORDER BY k
"""


def around(device_id: int, spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime | None, datetime | None]]:
    """Per span, the device's last fix time before its start and first at or after its end. One statement whose
    two probes are planned once and pruned to the partitions they need as they run (a subquery per span would
    be planned against every partition, span by span)."""
    with connection.cursor() as cursor:
        cursor.execute(AROUND, [device_id, device_id, [lo for lo, _ in spans], [hi for _, hi in spans]])
        return cursor.fetchall()


AROUND_MANY = f"""
SELECT d.id, s.k,
       (SELECT fix_time FROM {POSITIONS} p WHERE p.device_id = d.id AND p.fix_time < s.lo
        ORDER BY fix_time DESC LIMIT 1),
       (SELECT fix_time FROM {POSITIONS} p WHERE p.device_id = d.id AND p.fix_time >= s.hi
        ORDER BY fix_time LIMIT 1)
FROM unnest(%s::int8[]) AS d(id)
CROSS JOIN unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS s(lo, hi, k)
ORDER BY d.id, s.k
"""


def around_many(device_ids: list[int], spans: list[tuple[datetime, datetime]]) -> dict[int, list[tuple]]:
    """``around`` of every device over the same spans: one statement, the same two probes per device and span."""
    out: dict[int, list[tuple]] = {}
    with _cursor() as cursor:  # binary: 2 timestamps per device and span, not parsed from text
        cursor.execute(AROUND_MANY, [device_ids, [lo for lo, _ in spans], [hi for _, hi in spans]], binary=True)
        for device_id, _k, before, after in cursor.fetchall():
            out.setdefault(device_id, []).append((before, after))
    return out


# One aggregate per (device, window), each an index range scan pruned to its partitions as it runs.
DATA_STAMPS = f"""
SELECT a.n, a.last_id, a.last_server, a.first, a.last
FROM unnest(%s::int8[], %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS w(d, lo, hi, k)
CROSS JOIN LATERAL (
    SELECT count(*) AS n, max(id) AS last_id, max(server_time) AS last_server, min(fix_time) AS first,
           max(fix_time) AS last
    FROM {POSITIONS} p WHERE p.device_id = w.d AND p.fix_time >= w.lo AND p.fix_time < w.hi
) a
ORDER BY w.k
"""


def data_stamps_many(windows: list[tuple[int, datetime, datetime]]) -> list[tuple]:
    """``data_stamp`` of each (device, lo, hi), in one statement."""
    if not windows:
        return []
    devices, los, his = (list(column) for column in zip(*windows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(DATA_STAMPS, [devices, los, his])
        return cursor.fetchall()


def now() -> datetime:
    """The database's clock (the one the archive's triggers use)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def fetch_days(query: str, args: list) -> list[tuple]:
    """Archive rows with their data: bytea read in binary (Django's cursor reads it as hex text)."""
    with _cursor() as cursor:
        return cursor.execute(query, args, binary=True).fetchall()


FEED = f"""
SELECT id, device_id, fix_time, latitude, longitude, altitude, speed, course, accuracy, valid, attributes::text
FROM {POSITIONS} WHERE id > %s AND id <= %s {{devices}} ORDER BY id LIMIT %s
"""


def feed(organization_ids: list[int] | None, after: int, upto: int, limit: int) -> list[tuple]:
    if organization_ids is None:
        query, args = FEED.format(devices=""), [after, upto, limit]
    else:
        devices = f"AND device_id IN (SELECT id FROM {DEVICES} WHERE organization_id = ANY(%s))"
        query, args = FEED.format(devices=devices), [after, upto, organization_ids, limit]
    with _cursor() as cursor:
        return cursor.execute(query, args, binary=True).fetchall()
