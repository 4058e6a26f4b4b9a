"""The closed-day archive: each device's closed UTC days of positions, kept column by column.

A month of one vehicle at one fix every 5 s is thirty rows of compressed arrays instead of half a million
positions. Positions stay the only truth: triggers on the positions table raise a closed day's ``version``
on any change, and an archived day is used only while it was built from the current version. How days get
in, and why a day is never stale: docs/positions-store.md.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby

import numpy as np
import zstandard
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from fleet.tracking.models import Device, TrackDay
from fleet.tracking.track import Track

logger = logging.getLogger(__name__)

GRACE = timedelta(hours=1)
# A change of a fix dated more than this long ago, or before the current UTC day, raises its day's version (the
# triggers of migrations tracking/0004 and 0011 hard-code the same ten minutes): live fixes, dated seconds ago,
# raise nothing; a day's part that ended this long ago has a version as a closed day has.
SETTLE = timedelta(minutes=10)
DAY = timedelta(days=1)
_MAGIC = b"FTD2"  # FTD1 had no battery column: such rows are rebuilt
_FLOATS = ("lat", "lon", "speed", "altitude", "ignition", "odometer", "fuel", "hours", "battery")
_ROW_BYTES = 8 + 1 + 8 * len(_FLOATS)  # time step, validity, the float columns
_LEVEL = 1  # zstd's fastest level: a day is compressed while the report that read it waits

DAYS = TrackDay._meta.db_table
Reader = Callable[[datetime, datetime], Track]  # the positions table: fixes with lo <= fix_time < hi


# ------------------------------------------------------------------------------------------- encoding


def encode(track: Track) -> bytes:
    """A day's track as bytes: the times as microsecond steps (mostly one repeated value), then each column."""
    micros = np.rint(track.t * 1e6).astype("<i8")
    steps = np.diff(micros, prepend=np.int64(0))
    body = b"".join(
        [steps.tobytes(), track.valid.astype(np.uint8).tobytes()]
        + [getattr(track, name).astype("<f8").tobytes() for name in _FLOATS]
    )
    return _MAGIC + struct.pack("<I", len(track)) + zstandard.ZstdCompressor(level=_LEVEL).compress(body)


def decode(blob: bytes) -> Track:
    if blob[:4] != _MAGIC:
        raise ValueError("not an archived day")
    (n,) = struct.unpack("<I", blob[4:8])
    size = n * _ROW_BYTES
    body = bytearray(zstandard.ZstdDecompressor().decompress(blob[8:], max_output_size=size))
    if len(body) != size:
        raise ValueError("archived day has the wrong size")
    micros = np.cumsum(np.frombuffer(body, "<i8", n))
    columns = {"t": micros / 1e6, "valid": np.frombuffer(body, np.uint8, n, 8 * n).astype(bool)}
    for i, name in enumerate(_FLOATS):
        columns[name] = np.frombuffer(body, "<f8", n, 9 * n + 8 * n * i)
    return Track(**columns)


# ------------------------------------------------------------------------------------------- the days


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def utc_days(lo: datetime, hi: datetime) -> list[date]:
    """The UTC days that [lo, hi) touches."""
    if hi <= lo:
        return []
    first, last = lo.astimezone(UTC).date(), (hi - timedelta(microseconds=1)).astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _backend():
    from fleet.tracking.store import backend

    return backend()


def closed_until(now: datetime | None = None) -> datetime:
    """The start of the first UTC day that is not archived yet: days ending before it ended ``GRACE`` ago,
    by the database's clock (the one the triggers use; ``now``: a reading of it)."""
    return day_start(((now or _backend().now()) - GRACE).astimezone(UTC).date())


def settled_until(now: datetime) -> datetime:
    """The triggers' bound at the database's time ``now``: every change to a fix dated before it, from then
    on, raises the version of the fix's (device, UTC day), today's included. It only grows."""
    return max(day_start(now.astimezone(UTC).date()), now - SETTLE)


def versions(device_id: int, first: date, last: date, with_data: bool = False) -> dict[date, tuple]:
    """{day: (version, built_version, count, data)} of the device's archive rows from ``first`` to ``last``
    (``data`` only when asked for). A day without a row has version 0 and nothing built."""
    query = (
        f"SELECT day, version, built_version, count, {'data' if with_data else 'NULL'} FROM {DAYS} "
        "WHERE device_id = %s AND day >= %s AND day <= %s"
    )
    if with_data:
        rows = _backend().fetch_days(query, [device_id, first, last])
    else:
        with connection.cursor() as cursor:
            cursor.execute(query, [device_id, first, last])
            rows = cursor.fetchall()
    return {_date(row[0]): row[1:] for row in rows}


def versions_many(device_ids: list[int], first: date, last: date) -> dict[tuple[int, date], tuple]:
    """{(device, day): (version, first_change)} of the devices' archive rows from ``first`` to ``last``, in one
    query (per few thousand devices on SQLite); a day without a row is absent (version 0, never changed)."""
    if connection.vendor == "postgresql":  # the ids as one array parameter (an IN list costs Django more)
        query = (
            f"SELECT device_id, day, version, first_change FROM {DAYS} "
            "WHERE device_id = ANY(%s) AND day >= %s AND day <= %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(query, [device_ids, first, last])
            return {(device_id, day): (version, changed) for device_id, day, version, changed in cursor.fetchall()}
    out = {}
    for lo in range(0, len(device_ids), VERSIONS_DEVICES):
        rows = TrackDay.objects.filter(device_id__in=device_ids[lo : lo + VERSIONS_DEVICES], day__gte=first)
        fields = ("device_id", "day", "version", "first_change")
        for device_id, day, version, changed in rows.filter(day__lte=last).values_list(*fields):
            out[(device_id, _date(day))] = (version, changed)
    return out


VERSIONS_DEVICES = 5000  # under SQLite's 32766 variables


def _date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


_STORE = (
    f"INSERT INTO {DAYS} (device_id, day, version, built_version, count, data) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, day) DO UPDATE SET "
    "built_version = excluded.built_version, count = excluded.count, data = excluded.data "
    f"WHERE {DAYS}.version = excluded.built_version"
)


def store(device_id: int, day: date, version: int, track: Track) -> None:
    """Archive the day as built from positions read at ``version`` (kept only if that is still current).
    A database that refuses the write (a read-only replica) costs speed, not the report."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_STORE, [device_id, day, version, version, len(track), encode(track)])
    except DatabaseError:
        logger.warning("archive: could not store device %s day %s", device_id, day, exc_info=True)


class DaySource:
    """One device's fixes for the loader: closed days from the archive (reading and archiving those it
    lacks), the rest from the positions table through ``read``. Decoded days are kept while the caller
    moves forward (windows of a long range), so each closed day is read once per report."""

    def __init__(self, device_id: int, read: Reader) -> None:
        self.device_id, self.read = device_id, read
        self.days: dict[date, Track] = {}
        self._closed: datetime | None = None

    @property
    def closed(self) -> datetime:
        """``closed_until()``, asked once."""
        if self._closed is None:
            self._closed = closed_until()
        return self._closed

    def track(self, lo: datetime, hi: datetime) -> Track:
        """The device's fixes with lo <= fix_time < hi."""
        if hi <= lo:
            return Track.empty()
        parts = []
        if lo < self.closed:
            days = utc_days(lo, min(hi, self.closed))
            for old in [d for d in self.days if d < days[0]]:
                del self.days[old]
            self._fill([d for d in days if d not in self.days])
            parts = [self.days[d].between(lo.timestamp(), hi.timestamp()) for d in days]
        if hi > self.closed:
            parts.append(self.read(max(lo, self.closed), hi))
        return parts[0] if len(parts) == 1 else Track.concat(parts)

    def _fill(self, days: list[date]) -> None:
        if not days:
            return
        rows = versions(self.device_id, days[0], days[-1], with_data=True)  # before the positions: see above
        missing = []
        for day in days:
            version, built, _, data = rows.get(day, (0, None, 0, None))
            track = _decoded(data) if data is not None and built == version else None
            if track is None:
                missing.append((day, version))
            else:
                self.days[day] = track
        # consecutive missing days in one read
        for _, run in groupby(enumerate(missing), key=lambda item: item[1][0].toordinal() - item[0]):
            run = [day_version for _, day_version in run]
            whole = self.read(day_start(run[0][0]), day_start(run[-1][0]) + DAY)
            for day, version in run:
                self.days[day] = whole.between(day_start(day).timestamp(), (day_start(day) + DAY).timestamp())
                store(self.device_id, day, version, self.days[day])


def _decoded(data) -> Track | None:
    """An archived day, or None when it cannot be read (an older format, damage): it is built again."""
    try:
        return decode(bytes(data))
    except (ValueError, zstandard.ZstdError):
        return None


def count(device_ids: list[int], start: datetime, end: datetime) -> tuple[int, list[tuple[int, datetime, datetime]]]:
    """(positions the archive knows of in [start, end), the (device, lo, hi) spans it does not cover): the
    whole UTC days inside the range that are archived and current are counted from their rows."""
    whole = [d for d in utc_days(start, end) if start <= day_start(d) and day_start(d) + DAY <= end]
    known: dict[int, dict[date, int]] = {}
    if whole and device_ids:
        rows = TrackDay.objects.filter(
            device_id__in=device_ids, day__gte=whole[0], day__lte=whole[-1], built_version=F("version")
        )
        for device_id, day, n in rows.values_list("device_id", "day", "count"):
            known.setdefault(device_id, {})[day] = n
    total, spans = 0, []
    for device_id in device_ids:
        days = known.get(device_id, {})
        total += sum(days.values())
        cursor_at = start
        for day in sorted(days):
            if day_start(day) > cursor_at:
                spans.append((device_id, cursor_at, day_start(day)))
            cursor_at = day_start(day) + DAY
        if cursor_at < end:
            spans.append((device_id, cursor_at, end))
    return total, spans


def prune(before: date | None) -> int:
    """Drop archived days before ``before`` (the positions' retention) and those of deleted devices."""
    gone = ~Q(device_id__in=Device.objects.values("pk"))
    if before is not None:
        gone |= Q(day__lt=before)
    deleted, _ = TrackDay.objects.filter(gone).delete()
    return deleted


def archive_days(device_id: int, read: Reader, first: date, last: date) -> int:
    """Archive the device's closed days from ``first`` to ``last`` that are missing or out of date, one day
    in memory at a time; return how many days were read from the positions table."""
    source = DaySource(device_id, read)
    days = [
        d
        for d in (first + timedelta(days=i) for i in range((last - first).days + 1))
        if day_start(d) + DAY <= source.closed
    ]
    current = versions(device_id, days[0], days[-1]) if days else {}
    built = 0
    for day in days:
        version, built_version, _, _ = current.get(day, (0, None, 0, None))
        if built_version != version:
            source.track(day_start(day), day_start(day) + DAY)
            built += 1
    return built


def archive_recent_days(days: int, organization=None) -> tuple[int, int]:
    """Fill the archive for the last ``days`` UTC days of every device (of ``organization``, or all): days
    missing or out of date are read from the positions table once. Returns (device-days read, devices)."""
    from fleet.tracking.store import table_reader

    today = timezone.now().astimezone(UTC).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    if settings.POSITION_RETENTION_DAYS > 0:  # days the retention dropped are not archived again
        first = max(first, today - timedelta(days=settings.POSITION_RETENTION_DAYS))
    devices = Device.objects.order_by("pk")
    if organization is not None:
        devices = devices.filter(organization=organization)
    built = visited = 0
    for device_id in devices.values_list("pk", flat=True):
        built += archive_days(device_id, table_reader(device_id), first, last)
        visited += 1
    return built, visited


def prune_expired() -> int:
    """The archive's days older than the positions' retention, and those of deleted devices."""
    retention = settings.POSITION_RETENTION_DAYS
    return prune(timezone.now().date() - timedelta(days=retention) if retention > 0 else None)
