"""The one way positions enter fleet: validate and coerce a batch, store it through the positions store, and
hand what was stored to the subscribers (the live broadcaster), in a constant number of queries per batch.
The rules are in docs/positions-store.md (Ingest).
"""

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import isfinite
from operator import attrgetter

from django.db import IntegrityError, transaction

from fleet.tracking import store
from fleet.tracking.attributes import canonical, is_canonical
from fleet.tracking.models import Device
from fleet.tracking.records import PositionRecord

log = logging.getLogger(__name__)

FUTURE_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Stored:
    """A position that ingest just stored: its row id, device pk and the record it came from."""

    id: int
    device_id: int
    record: PositionRecord


@dataclass
class IngestResult:
    received: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    stored: list[Stored] = field(default_factory=list)

    def add(self, other: "IngestResult") -> None:
        self.received += other.received
        self.created += other.created
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.reasons.update(other.reasons)


Subscriber = Callable[[int, list[Stored]], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> None:
    """Register a callable(organization_id, stored) run after every batch (apps do it in ready())."""
    if fn not in _subscribers:
        _subscribers.append(fn)


def reject_reason(record: PositionRecord, now: datetime) -> str | None:
    lat, lon = record.latitude, record.longitude
    try:
        if not (isfinite(lat) and isfinite(lon) and isfinite(record.speed)):
            return "not a finite number"
    except TypeError:
        return "not a finite number"
    if not -90.0 <= lat <= 90.0:
        return "latitude out of range"
    if not -180.0 <= lon <= 180.0:
        return "longitude out of range"
    fix = record.fix_time
    try:
        if fix > now + FUTURE_SKEW:
            return "fix time in the future"
        if fix < EARLIEST:
            return "fix time before 2000"
    except TypeError:  # None, or naive
        return "fix time missing or naive"
    return None


def _validate(records: Iterable[PositionRecord], result: IngestResult) -> list[PositionRecord]:
    now, valid, seen = datetime.now(UTC), [], {}
    latest = now + FUTURE_SKEW
    received = 0
    for record in records:
        received += 1
        # The common case in one expression (a coordinate in range is finite); reject_reason names the rest.
        try:
            ok = (
                -90.0 <= record.latitude <= 90.0
                and -180.0 <= record.longitude <= 180.0
                and EARLIEST <= record.fix_time <= latest
                and isfinite(record.speed)
            )
        except Exception:  # None, naive, not a number...: reject_reason decides, as for any record that fails
            ok = False
        if not ok and (reason := reject_reason(record, now)):
            result.rejected += 1
            result.reasons[reason] += 1
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
    return valid


# account id -> {vendor id: device pk}; devices are created often, deleted rarely: a stale entry
# makes the batch fail its foreign key, and ingest then retries once with a fresh map.
_device_cache: dict[int, dict[str, int]] = {}


def _device_map(organization_id: int, account_id: int | None, vendor_ids: set[str]) -> dict[str, int]:
    """Vendor id -> device pk, creating placeholders for devices a stream reports before a sync saw them."""
    if account_id is None:  # imports name fleet devices by pk
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
    missing = vendor_ids - known.keys()
    if missing:
        Device.objects.bulk_create(
            [Device(organization_id=organization_id, account_id=account_id, vendor_id=v, name=v) for v in missing],
            ignore_conflicts=True,
        )
        known.update(Device.objects.filter(account_id=account_id, vendor_id__in=missing).values_list("vendor_id", "pk"))
    return known


def forget_devices(account_id: int | None = None) -> None:
    """Drop cached device ids (all, or one account's)."""
    if account_id is None:
        _device_cache.clear()
    else:
        _device_cache.pop(account_id, None)


def positions(organization_id: int, account_id: int | None, records: Iterable[PositionRecord]) -> IngestResult:
    """Store a batch of positions for one account (or, with no account, for fleet device pks)."""
    with _gc_paused():
        return _positions(organization_id, account_id, records)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold back the cyclic GC for one batch. A batch allocates a few containers per position (Stored,
    broadcast rows) that live until the batch ends: each automatic collection that finds them alive
    promotes them, and the promotions trigger full collections over the whole process heap, a cost that
    grows with every object the process holds. Ingest builds no reference cycles; anything cyclic
    allocated meanwhile is collected at the next automatic collection after the batch."""
    if not gc.isenabled():  # disabled by the caller, or by a concurrent batch in another thread
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _positions(organization_id: int, account_id: int | None, records: Iterable[PositionRecord]) -> IngestResult:
    result = IngestResult()
    valid = _validate(records, result)
    if not valid:
        return result
    try:
        unknown, result.stored = _store(organization_id, account_id, valid)
    except IntegrityError:  # a cached device was deleted meanwhile
        forget_devices(account_id)
        unknown, result.stored = _store(organization_id, account_id, valid)
    if unknown:
        result.rejected += unknown
        result.reasons["unknown device"] += unknown
    result.created = len(result.stored)
    result.duplicates += len(valid) - unknown - result.created
    _notify(organization_id, result)
    return result


def _store(organization_id: int, account_id: int | None, valid: list[PositionRecord]) -> tuple[int, list[Stored]]:
    """Insert in one transaction; return (how many named no known device, what was stored)."""
    with transaction.atomic():
        devices = _device_map(organization_id, account_id, {r.device_id for r in valid})
        known = [r for r in valid if r.device_id in devices]
        stored = store.insert(known, devices)
    return len(valid) - len(known), stored


_fix_time = attrgetter("record.fix_time")


def _notify(organization_id: int, result: IngestResult) -> None:
    if not result.stored:
        return
    result.stored.sort(key=_fix_time)
    for fn in _subscribers:
        try:
            fn(organization_id, result.stored)
        except Exception:  # a subscriber must never lose the batch that is already stored
            log.exception("position subscriber %s failed", getattr(fn, "__qualname__", fn))
