"""The positions store on SQLite / SpatiaLite: multi-row INSERT … RETURNING in, rows parsed by numpy out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection

from fleet.core.gcpause import gc_paused
from fleet.tracking.models import Device, Position, TrackDay
from fleet.tracking.track import Track, attribute_values

if TYPE_CHECKING:
    from fleet.tracking.ingest import Stored
    from fleet.tracking.records import PositionRecord

POSITIONS, DEVICES, DAYS = Position._meta.db_table, Device._meta.db_table, TrackDay._meta.db_table
COLUMNS = "device_id, fix_time, server_time, latitude, longitude, altitude, speed, course, accuracy, valid, attributes"
CHUNK = 900  # 11 parameters a row stays under SQLite's 32766 variables
SET_LAST = (
    "last_position_id = v.pid, last_fix_time = v.fix, last_latitude = v.lat, last_longitude = v.lon, "
    "last_speed = v.speed, last_course = v.course, last_attributes = v.attrs, status = 'online'"
)


# ------------------------------------------------------------------------------------------------ insert


def insert(records: list[PositionRecord], devices: dict[str, int]) -> list[Stored]:
    stored = _insert([(devices[r.device_id], r) for r in records])
    if stored:
        _advance(_newest_per_device(stored))
    return stored


def _insert(rows: list[tuple[int, PositionRecord]]) -> list[Stored]:
    from fleet.tracking.ingest import Stored

    adapt = connection.ops.adapt_datetimefield_value
    returned = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            params = []
            for device_id, r in chunk:
                params += [
                    device_id,
                    adapt(r.fix_time),
                    adapt(r.server_time),
                    r.latitude,
                    r.longitude,
                    r.altitude,
                    r.speed,
                    r.course,
                    r.accuracy,
                    r.valid,
                    json.dumps(r.attributes),
                ]
            values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {POSITIONS} ({COLUMNS}) VALUES {values} "
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


def _advance(newest: list[Stored]) -> None:
    adapt, now = connection.ops.adapt_datetimefield_value, datetime.now(UTC)
    params = []
    for s in newest:
        r = s.record
        params += [
            s.device_id,
            s.id,
            adapt(r.fix_time),
            r.latitude,
            r.longitude,
            r.speed,
            r.course,
            json.dumps(r.attributes),
            adapt(r.server_time or now),
        ]
    values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(newest))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {DEVICES} SET {SET_LAST}, last_update = max(coalesce({DEVICES}.last_update, v.seen), v.seen) "
            "FROM (SELECT column1 AS did, column2 AS pid, column3 AS fix, column4 AS lat, column5 AS lon, "
            f"column6 AS speed, column7 AS course, column8 AS attrs, column9 AS seen FROM (VALUES {values})) AS v "
            f"WHERE {DEVICES}.id = v.did AND ({DEVICES}.last_fix_time IS NULL OR {DEVICES}.last_fix_time < v.fix)",
            params,
        )


# ------------------------------------------------------------------------------------------ read a window

# Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: whole seconds, then the microseconds if any.
TIME_US = "unixepoch(fix_time) * 1000000 + CAST(substr(fix_time || '.000000', 21, 6) AS INTEGER)"
# One json_extract with six paths parses each row's JSON once: "[ignition,odometer,fuel,hours,level,battery]".
WINDOW = (
    f"SELECT {TIME_US}, latitude, longitude, speed, valid, altitude, "
    "COALESCE(json_extract(attributes, '$.ignition', '$.odometer_m', '$.fuel_l', '$.engine_hours_s', "
    "'$.battery_level', '$.battery'), '[null,null,null,null,null,null]') "
    f"FROM {POSITIONS} WHERE device_id = ? AND fix_time >= ? AND fix_time < ? ORDER BY fix_time"
)


def _attributes(texts: tuple[str, ...]) -> np.ndarray | None:
    """(n, 5) floats from the rows' "[ignition,odometer,fuel,hours,level,battery]" texts: ignition as 1 / 0,
    then odometer, fuel, engine hours and battery (battery_level when known, else battery); NaN when unknown.
    None when a value is not of its canonical type."""
    joined = ",".join(texts)
    if joined.count("[") != len(texts) or any(mark in joined for mark in ('"', "{", ",true", ",false")):
        return None
    plain = joined.replace("],[", ",").replace("true", "1").replace("false", "0").replace("null", "nan")
    values = np.fromstring(plain[1:-1], dtype=np.float64, sep=",")
    if values.shape != (6 * len(texts),) or np.isinf(values).any():
        return None
    values = values.reshape(-1, 6)
    ignition = values[:, 0]  # true / false read as 1 / 0 (a number from before coercion: on unless 0)
    known = ~np.isnan(ignition)
    ignition[known] = ignition[known] != 0
    level = values[:, 4]
    values[:, 4] = np.where(np.isnan(level), values[:, 5], level)
    return values[:, :5]


def _track(rows: list[tuple]) -> Track:
    t, lat, lon, speed, valid, altitude, attributes = zip(*rows, strict=True)
    columns = _attributes(attributes)
    if columns is None:  # rows stored before ingest coerced attributes: read by the coercion's rules
        columns = np.array([attribute_values(*json.loads(text)) for text in attributes]).reshape(-1, 5)
    ignition, odometer, fuel, hours, battery = columns.T
    return Track(
        t=np.array(t, dtype=np.float64) / 1e6,
        lat=np.array(lat, dtype=np.float64),
        lon=np.array(lon, dtype=np.float64),
        speed=np.array(speed, dtype=np.float64),  # NULL (None) becomes NaN
        valid=np.array(valid, dtype=bool),
        ignition=ignition,
        odometer=odometer,
        fuel=fuel,
        hours=hours,
        altitude=np.array(altitude, dtype=np.float64),
        battery=battery,
    )


def chunks(device_id: int, start: datetime, end: datetime, chunk: int) -> Iterator[Track]:
    """The window as tracks of at most ``chunk`` fixes."""
    connection.ensure_connection()
    adapt = connection.ops.adapt_datetimefield_value
    cursor = connection.connection.cursor()
    try:
        cursor.execute(WINDOW, (device_id, adapt(start), adapt(end)))
        while True:
            with gc_paused():
                rows = cursor.fetchmany(chunk)
                track = _track(rows) if rows else None
                del rows
            if track is None:
                return
            yield track
    finally:
        cursor.close()


# ------------------------------------------------------------------------------------------- map points

POINTS = (
    f"SELECT {TIME_US}, latitude, longitude, speed, altitude FROM {POSITIONS} "
    "WHERE device_id = ? AND fix_time >= ? AND fix_time < ? AND valid ORDER BY fix_time"
)


def points(device_id: int, start: datetime, end: datetime, spans: list[tuple[datetime, datetime]]) -> list:
    adapt = connection.ops.adapt_datetimefield_value
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        with gc_paused():
            rows = cursor.execute(POINTS, (device_id, adapt(start), adapt(end))).fetchall()
            m = np.array(rows, dtype=np.float64).reshape(-1, 5)
            del rows
    finally:
        cursor.close()
    return [m[:, 0] / 1e6, *m[:, 1:].T]


STAMP_WINDOWS = 1000  # 4 parameters a window stays under SQLite's 32766 variables


def data_stamps_many(windows: list[tuple[int, datetime, datetime]]) -> list[tuple]:
    """``data_stamp`` of each (device, lo, hi): one join over a VALUES list per ``STAMP_WINDOWS`` windows,
    the (device, fix_time) index probed per window. Times come back as UTC epoch seconds."""
    adapt = connection.ops.adapt_datetimefield_value
    out = []
    for lo in range(0, len(windows), STAMP_WINDOWS):
        part = windows[lo : lo + STAMP_WINDOWS]
        values = ", ".join("(%s, %s, %s, %s)" for _ in part)
        query = (
            f"WITH w(k, d, lo, hi) AS (VALUES {values}) "
            "SELECT count(p.id), max(p.id), max(p.server_time), min(p.fix_time), max(p.fix_time) "
            f"FROM w LEFT JOIN {POSITIONS} p ON p.device_id = w.d AND p.fix_time >= w.lo AND p.fix_time < w.hi "
            "GROUP BY w.k ORDER BY w.k"
        )
        args = [value for k, (d, a, b) in enumerate(part) for value in (k, d, adapt(a), adapt(b))]
        with connection.cursor() as cursor:
            cursor.execute(query, args)
            out.extend((n, last_id, *map(_epoch, times)) for n, last_id, *times in cursor.fetchall())
    return out


def _epoch(value) -> float | None:
    """A stored UTC time (text, or a datetime when SQLite knew the column's type) as epoch seconds."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC).timestamp()


def now() -> datetime:
    """SQLite runs in this process: its clock is ours."""
    return datetime.now(UTC)


def fetch_days(query: str, args: list) -> list[tuple]:
    """Archive rows with their data."""
    with connection.cursor() as cursor:
        cursor.execute(query, args)
        return cursor.fetchall()


def feed(organization_ids: list[int] | None, after: int, upto: int, limit: int) -> list[tuple]:
    devices, args = "", [after, upto]
    if organization_ids is not None:
        marks = ",".join("%s" for _ in organization_ids) or "NULL"
        devices = f"AND device_id IN (SELECT id FROM {DEVICES} WHERE organization_id IN ({marks}))"
        args += organization_ids
    query = (
        "SELECT id, device_id, fix_time, latitude, longitude, altitude, speed, course, accuracy, valid, attributes "
        f"FROM {POSITIONS} WHERE id > %s AND id <= %s {devices} ORDER BY id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [*args, limit])
        return [(r[0], r[1], r[2].replace(tzinfo=UTC), *r[3:]) for r in cursor.fetchall()]
