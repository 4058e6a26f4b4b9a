"""The closed-day cache: each device's per-local-day engine results, kept in Django's cache.

``detect_range_cached`` returns exactly what ``ranges.detect_range(..., tz=tz)`` returns. A window that is a
whole local day and already over is looked up first and computed (then stored) only on a miss; other
windows (today, partial days, ranges without a timezone) are computed. The key holds everything the result
depends on, the positions' change stamp included, so an entry is never stale (docs/reports-engine.md).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import caches
from django.db import connection, transaction
from django.utils import timezone

from fleet.reports import ranges, serial
from fleet.reports.engine import Params, WindowResult, day_windows, join_windows
from fleet.reports.ranges import DEFAULT_MARGIN
from fleet.tracking import store

logger = logging.getLogger(__name__)

CACHE_ALIAS = "default"
TIMEOUT = 35 * 86400  # a month of closed days stays warm; a changed day's old entry ages out
# Raise it whenever the engine's results change (tests/reports/test_engine_version.py notices when they do):
# entries computed by an older engine are then never read.
ENGINE_VERSION = 2


def detect_range_cached(device_id: int, params: Params, start: datetime, end: datetime, tz=None) -> WindowResult:
    """``ranges.detect_range(device_id, params, start, end, tz=tz)``, closed local days from the cache."""
    if tz is None:
        return ranges.detect_range(device_id, params, start, end)
    return CachedRange(device_id, params, start, end, tz).result()


class CachedRange:
    """One device's range as ``detect_range_cached`` walks it: its local-day windows, the cache keys of the
    closed ones and the entries found (one ``store.around`` query, one stamp call, one cache round trip).
    ``to_compute`` says what ``result()`` will still have to compute, before anything is computed."""

    def __init__(self, device_id: int, params: Params, start: datetime, end: datetime, tz) -> None:
        self.device_id, self.params = device_id, params
        self.zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        now = _now().timestamp()
        self.windows = [
            (
                datetime.fromtimestamp(a, UTC),
                datetime.fromtimestamp(b, UTC),
                _whole_day(a, b, day, self.zone) and b <= now,
            )
            for a, b, day in day_windows(start, end, self.zone)
        ]
        closed = [(ws, we) for ws, we, is_closed in self.windows if is_closed]
        margin = DEFAULT_MARGIN
        reads = store.around(device_id, [(ws - margin, we + margin) for ws, we in closed])  # what each day reads
        stamps = store.stamps(device_id, reads)
        self.keys = {
            ws: day_key(device_id, params, ws, we, self.zone, stamp)
            for (ws, we), stamp in zip(closed, stamps, strict=True)
        }
        self.hits = _get_many(list(self.keys.values()))

    @property
    def to_compute(self) -> list[tuple[datetime, datetime]]:
        """The windows ``result()`` computes: the open ones (today, partial days) and the closed days the cache
        does not hold."""
        return [(ws, we) for ws, we, is_closed in self.windows if not is_closed or self.keys[ws] not in self.hits]

    @property
    def closed_misses(self) -> int:
        """Closed days the cache does not hold (each is computed, then stored)."""
        return sum(1 for ws, _we, is_closed in self.windows if is_closed and self.keys[ws] not in self.hits)

    def result(self) -> WindowResult:
        reader = store.WindowReader(self.device_id)
        params, zone = self.params, self.zone

        def results():
            for win_start, win_end, is_closed in self.windows:
                if not is_closed:
                    yield ranges.compute_window(reader, params, win_start, win_end, zone)
                elif (hit := _decoded(self.hits.get(self.keys[win_start]))) is not None:
                    yield hit
                else:
                    yield _computed_closed_day(reader, params, win_start, win_end, zone, self.keys[win_start])

        return join_windows(results())


def _whole_day(a: float, b: float, day: date, zone: ZoneInfo) -> bool:
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return a == midnight.timestamp() and b == next_midnight.timestamp()


def _computed_closed_day(
    reader: store.WindowReader, params: Params, win_start: datetime, win_end: datetime, zone, key: str
) -> WindowResult:
    result = ranges.compute_window(reader, params, win_start, win_end, zone)
    # Encoded now (the caller adjusts the first summary row), stored only if the data we read commits.
    snapshot = serial.dumps(result)
    transaction.on_commit(lambda: _set(key, snapshot))
    return result


def day_key(
    device_id: int, params: Params, win_start: datetime, win_end: datetime, zone, stamp: tuple | None = None
) -> str:
    """The cache key of a closed day: everything its result depends on, including the change stamp of the
    fixes the day reads (``ranges.read_bounds``: its margins and the fixes around; ``store.stamps``, read here
    unless given)."""
    margin = DEFAULT_MARGIN
    if stamp is None:
        (stamp,) = store.stamps(device_id, [ranges.read_bounds(device_id, win_start, win_end, margin)])
    parts = (
        ENGINE_VERSION,
        serial.FORMAT,
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


def _decoded(entry: bytes | None):
    """A cached day's result; None for a miss or an entry this version cannot read."""
    if entry is None:
        return None
    try:
        return WindowResult(*serial.loads(entry))
    except (serial.FormatError, ValueError, TypeError):
        return None


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
