"""The closed-day cache: the engine's per-device, per-local-day results, kept in Django's cache.

``detect_range_cached`` returns exactly what ``loader.detect_range(..., tz=tz)`` returns. It walks the same
local-day windows; a window that is a whole local day and already over ("closed") is looked up in the cache
first and computed (then stored) only on a miss. Other windows (today, a range that starts or ends
mid-day, ranges without a timezone) are computed as the loader does.

What a day's entry holds: the window's trips, stops and summary rows as ``detect`` / ``summary`` return
them, before the cross-window bookkeeping (``_continues`` counting, ``stitch``), which is redone on every
call, so a cached day combines with its neighbours exactly like a computed one.

**Never stale.** The key holds a stamp of the positions the day's computation reads: the device's fixes in
[day start - margin, day end + margin), the window the loader loads (``window_stamps``). For the UTC days of
that window that are closed, the stamp is their archive versions (``fleet.reports.archive``: triggers raise a
closed day's version on any insert, update or delete of its fixes); for the rest (a window that reaches into
today), one aggregate query over the (device, fix_time) unique index: count, max(id), max(server_time), min /
max(fix_time). Ids only grow, so any insert raises max(id) and any delete lowers the count (or, with an
insert, changes max(id)); ingest never rewrites a fix in place, and a vendor correction that did would set
server_time. Any change therefore produces a new key, and the old entry simply expires (``TIMEOUT``).

The key also holds the report parameters, the timezone, the margin, the database name (dev servers and
test runs can share one Redis) and a hash of the engine's source, so a deployment that changes how trips
are detected never serves results of the old code. Entries are written only once the transaction that
read the positions commits (``on_commit``): a result computed from rows that get rolled back (tests, a
failed import) never reaches the cache. A cache that is down costs speed, not the report.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.cache import caches
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from fleet.reports import archive, loader
from fleet.reports.engine import Stop, SummaryRow, Trip, day_windows
from fleet.reports.track import Params

logger = logging.getLogger(__name__)

CACHE_ALIAS = "default"
TIMEOUT = 35 * 86400  # a month of closed days stays warm; a changed day's old entry ages out
_ENGINE_FILES = ("engine.py", "motion.py", "distance.py", "track.py", "loader.py", "cache.py", "archive.py")
ENGINE_VERSION = hashlib.sha1(  # noqa: S324 - a fingerprint, not security
    b"".join((Path(__file__).with_name(name)).read_bytes() for name in _ENGINE_FILES)
).hexdigest()[:12]

DayResult = tuple[list[Trip], list[Stop], list[SummaryRow]]


def detect_range_cached(
    device_id: int, params: Params, start: datetime, end: datetime, tz=None
) -> tuple[list[Trip], list[Stop], list[SummaryRow]]:
    """``loader.detect_range(device_id, params, start, end, tz=tz)``, closed local days from the cache."""
    if tz is None:
        return loader.detect_range(device_id, params, start, end)
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    now = _now().timestamp()
    reader = loader.WindowReader(device_id)
    margin = loader.DEFAULT_MARGIN
    windows = [
        (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC), _whole_day(a, b, day, zone) and b <= now)
        for a, b, day in day_windows(start, end, zone)
    ]
    closed = [(ws, we) for ws, we, is_closed in windows if is_closed]
    stamps = window_stamps(device_id, [(ws - margin, we + margin) for ws, we in closed])  # two queries
    keys = {ws: day_key(device_id, params, ws, we, zone, stamp) for (ws, we), stamp in zip(closed, stamps, strict=True)}
    hits = _get_many(list(keys.values()))  # one cache round trip

    def results():
        for win_start, win_end, is_closed in windows:
            if not is_closed:
                yield compute_window(reader, params, win_start, win_end, zone)
            elif (hit := hits.get(keys[win_start])) is not None:
                yield pickle.loads(hit)  # noqa: S301 - our own entry (see _computed_closed_day)
            else:
                yield _computed_closed_day(reader, params, win_start, win_end, zone, keys[win_start])

    return loader.join_windows(results())


def compute_window(
    reader: loader.WindowReader, params: Params, win_start: datetime, win_end: datetime, zone
) -> DayResult:
    """One window as ``loader.detect_range`` computes it: the track with the margin, detected and summed."""
    margin = loader.DEFAULT_MARGIN
    return loader.detect_window(reader.load(win_start - margin, win_end + margin), params, win_start, win_end, zone)


def _whole_day(a: float, b: float, day: date, zone: ZoneInfo) -> bool:
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return a == midnight.timestamp() and b == next_midnight.timestamp()


def _computed_closed_day(
    reader: loader.WindowReader, params: Params, win_start: datetime, win_end: datetime, zone, key: str
) -> DayResult:
    result = compute_window(reader, params, win_start, win_end, zone)
    # Pickled now (the caller adjusts the first summary row), stored only if the data we read commits.
    snapshot = pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
    transaction.on_commit(lambda: _set(key, snapshot))
    return result


def window_stamps(device_id: int, windows: list[tuple[datetime, datetime]]) -> list[tuple]:
    """What changes whenever the device's positions in a window change, for each window: the archive's
    versions of the closed UTC days it touches (``fleet.reports.archive``: any change to a closed day raises
    its version) and ``data_stamp`` of its part after them. Read before the positions themselves."""
    if not windows:
        return []
    closed = archive.closed_until()
    days = archive.utc_days(min(lo for lo, _ in windows), min(max(hi for _, hi in windows), closed))
    known = archive.versions(device_id, days[0], days[-1]) if days else {}
    recent = [(max(lo, closed), hi) for lo, hi in windows if hi > closed]
    recent_stamps = dict(zip(recent, data_stamps(device_id, recent), strict=True))
    out = []
    for lo, hi in windows:
        closed_days = archive.utc_days(lo, min(hi, closed))
        versions = tuple((day.toordinal(), known.get(day, (0,))[0]) for day in closed_days)
        out.append((versions, recent_stamps.get((max(lo, closed), hi))))
    return out


STAMP_FIELDS = ("n", "last_id", "last_server", "first", "last")


def data_stamp(device_id: int, start: datetime, end: datetime) -> tuple:
    """What changes whenever the device's positions with start <= fix_time < end change (one query)."""
    from fleet.tracking.models import Position

    stats = Position.objects.filter(device_id=device_id, fix_time__gte=start, fix_time__lt=end).aggregate(
        n=Count("id"), last_id=Max("id"), last_server=Max("server_time"), first=Min("fix_time"), last=Max("fix_time")
    )
    return tuple(_plain(stats[k]) for k in STAMP_FIELDS)


# Per bucket between consecutive window edges, in one pass over the range (PostgreSQL's width_bucket).
_PG_BUCKET_STAMPS = (
    "SELECT width_bucket(fix_time, %s::timestamptz[]), count(*), max(id), max(server_time), min(fix_time), "
    "max(fix_time) FROM tracking_position WHERE device_id = %s AND fix_time >= %s AND fix_time < %s GROUP BY 1"
)


def data_stamps(device_id: int, windows: list[tuple[datetime, datetime]]) -> list[tuple]:
    """``data_stamp`` of each window, equal to it; on PostgreSQL in one query whatever the number of windows
    (the windows' edges cut the range into buckets; a window's stamp combines the buckets it spans)."""
    if not windows:
        return []
    if connection.vendor != "postgresql":
        return [data_stamp(device_id, lo, hi) for lo, hi in windows]
    edges = sorted({edge for window in windows for edge in window})
    with connection.cursor() as cursor:
        cursor.execute(_PG_BUCKET_STAMPS, [edges, device_id, edges[0], edges[-1]])
        buckets = {row[0]: row[1:] for row in cursor.fetchall()}  # bucket k holds [edges[k-1], edges[k])
    index = {edge: k for k, edge in enumerate(edges)}
    out = []
    for lo, hi in windows:
        parts = [buckets[k] for k in range(index[lo] + 1, index[hi] + 1) if k in buckets]
        columns = list(zip(*parts, strict=True)) or [()] * 5
        n, last_id, last_server = sum(columns[0]), _max(columns[1]), _max(columns[2])
        out.append((n, last_id, _plain(last_server), _plain(_min(columns[3])), _plain(_max(columns[4]))))
    return out


def _max(values):
    return max((v for v in values if v is not None), default=None)


def _min(values):
    return min((v for v in values if v is not None), default=None)


def day_key(
    device_id: int, params: Params, win_start: datetime, win_end: datetime, zone, stamp: tuple | None = None
) -> str:
    """The cache key of a closed day: everything its result depends on, including ``data_stamp`` of the day
    with its margins (computed here unless given)."""
    margin = loader.DEFAULT_MARGIN
    if stamp is None:
        (stamp,) = window_stamps(device_id, [(win_start - margin, win_end + margin)])
    parts = (
        ENGINE_VERSION,
        connection.settings_dict.get("NAME"),
        device_id,
        win_start.timestamp(),
        win_end.timestamp(),
        str(zone),
        margin.total_seconds(),
        astuple(params),
        stamp,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
    return f"reports:day:{device_id}:{digest}"


def _now() -> datetime:
    return timezone.now()


def _plain(value):
    return value.timestamp() if isinstance(value, datetime) else value


def _get_many(keys: list[str]) -> dict[str, bytes]:
    if not keys:
        return {}
    try:
        return caches[CACHE_ALIAS].get_many(keys)
    except Exception:  # the cache is an optimisation: a broken one must not break reports
        logger.warning("reports cache: get_many failed", exc_info=True)
        return {}


def _set(key: str, value: bytes) -> None:
    try:
        caches[CACHE_ALIAS].set(key, value, TIMEOUT)
    except Exception:
        logger.warning("reports cache: set failed", exc_info=True)


def warm_yesterday(organization, now: datetime | None = None) -> int:
    """Compute (or confirm) the cached results of the organisation's last closed local day for every device
    that may have reported in it (last fix at or after its start), so the first report over past days of a
    morning reads them from the cache. Returns how many devices were visited (a device whose day is cached
    already costs one stamp query and one cache read)."""
    from fleet.tracking.models import Device

    zone = ZoneInfo(organization.timezone)
    local_today = (now or _now()).astimezone(zone).date()
    start = datetime.combine(local_today - timedelta(days=1), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(local_today, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    params = Params.for_org(organization)
    devices = Device.objects.filter(organization=organization, last_fix_time__gte=start).values_list("pk", flat=True)
    visited = 0
    for device_id in devices:
        with transaction.atomic():  # the entry is stored on commit
            detect_range_cached(device_id, params, start, end, tz=zone)
        visited += 1
    return visited


def archive_recent_days(days: int, organization=None) -> tuple[int, int]:
    """Fill the reports archive for the last ``days`` UTC days of every device (of ``organization``, or all):
    days missing or out of date are read from the positions table once (``archive.archive_days``). Returns
    (device-days read, devices visited)."""
    from fleet.tracking.models import Device

    today = _now().astimezone(UTC).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    devices = Device.objects.order_by("pk")
    if organization is not None:
        devices = devices.filter(organization=organization)
    read = visited = 0
    for device_id in devices.values_list("pk", flat=True):
        read += archive.archive_days(device_id, loader.read_positions(device_id), first, last)
        visited += 1
    return read, visited
