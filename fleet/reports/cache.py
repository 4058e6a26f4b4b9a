"""The closed-day cache: each device's per-local-day engine results, kept in Django's cache.

``detect_range_cached`` returns exactly what ``ranges.detect_range(..., tz=tz)`` returns. A window that is a
whole local day and already over is looked up first and computed (then stored) only on a miss; other
windows (today, partial days, ranges without a timezone) are computed. The key holds everything the result
depends on, the positions' change stamp included, so an entry is never stale (docs/reports-engine.md).
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from django.core.cache import caches
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from fleet.reports import ranges, serial
from fleet.reports.engine import Params, SummaryRow, WindowResult, day_windows, join_windows
from fleet.reports.models import FleetRows
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


_plans: ContextVar[dict | None] = ContextVar("report_plans", default=None)


@contextmanager
def reuse_plans():
    """Within the block, ``CachedRange.many`` plans each (devices, parameters, range) once: a page that first
    asks whether a fleet's report is cheap enough for the request, then builds it, reads the stamps and the
    cache once (for 5,800 devices, 1.1 s of the page's 2.5 s on the soak's data)."""
    token = _plans.set({})
    try:
        yield
    finally:
        _plans.reset(token)


class CachedRange:
    """One device's range as ``detect_range_cached`` walks it: its local-day windows, the cache keys of the
    closed ones and the entries found (one ``store.around`` query, one stamp call, one cache round trip;
    ``CachedRange.many`` plans many devices in as many queries as one). ``to_compute`` says what ``result()``
    will still have to compute, before anything is computed."""

    def __init__(self, device_id: int, params: Params, start: datetime, end: datetime, tz) -> None:
        self._set_windows(device_id, params, tz, _day_windows(start, end, tz))
        margin = DEFAULT_MARGIN
        reads = store.around(device_id, [(ws - margin, we + margin) for ws, we in self.closed])  # what each reads
        self._keyed(store.stamps(device_id, reads))
        self.hits = _get_many(list(self.keys.values()))

    @classmethod
    def many(
        cls, device_ids: list[int], params: Params, start: datetime, end: datetime, tz, rows_only: bool = False
    ) -> list[CachedRange]:
        """The ranges of many devices over the same range, planned together: one batched ``store.around``,
        one batched stamp call and one cache round trip for all of them (the same keys and entries as planning
        each alone). Inside ``reuse_plans()`` the same plan asked again is the one made first.

        ``rows_only`` (the summary: only ``rows()`` will be asked) over closed days: first the fleet's rows
        entry (``keep_rows``: one ``FleetRows`` row) gives the rows of every device whose day keys are those it
        was stored with; only the other devices' days are read from the cache."""
        memo = _plans.get()
        asked = (tuple(device_ids), params, start, end, str(tz), rows_only)
        if memo is not None and asked in memo:
            return memo[asked]
        windows = _day_windows(start, end, tz)
        ranges = [cls.__new__(cls) for _ in device_ids]
        for device_id, planned in zip(device_ids, ranges, strict=True):
            planned._set_windows(device_id, params, tz, windows)
        margin = DEFAULT_MARGIN
        spans = [(ws - margin, we + margin) for ws, we, is_closed in windows if is_closed]
        stamps = store.stamps_many(store.around_many(list(device_ids), spans))
        for planned in ranges:
            planned._keyed(stamps[planned.device_id])
        wanted = ranges
        if rows_only and all(is_closed for *_, is_closed in windows):
            fleet = _fleet_key(device_ids, params, windows, tz)
            known = _decoded_rows(FleetRows.objects.filter(key=fleet).values_list("data", flat=True).first())
            for planned in ranges:
                planned.fleet_key, planned.known_rows = fleet, known.get(planned.signature)
            wanted = [planned for planned in ranges if planned.known_rows is None]
        hits = _get_many([key for planned in wanted for key in planned.keys.values()])
        for planned in ranges:  # those the fleet's entry gives: no key hashed, days read if result() is asked
            planned.hits = {}
        for planned in wanted:
            planned.hits = {key: hits[key] for key in planned.keys.values() if key in hits}
        if memo is not None:
            memo[asked] = ranges
        return ranges

    fleet_key: str | None = None  # the fleet's rows entry this range was planned with (``many``, ``rows_only``)
    known_rows: list[SummaryRow] | None = None  # its rows, from that entry

    @property
    def signature(self) -> str:
        """The device and the change stamps of its closed days' reads: within one fleet entry (whose key holds
        the rest of what the day keys hold: parameters, windows, zone, database, versions) its rows are the same
        while these are. Not hashed: a fleet's plan compares 6,000 of them and hashes none."""
        return repr((self.device_id, self.stamps))

    def _set_windows(self, device_id: int, params: Params, tz, windows: list[tuple]) -> None:
        self.device_id, self.params = device_id, params
        self.zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.windows = windows
        self.closed = [(ws, we) for ws, we, is_closed in windows if is_closed]

    def _keyed(self, stamps: list[tuple]) -> None:
        self.stamps = stamps  # the keys are hashed when first asked for (not for rows the fleet's entry gives)
        self.__dict__.pop("keys", None)

    @cached_property
    def keys(self) -> dict[datetime, str]:
        """The cache key of each closed day, by its start."""
        return {
            ws: day_key(self.device_id, self.params, ws, we, self.zone, stamp)
            for (ws, we), stamp in zip(self.closed, self.stamps, strict=True)
        }

    @property
    def to_compute(self) -> list[tuple[datetime, datetime]]:
        """The windows ``result()`` computes: the open ones (today, partial days) and the closed days the cache
        does not hold (none when the fleet's rows entry gave the rows: only closed days, all computed)."""
        if self.known_rows is not None:
            return []
        return [(ws, we) for ws, we, is_closed in self.windows if not is_closed or self.keys[ws] not in self.hits]

    @property
    def closed_misses(self) -> int:
        """Closed days the cache does not hold (each is computed, then stored)."""
        if self.known_rows is not None:
            return 0
        return sum(1 for ws, _we, is_closed in self.windows if is_closed and self.keys[ws] not in self.hits)

    def result(self) -> WindowResult:
        if self.known_rows is not None and not self.hits:  # planned for its rows only: read its days now
            self.hits = _get_many(list(self.keys.values()))
        return self._joined(ends=False)

    def rows(self) -> list[SummaryRow]:
        """``result().rows``, decoding of each cached day only its summary rows and its first and last trip and
        stop (what joining the days needs): a fleet's cached day costs a fraction of ``result()``."""
        if self.known_rows is not None:
            return list(self.known_rows)
        return self._joined(ends=True).rows

    def _joined(self, ends: bool) -> WindowResult:
        reader = store.WindowReader(self.device_id)
        params, zone = self.params, self.zone

        def results():
            for win_start, win_end, is_closed in self.windows:
                if not is_closed:
                    yield ranges.compute_window(reader, params, win_start, win_end, zone)
                elif (hit := _decoded(self.hits.get(self.keys[win_start]), ends)) is not None:
                    yield hit
                else:
                    yield _computed_closed_day(reader, params, win_start, win_end, zone, self.keys[win_start])

        return join_windows(results())


def keep_rows(planned: list[CachedRange], rows: list[list[SummaryRow]]) -> None:
    """Store the fleet's rows entry of ranges planned with ``many(..., rows_only=True)``: each range's
    ``rows()`` under its day keys, in one ``FleetRows`` row (on commit, as the days are stored), so that the next
    plan of the same devices over the same days reads one row instead of a day entry per device, and still
    does after the cache lost its entries. Nothing when every range's rows came from that entry already, or
    the ranges were not planned for it."""
    if not planned or planned[0].fleet_key is None or all(p.known_rows is not None for p in planned):
        return
    entry = serial.dumps_rows({p.signature: r for p, r in zip(planned, rows, strict=True)})
    key = planned[0].fleet_key

    def store_entry() -> None:
        try:
            FleetRows.objects.update_or_create(key=key, defaults={"data": entry})
        except DatabaseError:  # a read-only replica: the report is given all the same
            logger.warning("reports: the fleet's rows were not stored", exc_info=True)

    transaction.on_commit(store_entry)


def prune_fleet_rows() -> int:
    """Delete the fleet rows entries not written for ``TIMEOUT`` (their days' entries are gone from the cache
    by then too)."""
    deleted, _ = FleetRows.objects.filter(updated__lt=_now() - timedelta(seconds=TIMEOUT)).delete()
    return deleted


# Raise it whenever the fleet entry's signatures or encoding change (2: unhashed signatures, plain rows).
FLEET_FORMAT = 2


def _fleet_key(device_ids: list[int], params: Params, windows: list[tuple], tz) -> str:
    parts = (
        ENGINE_VERSION,
        serial.FORMAT,
        FLEET_FORMAT,
        connection.settings_dict.get("NAME"),
        tuple(device_ids),
        astuple(params),
        tuple((ws.timestamp(), we.timestamp()) for ws, we, _ in windows),
        str(tz),
    )
    return f"reports:fleet:{hashlib.sha256(repr(parts).encode()).hexdigest()[:40]}"


def _decoded_rows(entry: bytes | None) -> dict[str, list[SummaryRow]]:
    """A fleet's rows entry: {signature: rows}; empty for a miss or an entry this version cannot read."""
    if entry is None:
        return {}
    try:
        return serial.loads_rows(entry)
    except serial.FormatError:
        return {}


# Ranges are computed in the request when the closed days the cache does not hold, and the positions of every
# window left to compute (those days, today), are at most this many (docs/reports-engine.md, Background jobs);
# otherwise they run as a background job. The fleet charts and the summary decide by this rule.
MAX_INLINE_DEVICE_DAYS = 62
MAX_INLINE_POSITIONS = 500_000


def positions_to_compute(planned: list[CachedRange], limit: int) -> int:
    """Positions in the windows the ranges leave to compute, counted up to about ``limit`` (one bounded count
    per distinct window: today is one count for every device)."""
    by_window: dict[tuple[datetime, datetime], list[int]] = {}
    for r in planned:
        for window in r.to_compute:
            by_window.setdefault(window, []).append(r.device_id)
    total = 0
    for (lo, hi), ids in sorted(by_window.items()):
        total += store.count(ids, lo, hi, limit - total + 1)
        if total > limit:
            break
    return total


def cheap(planned: list[CachedRange]) -> bool:
    """Whether the ranges may be computed in a request: few closed days to compute and few positions to read."""
    if sum(r.closed_misses for r in planned) > MAX_INLINE_DEVICE_DAYS:
        return False
    return positions_to_compute(planned, MAX_INLINE_POSITIONS) <= MAX_INLINE_POSITIONS


def _day_windows(start: datetime, end: datetime, tz) -> list[tuple[datetime, datetime, bool]]:
    """(start, end, closed) of each local-day window of the range: closed when a whole local day that is over."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    now = _now().timestamp()
    return [
        (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC), _whole_day(a, b, day, zone) and b <= now)
        for a, b, day in day_windows(start, end, zone)
    ]


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
    database = connection.settings_dict.get("NAME")
    digest = _day_hash(database, params, win_start.timestamp(), win_end.timestamp(), str(zone)).copy()
    digest.update(repr((device_id, stamp)).encode())
    return f"reports:day:{device_id}:{digest.hexdigest()[:40]}"


@lru_cache(maxsize=256)
def _day_hash(database: str, params: Params, win_start: float, win_end: float, zone: str):
    """The hash of what every device's key of one day shares (a fleet's keys hash it once, then each its own
    device and stamp): the engine and format versions, the database, the window, the zone, the margin and the
    parameters."""
    shared = (
        ENGINE_VERSION,
        serial.FORMAT,
        database,
        win_start,
        win_end,
        zone,
        DEFAULT_MARGIN.total_seconds(),
        astuple(params),
    )
    return hashlib.sha256(repr(shared).encode())


def _now() -> datetime:
    return timezone.now()


def _decoded(entry: bytes | None, ends: bool = False):
    """A cached day's result (with ``ends``, of its trips, stops and no-data spans only the first and last:
    ``serial.loads_ends``); None for a miss or an entry this version cannot read."""
    if entry is None:
        return None
    try:
        return WindowResult(*(serial.loads_ends(entry, whole=(ROWS,)) if ends else serial.loads(entry)))
    except (serial.FormatError, ValueError, TypeError):
        return None


ROWS = WindowResult._fields.index("rows")


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
    """Compute the cached results of the organisation's last closed local day that the cache lacks, for every
    device a report covers (``forms.reported_devices``; one silent for weeks has a day too, of no data: cheap
    to compute, and a report over the fleet decides by the days the cache lacks), so the first report over
    past days of a morning reads them from the cache; and keep the whole fleet's summary rows of that day in
    one ``FleetRows`` row (``keep_rows``), so that the first summary of the whole fleet reads that row, not a
    day per device. The devices are planned together (``CachedRange.many``: a few queries, one row and one
    cache round trip for all of them), so a run that finds everything cached is cheap. Returns how many devices
    had their day computed."""
    from fleet.reports.forms import reported_devices

    zone = ZoneInfo(organization.timezone)
    local_today = (now or _now()).astimezone(zone).date()
    start = datetime.combine(local_today - timedelta(days=1), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(local_today, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    params = Params.for_org(organization)
    devices = list(reported_devices(organization).values_list("pk", flat=True))
    planned = CachedRange.many(devices, params, start, end, zone, rows_only=True)
    computed, rows = 0, []
    for cached in planned:
        computed += bool(cached.closed_misses)
        with transaction.atomic():  # a computed day's entry is stored on commit
            rows.append(cached.rows())
    with transaction.atomic():
        keep_rows(planned, rows)
    return computed
