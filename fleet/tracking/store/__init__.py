"""The positions store: the one way in and out of the positions table and its closed-day archive.

Writers hand it a batch (``insert``); readers get a device's fixes over a time window as numpy columns, map
points, row tuples, counts and change stamps; closed UTC days come from ``archive``. ``postgres`` and
``sqlite`` hold each database's statements. The design: docs/positions-store.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Min, Q

from fleet.tracking.store import archive
from fleet.tracking.track import FLOAT_FIELDS, Track, attribute_values

if TYPE_CHECKING:
    from fleet.tracking.ingest import Stored
    from fleet.tracking.records import PositionRecord

__all__ = [
    "FLOAT_FIELDS",
    "POINT_FIELDS",
    "Track",
    "WindowReader",
    "archive",
    "around",
    "around_many",
    "count",
    "days",
    "exists",
    "feed",
    "insert",
    "points",
    "read",
    "rows",
    "stamps",
    "stamps_many",
    "window",
]

DEFAULT_CHUNK = 20_000
POINT_FIELDS = ("t", "lat", "lon", "speed", "altitude")


def backend() -> ModuleType:
    """The statements of the database in use (PostgreSQL or SQLite)."""
    if connection.vendor == "postgresql":
        from fleet.tracking.store import postgres

        return postgres
    from fleet.tracking.store import sqlite

    return sqlite


def _positions():
    from fleet.tracking.models import Position

    return Position.objects


# ------------------------------------------------------------------------------------------------ write


def insert(records: list[PositionRecord], devices: dict[str, int]) -> list[Stored]:
    """Insert the records (``devices`` maps their device ids to pks), dropping duplicates of (device, fix_time);
    move each device's last position forward to its newest new fix, never back; return what was stored."""
    if not records:
        return []
    return backend().insert(records, devices)


# ------------------------------------------------------------------------------------------------- read


def read(device_id: int, start: datetime, end: datetime, chunk: int = DEFAULT_CHUNK) -> Iterator[Track]:
    """The device's fixes with start <= fix_time < end from the positions table (not the archive), in time
    order, as tracks of at most ``chunk`` fixes."""
    tracks = backend().chunks(device_id, start, end, chunk)
    yield from _decoded_chunks(device_id, start, end, chunk) if tracks is None else tracks


WINDOW_FIELDS = ("fix_time", "latitude", "longitude", "speed", "valid", "attributes", "altitude")


def _decoded_chunks(device_id: int, start: datetime, end: datetime, chunk: int) -> Iterator[Track]:
    """The slow way, for rows whose attributes predate ingest's coercion: each row's JSON decoded here."""
    fixes = (
        _positions()
        .filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end)
        .order_by("fix_time")
        .values_list(*WINDOW_FIELDS)
        .iterator(chunk_size=chunk)
    )
    keys = ("ignition", "odometer_m", "fuel_l", "engine_hours_s", "battery_level", "battery")
    while batch := list(islice(fixes, chunk)):
        times, lats, lons, speeds, valids, attrs, altitudes = zip(*batch, strict=True)
        columns = np.array([attribute_values(*((a or {}).get(k) for k in keys)) for a in attrs]).reshape(-1, 5)
        yield Track(
            t=np.fromiter((ts.timestamp() for ts in times), dtype=np.float64, count=len(batch)),
            lat=np.array(lats, dtype=np.float64),
            lon=np.array(lons, dtype=np.float64),
            speed=np.array(speeds, dtype=np.float64),
            valid=np.array(valids, dtype=bool),
            altitude=np.array(altitudes, dtype=np.float64),
            **dict(zip(("ignition", "odometer", "fuel", "hours", "battery"), columns.T, strict=True)),
        )


def table_reader(device_id: int, chunk: int = DEFAULT_CHUNK) -> archive.Reader:
    """The device's fixes from the positions table as one track: ``reader(lo, hi)``."""
    return lambda lo, hi: Track.concat(list(read(device_id, lo, hi, chunk)))


def days(device_id: int, chunk: int = DEFAULT_CHUNK) -> archive.DaySource:
    """The device's fixes, closed days from the archive and the rest from the table."""
    return archive.DaySource(device_id, table_reader(device_id, chunk))


def window(device_id: int, start: datetime, end: datetime, chunk: int = DEFAULT_CHUNK) -> Track:
    """One device's fixes with start <= fix_time < end as a single track."""
    return days(device_id, chunk).track(start, end)


def around(device_id: int, spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Each [lo, hi) widened to the device's last fix before ``lo`` and its first fix at or after ``hi``,
    whatever their age: what a window must read to see a stop or a trip across its edges whole (a receiver
    asleep through the night leaves no fix in any fixed margin). One query (two index probes per span)."""
    if not spans:
        return []
    if connection.vendor == "postgresql":
        found = backend().around(device_id, spans)
    else:
        found = _around_devices([device_id], spans).get(device_id) or [(None, None)] * len(spans)
    return _widened(spans, found)


def around_many(device_ids: list[int], spans: list[tuple[datetime, datetime]]) -> dict[int, list[tuple]]:
    """``around`` of each device over the same spans, in a constant number of queries (one on PostgreSQL, one
    per few hundred devices on SQLite) instead of one per device: a fleet's day costs a round trip, not
    thousands."""
    if not spans:
        return {device_id: [] for device_id in device_ids}
    if connection.vendor == "postgresql":
        found = backend().around_many(device_ids, spans)
    else:
        found = {}
        for lo in range(0, len(device_ids), AROUND_DEVICES):
            found.update(_around_devices(device_ids[lo : lo + AROUND_DEVICES], spans))
    none = [(None, None)] * len(spans)
    return {device_id: _widened(spans, found.get(device_id, none)) for device_id in device_ids}


def _widened(spans: list[tuple[datetime, datetime]], found: list[tuple]) -> list[tuple[datetime, datetime]]:
    out = []
    for (lo, hi), (before, after) in zip(spans, found, strict=True):
        out.append(((min(lo, before) if before else lo), (max(hi, after + TICK) if after else hi)))
    return out


AROUND_DEVICES = 500  # devices per SQLite query of ``around_many``


def _around_devices(device_ids: list[int], spans: list[tuple[datetime, datetime]]) -> dict[int, list[tuple]]:
    """``around``'s probes on SQLite, for one device or several in one query: a row per device, its probes as
    subqueries (SQLite plans them cheaply)."""
    from django.db.models import OuterRef, Subquery

    from fleet.tracking.models import Device

    def probe(**where):
        order = "-fix_time" if "fix_time__lt" in where else "fix_time"
        fixes = _positions().filter(device_id=OuterRef("pk"), **where).order_by(order).values("fix_time")[:1]
        return Subquery(fixes)

    probes = {}
    for k, (lo, hi) in enumerate(spans):
        probes[f"b{k}"] = probe(fix_time__lt=lo)
        probes[f"a{k}"] = probe(fix_time__gte=hi)
    rows = Device.objects.filter(pk__in=device_ids).annotate(**probes).values("pk", *probes)
    return {row["pk"]: [(row[f"b{k}"], row[f"a{k}"]) for k in range(len(spans))] for row in rows}


TICK = timedelta(microseconds=1)  # [a, b + TICK) holds the fix at b


class WindowReader:
    """Loads consecutive windows of one device. Windows that overlap (a report's days with their margins)
    keep the part the previous window loaded rather than read it again."""

    def __init__(self, device_id: int, chunk: int = DEFAULT_CHUNK) -> None:
        self.device_id = device_id
        self.source = days(device_id, chunk)
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


def before(device_id: int, start: datetime, fixes: int) -> Track:
    """The device's last ``fixes`` fixes before ``start``."""
    times = list(
        _positions()
        .filter(device_id=device_id, fix_time__lt=start)
        .order_by("-fix_time")
        .values_list("fix_time", flat=True)[:fixes]
    )
    return window(device_id, min(times), start) if times else Track.empty()


def points(
    device_id: int, start: datetime, end: datetime, spans: list[tuple[datetime, datetime]] | None = None
) -> dict[str, np.ndarray]:
    """The device's valid fixes with start <= fix_time < end as arrays ``t`` (epoch seconds), ``lat``, ``lon``,
    ``speed`` (km/h) and ``altitude`` (metres, NaN when unknown): what map lines and GPX tracks need.
    ``spans`` ([a, b) pairs inside the range) lets the table read only fixes inside them (the caller cuts
    the spans out either way)."""
    source = days(device_id)
    if start >= source.closed:
        return table_points(device_id, start, end, spans)
    track = source.track(start, min(end, source.closed))
    kept = track.valid
    archived = [track.t[kept], track.lat[kept], track.lon[kept], track.speed[kept], track.altitude[kept]]
    if end <= source.closed:
        return dict(zip(POINT_FIELDS, archived, strict=True))
    recent = table_points(device_id, source.closed, end, spans)
    return {name: np.concatenate([a, recent[name]]) for name, a in zip(POINT_FIELDS, archived, strict=True)}


def table_points(
    device_id: int, start: datetime, end: datetime, spans: list[tuple[datetime, datetime]] | None = None
) -> dict[str, np.ndarray]:
    """``points`` from the positions table alone."""
    spans = [(max(a, start), b) for a, b in spans or () if b > start]
    out = dict(zip(POINT_FIELDS, backend().points(device_id, start, end, spans), strict=True))
    if len(out["t"]) > 1 and not (np.diff(out["t"]) > 0).all():
        order = np.argsort(out["t"], kind="stable")
        out = {name: values[order] for name, values in out.items()}
    return out


def rows(
    device_id: int,
    start: datetime,
    end: datetime,
    fields: tuple[str, ...],
    include_end: bool = False,
    limit: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    newest_first: bool = False,
) -> Iterator[tuple]:
    """The device's fixes in [start, end) (or [start, end] with ``include_end``) in time order (or newest first),
    as tuples of ``fields`` (Position field names), at most ``limit`` of them."""
    until = {"fix_time__lte": end} if include_end else {"fix_time__lt": end}
    fixes = _positions().filter(device_id=device_id, fix_time__gte=start, **until)
    fixes = fixes.order_by("-fix_time" if newest_first else "fix_time")
    fixes = fixes.values_list(*fields)
    if limit is not None:
        return iter(fixes[:limit])
    return fixes.iterator(chunk_size=chunk)


FEED_FIELDS = ("id", "device_id", "fix_time", "latitude", "longitude", "altitude", "speed", "course", "accuracy")
FEED_FIELDS += ("valid", "attributes")


def feed(organization_ids: list[int] | None, after: int, upto: int, limit: int) -> list[tuple]:
    """Positions of the organisations' devices (None: every device) with ids in (after, upto], in id order, at
    most ``limit``: tuples of FEED_FIELDS, times aware UTC and ``attributes`` as its JSON text (the API sends it
    as stored). The REST API's positions feed: one statement, no model instances."""
    return backend().feed(organization_ids, after, upto, limit)


def attribute(device_id: int, start: datetime, end: datetime, key: str) -> Iterator[tuple[float, object]]:
    """(fix epoch seconds, value) of the device's fixes in [start, end) that carry the attribute ``key``."""
    fixes = (
        _positions()
        .filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end, attributes__has_key=key)
        .order_by("fix_time")
        .values_list("fix_time", f"attributes__{key}")
        .iterator(chunk_size=DEFAULT_CHUNK)
    )
    return ((when.timestamp(), value) for when, value in fixes)


def exists(device_id: int, start: datetime, end: datetime) -> bool:
    """Whether the device has a fix in [start, end) (one index probe)."""
    return _positions().filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end).exists()


def count(device_ids: list[int], start: datetime, end: datetime, limit: int) -> int:
    """Positions of the devices in [start, end), counted up to about ``limit`` (the count stops there): the
    archived days from their row counts, the rest from the positions table."""
    known, spans = archive.count(device_ids, start, end)
    if known >= limit or not spans:
        return known
    by_span: dict[tuple[datetime, datetime], list[int]] = {}
    for device_id, lo, hi in spans:
        by_span.setdefault((lo, hi), []).append(device_id)
    where = Q()
    for (lo, hi), ids in by_span.items():
        where |= Q(device_id__in=ids, fix_time__gte=lo, fix_time__lt=hi)
    fixes = _positions().filter(where).order_by().values("fix_time")
    return known + fixes[: limit - known].count()  # the (device, fix_time) index suffices


# ----------------------------------------------------------------------------------------------- stamps

STAMP_FIELDS = ("n", "last_id", "last_server", "first", "last")


def stamps(device_id: int, windows: list[tuple[datetime, datetime]]) -> list[tuple]:
    """For each window, a value that changes whenever the device's fixes in it change: ``stamps_many`` of one
    device. Read before the fixes themselves."""
    return stamps_many({device_id: windows})[device_id]


def stamps_many(reads: dict[int, list[tuple[datetime, datetime]]]) -> dict[int, list[tuple]]:
    """For each of many devices' windows ({device: windows}), a value that changes whenever the device's fixes
    in it change: (the archive versions of the UTC days it touches, None, its bounds) for a window that ends by
    ``archive.settled_until`` (any later change to its fixes raises a version), else (the versions of its closed
    days, ``data_stamp`` of its part after them, its bounds). A day whose changes all touched fixes at or after
    the window's end counts as version 0 (``first_change``: a late fix this afternoon leaves this morning's
    read alone). The bounds are the window's own: a caller's window
    widened to the fixes around it (``around``) moves when a fix appears beyond it, whatever the versions say.
    In a constant number of queries: the database's clock, the versions, and the data stamps of the windows
    still open (per few hundred windows on SQLite)."""
    windows = [span for spans in reads.values() for span in spans]
    if not windows:
        return {device_id: [] for device_id in reads}
    now = backend().now()
    closed, settled = archive.closed_until(now), archive.settled_until(now)

    def versioned(hi: datetime) -> datetime:  # the window's part its days' versions describe
        return hi if hi <= settled else min(hi, closed)

    utc_days = archive.utc_days(min(lo for lo, _ in windows), max(versioned(hi) for _, hi in windows))
    known = archive.versions_many(list(reads), utc_days[0], utc_days[-1]) if utc_days else {}
    recent = sorted({(d, max(lo, closed), hi) for d, spans in reads.items() for lo, hi in spans if hi > settled})
    recent_stamps = dict(zip(recent, backend().data_stamps_many(recent), strict=True))
    out = {}
    for device_id, spans in reads.items():
        out[device_id] = []
        for lo, hi in spans:
            days = archive.utc_days(lo, versioned(hi))
            versions = tuple((day.toordinal(), _version(known.get((device_id, day)), hi)) for day in days)
            stamp = recent_stamps.get((device_id, max(lo, closed), hi))
            data = None if stamp is None else tuple(_plain(v) for v in stamp)
            out[device_id].append((versions, data, lo.timestamp(), hi.timestamp()))
    return out


def _version(row: tuple | None, end: datetime) -> int:
    """A day's version as the stamp of a window ending at ``end``: 0 when no change ever touched a fix of the
    day before ``end`` (none at all, or all at or after it); the version when one did, or when that is unknown
    (a change before the archive kept ``first_change``)."""
    if row is None:
        return 0
    version, first_change = row
    return 0 if first_change is not None and first_change >= end else version


def data_stamp(device_id: int, start: datetime, end: datetime) -> tuple:
    """What changes whenever the device's fixes with start <= fix_time < end change: count, max(id),
    max(server_time), min / max(fix_time). Ids only grow, so an insert raises max(id) and a delete lowers
    the count (or, with an insert, changes max(id)); ingest never rewrites a fix in place."""
    stats = (
        _positions()
        .filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end)
        .aggregate(
            n=Count("id"),
            last_id=Max("id"),
            last_server=Max("server_time"),
            first=Min("fix_time"),
            last=Max("fix_time"),
        )
    )
    return tuple(_plain(stats[k]) for k in STAMP_FIELDS)


def _plain(value):
    return value.timestamp() if isinstance(value, datetime) else value
