"""The one way positions enter fleet: validate and coerce a batch, store it through the positions store, and
hand what was stored to the subscribers (the live broadcaster), in a constant number of queries per batch.
The rules are in docs/positions-store.md (Ingest).
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from django.db import IntegrityError, transaction

from fleet.core.gcpause import gc_paused
from fleet.core.geodesy import haversine_m
from fleet.tracking import store, validate
from fleet.tracking.attributes import canonical, is_canonical
from fleet.tracking.models import Device, IngestBacklog
from fleet.tracking.records import PositionRecord
from fleet.tracking.validate import Tally

log = logging.getLogger(__name__)

FUTURE_SKEW, EARLIEST = validate.FUTURE_SKEW, validate.EARLIEST
ALTITUDE_MIN, ALTITUDE_MAX = validate.ALTITUDE_RANGE_M


@dataclass(slots=True)
class Stored:
    """A position that ingest just stored: its row id, device pk and the record it came from."""

    id: int
    device_id: int
    record: PositionRecord


@dataclass
class IngestResult(Tally):
    """A ``Tally`` of the batch (``received == created + duplicates + rejected``), the positions stored, and
    the vendor ids of devices the account does not have (their positions are rejected as "unknown device")."""

    stored: list[Stored] = field(default_factory=list)
    unknown_devices: set[str] = field(default_factory=set)

    def add(self, other: Tally) -> None:
        super().add(other)
        self.unknown_devices |= getattr(other, "unknown_devices", set())


Subscriber = Callable[[int, list[Stored]], None]
Recover = Callable[[int, dict[int, float]], None]
_subscribers: list[Subscriber] = []
_deferred: list[tuple[Subscriber, Recover, Callable[[], bool]]] = []


def subscribe(fn: Subscriber, deferred: Recover | None = None, enabled: Callable[[], bool] = lambda: True) -> None:
    """Register a callable(organization_id, stored) run after every batch's commit (apps do it in ready()).

    With ``deferred`` (a callable(organization_id, {device pk: epoch seconds of its first fix in the batch})),
    ``fn`` runs after the others (the live push goes first), in a transaction of its own, and a batch's run is
    guaranteed: the insert's transaction also writes an ``IngestBacklog`` row, deleted in ``fn``'s; a process
    killed in between (a worker, the stream process) leaves it, and ``recover_backlog`` calls ``deferred`` with
    it. The event engine is one: its fixes are evaluated after the map has them, not before (it was inside the
    insert's transaction: the push waited for it), and never skipped. A failing subscriber never loses the
    batch; a failing deferred one leaves its backlog row to ``recover_backlog``. ``enabled()`` says whether a
    deferred subscriber is switched on (no backlog row is written for a batch none of them will see)."""
    if deferred is None:
        if fn not in _subscribers:
            _subscribers.append(fn)
    elif all(fn is not f for f, _, _ in _deferred):
        _deferred.append((fn, deferred, enabled))


def _deferred_on() -> list[tuple[Subscriber, Recover, Callable[[], bool]]]:
    return [d for d in _deferred if d[2]()]


def _validate(records: Iterable[PositionRecord], result: IngestResult, max_speed: float):
    """(records that pass the gate, records at (0, 0) that only the device's whereabouts can admit)."""
    now, valid, seen, null_island = datetime.now(UTC), [], {}, []
    latest = now + FUTURE_SKEW
    received = 0
    for record in records:
        received += 1
        # The common case in one expression (NaN fails every comparison); the gate names and mends the rest.
        try:
            lat, lon, course, altitude, accuracy = (
                record.latitude,
                record.longitude,
                record.course,
                record.altitude,
                record.accuracy,
            )
            ok = (
                -90.0 <= lat <= 90.0
                and -180.0 <= lon <= 180.0
                and (lat != 0 or lon != 0)
                and EARLIEST <= record.fix_time <= latest
                and 0.0 <= record.speed <= max_speed
                and (course is None or 0.0 <= course < 360.0)
                and (altitude is None or ALTITUDE_MIN <= altitude <= ALTITUDE_MAX)
                and (accuracy is None or accuracy >= 0.0)
            )
        except Exception:  # None, naive, not a number...: the gate decides, as for any record that fails
            ok = False
        if not ok:
            if reason := validate.position(record, now, max_speed, result.notes):
                result.reject(reason, record.device_id)
                continue
            if validate.is_null_island(record):
                null_island.append(record)
                continue
        # fix times per device: no (device, fix) tuple to build and hash per record
        times = seen.get(record.device_id)
        if times is None:
            times = seen[record.device_id] = set()
        elif record.fix_time in times:
            result.duplicates += 1
            continue
        times.add(record.fix_time)
        attributes = record.attributes
        if attributes.__class__ is not dict or not is_canonical(attributes):
            record.attributes = canonical(attributes)
        valid.append(record)
    result.received += received
    return valid, null_island


_max_speeds: dict[int, tuple[float, float]] = {}  # organization id -> (km/h, monotonic time read)


def max_speed(organization_id: int) -> float:
    """The organisation's plausible maximum speed, read at most once a minute per process."""
    cached = _max_speeds.get(organization_id)
    if cached is not None and time.monotonic() - cached[1] < 60:
        return cached[0]
    from fleet.core.models import Organization

    value = Organization.objects.filter(pk=organization_id).values_list("max_speed_kmh", flat=True).first()
    value = float(value) if value else validate.DEFAULT_MAX_SPEED_KMH
    _max_speeds[organization_id] = (value, time.monotonic())
    return value


def _near_their_device(records: list[PositionRecord], devices: dict[str, int], result: IngestResult) -> list:
    """The (0, 0) fixes worth believing: marked valid by the vendor, of a device last seen near (0, 0)."""
    pks = {devices[r.device_id] for r in records if r.valid and r.device_id in devices}
    near = set()
    if pks:
        last = Device.objects.filter(pk__in=pks).values_list("pk", "last_latitude", "last_longitude")
        for pk, lat, lon in last:
            if lat is not None and lon is not None and haversine_m(0.0, 0.0, lat, lon) <= validate.NULL_ISLAND_NEAR_M:
                near.add(pk)
    kept = []
    for record in records:
        if record.valid and devices.get(record.device_id) in near:
            record.attributes = canonical(record.attributes)
            kept.append(record)
        else:
            result.reject("null island (0, 0)", record.device_id)
    return kept


# account id -> {vendor id: device pk}; devices are created often, deleted rarely: a stale entry
# makes the batch fail its foreign key, and ingest then retries once with a fresh map.
_device_cache: dict[int, dict[str, int]] = {}


def _device_map(organization_id: int, account_id: int | None, vendor_ids: set[str]) -> dict[str, int]:
    """Vendor id -> device pk of the devices the account has (imports without an account name fleet pks)."""
    if account_id is None:
        pks = {int(v) for v in vendor_ids if v.isdigit()}
        found = Device.objects.filter(organization_id=organization_id, pk__in=pks).values_list("pk", flat=True)
        return {str(pk): pk for pk in found}
    known = _device_cache.get(account_id)
    if known is None:  # the whole account in one query: a sync's later batches then need none
        known = _device_cache[account_id] = dict(
            Device.objects.filter(account_id=account_id).values_list("vendor_id", "pk")
        )
    elif missing := vendor_ids - known.keys():  # created since
        known.update(Device.objects.filter(account_id=account_id, vendor_id__in=missing).values_list("vendor_id", "pk"))
    return known


def forget_devices(account_id: int | None = None) -> None:
    """Drop cached device ids (all, or one account's)."""
    if account_id is None:
        _device_cache.clear()
    else:
        _device_cache.pop(account_id, None)


def positions(
    organization_id: int, account_id: int | None, records: Iterable[PositionRecord], notify: bool = True
) -> IngestResult:
    """Store a batch of positions for one account (or, with no account, for fleet device pks). ``notify=False``
    stores history that is not news (the demo's past week): the subscribers (live map, event engine, driver
    assignment) are not told."""
    with gc_paused():  # a batch's containers live until it ends: no full collections meanwhile
        return _positions(organization_id, account_id, records, notify)


def _positions(
    organization_id: int, account_id: int | None, records: Iterable[PositionRecord], notify: bool = True
) -> IngestResult:
    result = IngestResult()
    valid, null_island = _validate(records, result, max_speed(organization_id))
    if not valid and not null_island:
        return result
    backlog = None
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            result.stored, backlog = _store(organization_id, account_id, valid, null_island, result, notify)
            break
        except IntegrityError:  # a cached device was deleted meanwhile
            forget_devices(account_id)
            result.stored, backlog = _store(organization_id, account_id, valid, null_island, result, notify)
            break
        except Exception as exc:
            if attempt == DEADLOCK_RETRIES or not _deadlock(exc):
                raise
            log.warning("ingest batch of %d positions chosen as a deadlock's victim: again", len(valid))
            time.sleep(0.05 * (attempt + 1))
    result.created = len(result.stored)
    result.duplicates = result.received - result.created - result.rejected
    if notify:
        _notify(organization_id, result)
        if backlog is not None:
            _run_deferred(organization_id, result.stored, backlog)
    return result


def _store(
    organization_id: int, account_id: int | None, valid: list, null_island: list, result: IngestResult, notify: bool
) -> tuple[list[Stored], int | None]:
    """Insert in one transaction what names a known device, and the batch's ``IngestBacklog`` row when deferred
    subscribers will evaluate it (its pk is returned beside the stored positions); count the rest as
    rejected."""
    result.unknown_devices.clear()
    before = result.rejected, result.reasons.copy()
    with transaction.atomic():
        devices = _device_map(organization_id, account_id, {r.device_id for r in valid + null_island})
        known = [r for r in valid if r.device_id in devices]
        known += _near_their_device([r for r in null_island if r.device_id in devices], devices, result)
        for record in valid + null_island:
            if record.device_id not in devices:
                result.reject("unknown device", record.device_id)
                result.unknown_devices.add(record.device_id)
        try:
            stored = store.insert(known, devices)
        except Exception:
            result.rejected, result.reasons = before  # counted again on the retry
            raise
        backlog = None
        if notify and stored and _deferred_on():
            since: dict[str, float] = {}
            for s in stored:
                t = s.record.fix_time.timestamp()
                if since.get(key := str(s.device_id), t) >= t:
                    since[key] = t
            backlog = IngestBacklog.objects.create(organization_id=organization_id, since=since).pk
        return stored, backlog


_fix_time = attrgetter("record.fix_time")
# Two batches with fixes of the same devices in another order (a stream and a poll, a late upload) can each
# wait for a row the other inserted: PostgreSQL aborts one (SQLSTATE 40P01), which then runs again.
DEADLOCK_RETRIES = 3


def _deadlock(exc: Exception) -> bool:
    """PostgreSQL's deadlock error, raised by psycopg itself (the store's raw cursor) or wrapped by Django."""
    return "40P01" in (getattr(exc, "sqlstate", None), getattr(exc.__cause__, "sqlstate", None))


def _notify(organization_id: int, result: IngestResult) -> None:
    if not result.stored:
        return
    result.stored.sort(key=_fix_time)
    _tell(_subscribers, organization_id, result.stored)


def _tell(subscribers: list[Subscriber], organization_id: int, stored: list[Stored]) -> None:
    for fn in subscribers:
        try:
            fn(organization_id, stored)
        except Exception:  # a subscriber must never lose the batch
            log.exception("position subscriber %s failed", getattr(fn, "__qualname__", fn))


def _run_deferred(organization_id: int, stored: list[Stored], backlog: int) -> None:
    """The deferred subscribers over the batch in one transaction that deletes the batch's backlog row: all of
    it commits, or nothing and the row stays for ``recover_backlog`` (a recovery must bear being run again)."""
    try:
        with transaction.atomic():
            for fn, _recover, _enabled in _deferred_on():
                fn(organization_id, stored)
            IngestBacklog.objects.filter(pk=backlog).delete()
    except Exception:
        log.exception("deferred position subscriber failed on %d positions: left to the backlog", len(stored))


# A backlog row this old is taken for a batch whose process died before evaluating it (a live batch deletes its
# row within a second or so; a loaded machine may take tens).
BACKLOG_AFTER_S = 60.0


def recover_backlog(older_than_s: float = BACKLOG_AFTER_S, limit: int = 500) -> int:
    """Run the deferred subscribers' ``recover`` for the backlog rows older than ``older_than_s`` (oldest first,
    up to ``limit``), each row locked (rows another worker is recovering are skipped) and deleted with the
    recovery's writes. A row whose recovery fails is logged and deleted: it was tried twice (by its batch and
    here), and the device's next batch or a later one that reaches back replays over its fixes anyway.
    Returns how many rows were recovered."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    done = 0
    for pk in IngestBacklog.objects.filter(created__lt=cutoff).order_by("pk").values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            row = IngestBacklog.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if row is None:  # its batch is evaluating it right now, or another worker took it
                continue
            since = {int(device): float(t) for device, t in row.since.items()}
            for fn, recover, _enabled in _deferred_on():
                try:
                    with transaction.atomic():
                        recover(row.organization_id, since)
                except Exception:
                    log.exception("recovering %s with %s failed", row, getattr(fn, "__qualname__", fn))
            row.delete()
            done += 1
    if done:
        log.warning("recovered %d ingest batches whose evaluation had not run", done)
    return done
