"""Positions from the database into the engine's numpy tracks, in chunks.

``load_track`` reads one device's fixes in time order as arrays. On PostgreSQL and SQLite the query itself
extracts the few attributes the engine uses (``ignition``, ``odometer_m``, ``fuel_l``, ``engine_hours_s``)
from the JSON, so no row's JSON is decoded in Python and no datetime or model object is made:

* PostgreSQL: one query aggregates each column of the ordered rows into one array (``array_agg``) and sends
  it in binary (``array_send``); every element is fixed-width and never NULL (unknown values are NaN), so a
  column is one ``np.frombuffer``. Numeric attributes are cast in SQL; a value a cast cannot read (a boolean
  odometer, a word) fails the query, which is rolled back to a savepoint and read the ORM way instead.
* SQLite: the fix time comes as integer microseconds since the epoch, and one multi-path ``json_extract``
  per row gives the four attributes as a JSON array; a chunk's arrays are parsed at once by numpy, value by
  value only when one of them is not a plain number (a string, an object, a boolean counter).
* Other databases: ``values_list(...).iterator(chunk_size)`` and the attributes decoded in Python.

All three give the same arrays as decoding the JSON in Python by the rules of ``ignition_value`` and ``_number``
below (tests/reports/test_loader_speed_paths.py). Peak memory is the arrays plus one chunk (PostgreSQL: plus
the range's column bytes). ``load_points`` reads map lines (valid fixes with altitude) the same ways.

Long ranges (a month, a fleet) go window by window with ``iter_tracks``: each window's track is loaded
with a ``margin`` on both sides, detection runs over the whole loaded track and clips to the window
(``engine.detect(track, params, win_start, win_end)``), so a trip crossing a window boundary comes back as
two clipped halves that agree on the boundary instant; ``engine.stitch`` joins them. Consecutive windows'
loaded spans overlap by twice the margin: that part is kept from the previous window instead of being read
again. Summaries are per window and add up (``engine.combine_summaries``). Only one window of one device is
in memory at a time. ``detect_range`` does all of that. The margin should exceed the longest trip or stop
whose exact extent matters (trips are kept or dropped on their full extent); the default, 6 h, covers real
trips; a stop longer than the margin still comes out right because its halves are stitched.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import islice

import numpy as np

from fleet.reports import archive
from fleet.reports.engine import (
    Stop,
    SummaryRow,
    Trip,
    combine_summaries,
    day_windows,
    detect,
    stitch,
    summary,
)
from fleet.reports.motion import prepare
from fleet.reports.track import Params, Track

DEFAULT_CHUNK = 20_000
DEFAULT_MARGIN = timedelta(hours=6)
FIELDS = ("fix_time", "latitude", "longitude", "speed", "valid", "attributes", "altitude")


def _number(value) -> float:
    """An attribute as float, NaN when absent or not a number."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float's range
        return math.nan


def ignition_value(value) -> float:
    """The ``ignition`` attribute (bool, 0/1 or "true"/"false") as 1.0 / 0.0, NaN when absent."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        value = value.strip().lower()
        return 1.0 if value in ("true", "1", "on", "yes") else 0.0 if value in ("false", "0", "off", "no") else math.nan
    return 1.0 if value else 0.0


def battery_value(attributes: dict) -> float:
    """``battery_level`` when it is a number, else ``battery``; NaN when neither is."""
    level = _number(attributes.get("battery_level"))
    return _number(attributes.get("battery")) if math.isnan(level) else level


def _chunk_track(rows: list[tuple]) -> Track:
    times, lats, lons, speeds, valids, attrs, altitudes = zip(*rows, strict=True)
    return Track(
        t=np.fromiter((ts.timestamp() for ts in times), dtype=np.float64, count=len(rows)),
        lat=np.array(lats, dtype=np.float64),
        lon=np.array(lons, dtype=np.float64),
        speed=np.array([math.nan if s is None else s for s in speeds], dtype=np.float64),
        ignition=np.array([ignition_value((a or {}).get("ignition")) for a in attrs]),
        odometer=np.array([_number((a or {}).get("odometer_m")) for a in attrs]),
        fuel=np.array([_number((a or {}).get("fuel_l")) for a in attrs]),
        hours=np.array([_number((a or {}).get("engine_hours_s")) for a in attrs]),
        valid=np.array(valids, dtype=bool),
        altitude=np.array([math.nan if a is None else a for a in altitudes], dtype=np.float64),
        battery=np.array([battery_value(a or {}) for a in attrs]),
    )


def iter_chunks(device_id: int, start: datetime, end: datetime, chunk: int = DEFAULT_CHUNK) -> Iterator[Track]:
    """The device's fixes with start <= fix_time < end from the positions table (not the archive), in time
    order, as tracks of at most ``chunk`` fixes."""
    from django.db import connection

    reader = _READERS.get(connection.vendor, _orm_chunks)
    yield from reader(connection, device_id, start, end, chunk)


def _orm_chunks(connection, device_id: int, start: datetime, end: datetime, chunk: int) -> Iterator[Track]:
    from fleet.tracking.models import Position

    rows = (
        Position.objects.filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end)
        .order_by("fix_time")
        .values_list(*FIELDS)
        .iterator(chunk_size=chunk)
    )
    while batch := list(islice(rows, chunk)):
        yield _chunk_track(batch)


# ------------------------------------------------------------------------------------------ PostgreSQL

_TRUE_WORDS, _FALSE_WORDS = "('true', '1', 'on', 'yes')", "('false', '0', 'off', 'no')"


def _pg_number(key: str) -> str:
    """A number, or a string float() reads; anything else makes the cast fail and the reader fall back."""
    return f"COALESCE((attributes->>'{key}')::float8, 'NaN')"


# JSON true / "true" and false / "false" are settled by the first two branches; the rest (numbers, other
# words, arrays, objects) rarely occurs and goes through jsonb_typeof, as ``ignition_value`` decides in Python.
_PG_IGNITION_TEXT = "lower(btrim(attributes->>'ignition', E' \\t\\n\\r\\f\\v'))"
_PG_IGNITION = (
    "COALESCE(CASE attributes->>'ignition' WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE "
    "CASE jsonb_typeof(attributes->'ignition') WHEN 'number' THEN (attributes->'ignition' <> '0'::jsonb)::int "
    f"WHEN 'string' THEN CASE WHEN {_PG_IGNITION_TEXT} IN {_TRUE_WORDS} THEN 1 "
    f"WHEN {_PG_IGNITION_TEXT} IN {_FALSE_WORDS} THEN 0 END "
    "WHEN 'array' THEN (jsonb_array_length(attributes->'ignition') > 0)::int "
    "WHEN 'object' THEN (attributes->'ignition' <> '{}'::jsonb)::int END END::float8, 'NaN')"
)
# (array name, SQL expression, element type in PostgreSQL's binary format); never NULL, so fixed-width.
_PG_COLUMNS = [
    ("t", "fix_time", ">i8"),
    ("lat", "latitude", ">f8"),
    ("lon", "longitude", ">f8"),
    ("speed", "COALESCE(speed, 'NaN')", ">f8"),
    ("valid", "valid", "?"),
    ("ignition", _PG_IGNITION, ">f8"),
    ("odometer", _pg_number("odometer_m"), ">f8"),
    ("fuel", _pg_number("fuel_l"), ">f8"),
    ("hours", _pg_number("engine_hours_s"), ">f8"),
    ("altitude", "COALESCE(altitude, 'NaN')", ">f8"),
    ("battery", f"COALESCE(NULLIF({_pg_number('battery_level')}, 'NaN'), {_pg_number('battery')})", ">f8"),
]
_PG_SELECT = (
    "SELECT "
    + ", ".join(f"array_send(array_agg({name}))" for name, _, _ in _PG_COLUMNS)
    + " FROM (SELECT "
    + ", ".join(f"{expr} AS {name}" for name, expr, _ in _PG_COLUMNS)
    + " FROM tracking_position WHERE device_id = %s AND fix_time >= %s AND fix_time < %s ORDER BY fix_time) AS fix"
)
_PG_EPOCH_US = 946_684_800_000_000  # PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC


def _pg_array(blob: bytes, kind: str) -> np.ndarray:
    """The elements of a one-dimensional array in binary format (array_send): a 20-byte header, then
    (length, value) per element."""
    if int.from_bytes(blob[:4], "big") != 1:
        raise RuntimeError("expected a one-dimensional array")
    items = np.frombuffer(blob, dtype=np.dtype([("length", ">i4"), ("value", kind)]), offset=20)
    if not (items["length"] == np.dtype(kind).itemsize).all():
        raise RuntimeError("unexpected NULL or element size in a positions array")
    return items["value"]


def _postgresql_chunks(connection, device_id: int, start: datetime, end: datetime, chunk: int) -> Iterator[Track]:
    """One query returns each column as one array (array_agg over the ordered rows), sent as bytes."""
    from django.db import transaction
    from psycopg import Cursor, DataError

    connection.ensure_connection()
    try:  # Django's cursors bind client-side and read text: this one binds server-side and reads binary
        with transaction.atomic(using=connection.alias), Cursor(connection.connection) as cursor:
            blobs = cursor.execute(_PG_SELECT, (device_id, start, end), binary=True).fetchone()
    except DataError:  # an attribute the casts cannot read (e.g. a boolean odometer): decode in Python
        yield from _orm_chunks(connection, device_id, start, end, chunk)
        return
    if blobs[0] is None:  # no rows
        return
    arrays = {name: _pg_array(blob, kind) for blob, (name, _, kind) in zip(blobs, _PG_COLUMNS, strict=True)}
    t = (arrays.pop("t").astype(np.int64) + _PG_EPOCH_US) / 1e6
    valid = arrays.pop("valid").astype(bool)
    floats = {name: values.astype(np.float64) for name, values in arrays.items()}
    # array_agg keeps the ordered subquery's order (PostgreSQL does, though SQL does not promise it): check.
    order = None if len(t) < 2 or (np.diff(t) > 0).all() else np.argsort(t, kind="stable")
    for lo in range(0, len(t), chunk):
        part = slice(lo, lo + chunk) if order is None else order[lo : lo + chunk]
        yield Track(t=t[part], valid=valid[part], **{name: values[part] for name, values in floats.items()})


# ---------------------------------------------------------------------------------------------- SQLite


# Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: whole seconds, then the microseconds if any.
_SQLITE_TIME_US = "unixepoch(fix_time) * 1000000 + CAST(substr(fix_time || '.000000', 21, 6) AS INTEGER)"
# One json_extract with six paths parses each row's JSON once: "[ignition,odometer,fuel,hours,level,battery]".
_SQLITE_SELECT = (
    f"SELECT {_SQLITE_TIME_US}, latitude, longitude, speed, valid, altitude, "
    "COALESCE(json_extract(attributes, '$.ignition', '$.odometer_m', '$.fuel_l', '$.engine_hours_s', "
    "'$.battery_level', '$.battery'), '[null,null,null,null,null,null]') "
    "FROM tracking_position WHERE device_id = ? AND fix_time >= ? AND fix_time < ? ORDER BY fix_time"
)
# In the joined "[ign,odo,fuel,hours],[...]" text, these mean a value that is not a number, a boolean ignition
# or null (a string, an object or array, a boolean counter): the chunk is then decoded value by value.
_NOT_PLAIN = ('"', "{", ",true", ",false")


def _sqlite_attributes(texts: tuple[str, ...]) -> np.ndarray:
    """(n, 5) floats: ignition as 1 / 0, then odometer, fuel, engine hours and battery; NaN when unknown."""
    joined = ",".join(texts)
    if joined.count("[") == len(texts) and not any(mark in joined for mark in _NOT_PLAIN):  # no nested array
        plain = joined.replace("],[", ",").replace("true", "1").replace("false", "0").replace("null", "nan")
        values = np.fromstring(plain[1:-1], dtype=np.float64, sep=",")
        # inf: a number beyond float's range, which Python reads as inf or, written as an integer, NaN
        if values.shape == (6 * len(texts),) and not np.isinf(values).any():
            values = values.reshape(-1, 6)
            ignition = values[:, 0]  # true / false read as 1 / 0; any other number is on unless it is 0
            known = ~np.isnan(ignition)
            ignition[known] = ignition[known] != 0
            level = values[:, 4]
            values[:, 4] = np.where(np.isnan(level), values[:, 5], level)  # battery_level, else battery
            return values[:, :5]
    rows = [json.loads(text) for text in texts]
    return np.array(
        [(ignition_value(i), _number(o), _number(f), _number(h), battery_value({"battery_level": lv, "battery": b}))
         for i, o, f, h, lv, b in rows],
        dtype=np.float64,
    ).reshape(-1, 5)  # fmt: skip


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: the hundred thousand row tuples a chunk allocates would otherwise
    set off collections that walk every tracked object, doubling the time to read a chunk. Nothing here makes
    reference cycles, so nothing waits longer to be freed."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sqlite_track(rows: list[tuple]) -> Track:
    t, lat, lon, speed, valid, altitude, attributes = zip(*rows, strict=True)
    ign, odometer, fuel, hours, battery = _sqlite_attributes(attributes).T
    return Track(
        t=np.array(t, dtype=np.float64) / 1e6,
        lat=np.array(lat, dtype=np.float64),
        lon=np.array(lon, dtype=np.float64),
        speed=np.array(speed, dtype=np.float64),  # NULL (None) becomes NaN
        valid=np.array(valid, dtype=bool),
        ignition=ign,
        odometer=odometer,
        fuel=fuel,
        hours=hours,
        altitude=np.array(altitude, dtype=np.float64),
        battery=battery,
    )


def _sqlite_chunks(connection, device_id: int, start: datetime, end: datetime, chunk: int) -> Iterator[Track]:
    connection.ensure_connection()
    adapt = connection.ops.adapt_datetimefield_value
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_SQLITE_SELECT, (device_id, adapt(start), adapt(end)))
        while True:
            with _no_gc():
                rows = cursor.fetchmany(chunk)
                track = _sqlite_track(rows) if rows else None
                del rows
            if track is None:
                return
            yield track
    finally:
        cursor.close()


_READERS = {"postgresql": _postgresql_chunks, "sqlite": _sqlite_chunks}


# ------------------------------------------------------------------------------------------ map points

POINT_FIELDS = ("t", "lat", "lon", "speed", "altitude")
_POINTS_WHERE = "FROM tracking_position WHERE device_id = %s AND fix_time >= %s AND fix_time < %s AND valid"
_PG_POINTS = (
    "SELECT array_send(array_agg(fix_time)), array_send(array_agg(latitude)), array_send(array_agg(longitude)), "
    "array_send(array_agg(COALESCE(speed, 'NaN'))), array_send(array_agg(COALESCE(altitude, 'NaN'))) "
    f"FROM (SELECT fix_time, latitude, longitude, speed, altitude {_POINTS_WHERE} ORDER BY fix_time) AS fix"
)
# The same narrowed to spans (a device's trips): a multirange test per row (a binary search), so a month of
# parked fixes between the trips is skipped before it is aggregated and sent.
_PG_SPAN_POINTS = _PG_POINTS.replace(
    "AND valid ORDER BY", "AND valid AND fix_time <@ tstzmultirange(VARIADIC %s::tstzrange[]) ORDER BY"
)
_SQLITE_POINTS = (
    f"SELECT {_SQLITE_TIME_US}, latitude, longitude, speed, altitude {_POINTS_WHERE} ORDER BY fix_time"
).replace("%s", "?")


def load_points(
    device_id: int, start: datetime, end: datetime, spans: list[tuple[datetime, datetime]] | None = None
) -> dict[str, np.ndarray]:
    """The device's valid fixes with start <= fix_time < end as arrays: ``t`` (epoch seconds), ``lat``, ``lon``,
    ``speed`` (km/h) and ``altitude`` (metres, NaN when unknown), read without an object per fix: what map
    lines and GPX tracks need (one call over a device's trips, then ``np.searchsorted`` per trip).

    Closed days come from the archive (``archive.DaySource``); the rest from the positions table, where
    ``spans`` ([a, b) pairs inside the range) narrows the read on PostgreSQL to fixes inside them (the caller
    cuts the spans out either way)."""
    source = day_source(device_id)
    if start >= source.closed:
        return _table_points(device_id, start, end, spans)
    track = source.track(start, min(end, source.closed))
    kept = track.valid
    archived = [track.t[kept], track.lat[kept], track.lon[kept], track.speed[kept], track.altitude[kept]]
    if end <= source.closed:
        return dict(zip(POINT_FIELDS, archived, strict=True))
    recent = _table_points(device_id, source.closed, end, spans)
    return {name: np.concatenate([a, recent[name]]) for name, a in zip(POINT_FIELDS, archived, strict=True)}


def _table_points(
    device_id: int, start: datetime, end: datetime, spans: list[tuple[datetime, datetime]] | None
) -> dict[str, np.ndarray]:
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor == "postgresql":
        from psycopg import Cursor
        from psycopg.types.range import Range

        query, args = _PG_POINTS, [device_id, start, end]
        spans = [(max(a, start), b) for a, b in spans or () if b > start]
        if spans:
            query, args = _PG_SPAN_POINTS, [*args, [Range(a, b, "[)") for a, b in spans]]
        with Cursor(connection.connection) as cursor:
            blobs = cursor.execute(query, args, binary=True).fetchone()
        if blobs[0] is None:
            return {name: np.empty(0) for name in POINT_FIELDS}
        kinds = (">i8", ">f8", ">f8", ">f8", ">f8")
        t, *rest = (_pg_array(blob, kind).astype(np.float64) for blob, kind in zip(blobs, kinds, strict=True))
        t = (t + _PG_EPOCH_US) / 1e6
        columns = [t, *rest]
    elif connection.vendor == "sqlite":
        adapt = connection.ops.adapt_datetimefield_value
        cursor = connection.connection.cursor()
        try:
            with _no_gc():
                rows = cursor.execute(_SQLITE_POINTS, (device_id, adapt(start), adapt(end))).fetchall()
                m = np.array(rows, dtype=np.float64).reshape(-1, len(POINT_FIELDS))
                del rows
        finally:
            cursor.close()
        columns = [m[:, 0] / 1e6, *m[:, 1:].T]
    else:
        columns = _orm_points(device_id, start, end)
    points = dict(zip(POINT_FIELDS, columns, strict=True))
    if len(points["t"]) > 1 and not (np.diff(points["t"]) > 0).all():  # array_agg's order, see above
        order = np.argsort(points["t"], kind="stable")
        points = {name: values[order] for name, values in points.items()}
    return points


def _orm_points(device_id: int, start: datetime, end: datetime) -> list[np.ndarray]:
    from fleet.tracking.models import Position

    rows = list(
        Position.objects.filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end, valid=True)
        .order_by("fix_time")
        .values_list("fix_time", "latitude", "longitude", "speed", "altitude")
    )
    m = np.array([(ts.timestamp(), *rest) for ts, *rest in rows], dtype=np.float64).reshape(-1, 5)
    return [m[:, i] for i in range(5)]


def read_positions(device_id: int, chunk: int = DEFAULT_CHUNK) -> archive.Reader:
    """The archive's way to the positions table for one device."""
    return lambda lo, hi: Track.concat(list(iter_chunks(device_id, lo, hi, chunk)))


def day_source(device_id: int, chunk: int = DEFAULT_CHUNK) -> archive.DaySource:
    return archive.DaySource(device_id, read_positions(device_id, chunk))


def load_track(device_id: int, start: datetime, end: datetime, chunk: int = DEFAULT_CHUNK) -> Track:
    """One device's fixes with start <= fix_time < end as a single track (closed days from the archive)."""
    return day_source(device_id, chunk).track(start, end)


def iter_tracks(
    device_id: int,
    start: datetime,
    end: datetime,
    window: timedelta = timedelta(days=1),
    margin: timedelta = DEFAULT_MARGIN,
    tz=None,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[tuple[datetime, datetime, Track]]:
    """(window start, window end, track loaded with ``margin`` either side) for consecutive windows.

    With ``tz`` the windows are that timezone's local days (23 / 25 h on DST days) and ``window`` is
    ignored; without it they are ``window`` long from ``start``.
    """
    if tz is not None:
        bounds = [
            (datetime.fromtimestamp(a, start.tzinfo), datetime.fromtimestamp(b, start.tzinfo))
            for a, b, _ in day_windows(start, end, tz)
        ]
    else:
        bounds, cursor = [], start
        while cursor < end:
            bounds.append((cursor, min(cursor + window, end)))
            cursor += window
    reader = WindowReader(device_id, chunk)
    for win_start, win_end in bounds:
        yield win_start, win_end, reader.load(win_start - margin, win_end + margin)


class WindowReader:
    """Loads consecutive windows' tracks, each with a margin either side. Consecutive windows overlap by twice
    the margin: the part the previous window already loaded is kept rather than read again."""

    def __init__(self, device_id: int, chunk: int = DEFAULT_CHUNK) -> None:
        self.source = day_source(device_id, chunk)
        self.track: Track | None = None
        self.span: tuple[datetime, datetime] | None = None

    def load(self, lo: datetime, hi: datetime) -> Track:
        if self.track is not None and self.span[0] <= lo < self.span[1] <= hi:
            kept = self.track.between(lo.timestamp(), self.span[1].timestamp())
            track = Track.concat([kept, self.source.track(self.span[1], hi)])
        else:
            track = self.source.track(lo, hi)
        self.track, self.span = track, (lo, hi)
        return track


def detect_range(
    device_id: int,
    params: Params,
    start: datetime,
    end: datetime,
    tz=None,
    window: timedelta = timedelta(days=1),
    margin: timedelta = DEFAULT_MARGIN,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[list[Trip], list[Stop], list[SummaryRow]]:
    """Trips, stops and summary rows (one per window: per local day with ``tz``) over a long range, one
    window in memory at a time. ``engine.combine_summaries(rows)`` gives the whole range's row."""
    return join_windows(
        detect_window(track, params, win_start, win_end, tz)
        for win_start, win_end, track in iter_tracks(device_id, start, end, window, margin, tz, chunk)
    )


WindowResult = tuple[list[Trip], list[Stop], list[SummaryRow]]


def detect_window(track: Track, params: Params, win_start: datetime, win_end: datetime, tz=None) -> WindowResult:
    """One window: trips and stops of the track (loaded with its margin) clipped to the window, and its
    summary rows (one per local day of ``tz``, else one)."""
    prepared = prepare(track, params)  # shared by detection and the summary
    win_trips, win_stops = detect(track, params, win_start, win_end, prepared)
    return win_trips, win_stops, summary(track, win_trips, win_stops, params, win_start, win_end, tz, prepared)


def join_windows(results: Iterable[WindowResult]) -> WindowResult:
    """Consecutive windows' results as one: trips and stops cut at a window boundary stitched back together,
    summary rows concatenated (a trip or stop continuing from the previous window counts there only)."""
    trips: list[Trip] = []
    stops: list[Stop] = []
    rows: list[SummaryRow] = []
    for win_trips, win_stops, win_rows in results:
        if _continues(trips, win_trips):
            win_rows[0].trips -= 1
        if _continues(stops, win_stops):
            win_rows[0].stops -= 1
        rows.extend(win_rows)
        trips.extend(win_trips)
        stops.extend(win_stops)
    return stitch(trips), stitch(stops), rows


def _continues(before: list, now: list) -> bool:
    return bool(
        before and now and before[-1].clipped_end and now[0].clipped_start and before[-1].end_time == now[0].start_time
    )


__all__ = [
    "WindowReader",
    "combine_summaries",
    "detect_range",
    "detect_window",
    "iter_chunks",
    "iter_tracks",
    "join_windows",
    "load_points",
    "load_track",
]
