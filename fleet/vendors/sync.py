"""Sync one vendor account: walk the connector's resources from stored cursors, through the
model services and ingest, and record a SyncRun. Idempotent: a run killed half-way and rerun
leaves exactly the vendor's data (cursors move only after what they cover is stored)."""

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from fleet.geo.models import Geofence
from fleet.tracking import ingest, services
from fleet.tracking.models import Device
from fleet.vendors import base, mirror, ratelimit
from fleet.vendors.errors import RateLimited, VendorError
from fleet.vendors.models import SyncRun, VendorAccount
from fleet.vendors.registry import connector_class

log = logging.getLogger(__name__)

LOOKBACK = timedelta(minutes=5)  # trackers upload buffered fixes late; re-read this much, dedup drops repeats
RATE_LIMIT_CAP_S = 60.0
ERROR_BACKOFF_CAP_S = 3600.0


class Busy(Exception):
    """Another worker is syncing this account right now."""


def connector_for(account: VendorAccount) -> base.Connector:
    """The account's connector; an account whose kind has none has a permanent error."""
    try:
        cls = connector_class(account.kind)
    except LookupError as exc:
        raise VendorError(str(exc), permanent=True) from None
    return cls(account.pk, account.base_url, account.credentials or {})


LOCK_TTL_S = 60  # renewed after every chunk: a killed worker blocks its account for a minute at most


def lock_key(account_id: int) -> str:
    return f"fleet:sync-lock:{account_id}"


@contextmanager
def account_lock(account_id: int) -> Iterator[Callable[[], None]]:
    """Hold the account's lock; yields a heartbeat that renews it."""
    lock = ratelimit.client().lock(lock_key(account_id), timeout=LOCK_TTL_S)
    if not lock.acquire(blocking=False):
        raise Busy(f"account {account_id} is being synced")
    try:
        yield lambda: lock.reacquire()
    finally:
        try:
            lock.release()
        except Exception:  # expired: nothing to release
            log.warning("sync lock of account %s had expired", account_id)


class Tally:
    def __init__(self, heartbeat: Callable[[], None] = lambda: None) -> None:
        self.resources: dict[str, Counter] = {}
        self.reasons: Counter = Counter()
        self.heartbeat = heartbeat

    def add(self, resource: str, **counts: int) -> None:
        self.resources.setdefault(resource, Counter()).update(counts)

    def total(self, key: str) -> int:
        return sum(c[key] for c in self.resources.values())


def sync_account(account: VendorAccount) -> SyncRun:
    """Run one sync; never raises for vendor trouble (it is recorded), raises Busy when locked."""
    with account_lock(account.pk) as heartbeat:
        run = SyncRun.objects.create(account=account)
        tally = Tally(heartbeat)
        try:
            with connector_for(account) as connector:
                walk(account, connector, tally)
        except VendorError as exc:
            _failed(account, run, exc)
        except Exception as exc:  # a bug or an unexpected payload: record it, keep the worker alive
            log.exception("sync of account %s failed", account.pk)
            _failed(account, run, VendorError(f"unexpected {type(exc).__name__}: {exc}"))
        else:
            _succeeded(account, run)
        _finish(run, tally)
        return run


def walk(account: VendorAccount, connector: base.Connector, tally: Tally) -> None:
    caps, org, acc = connector.capabilities, account.organization_id, account.pk
    if base.GROUPS in caps:
        _mirror(tally, "groups", connector.groups(), lambda rows: services.upsert_groups(org, acc, rows))
    if base.DRIVERS in caps:
        _mirror(tally, "drivers", connector.drivers(), lambda rows: services.upsert_drivers(org, acc, rows))
    if base.DEVICES in caps:
        _mirror(tally, "devices", connector.devices(), lambda rows: services.upsert_devices(org, acc, rows))
    if base.BEACONS in caps:
        _mirror(tally, "beacons", connector.beacons(), lambda rows: services.upsert_beacons(org, acc, rows))
    if base.GEOFENCES in caps:
        _mirror(tally, "geofences", connector.geofences(), lambda rows: mirror.pull_geofences(account, rows))
    if base.POSITIONS in caps:
        _positions(account, connector, tally)
    if base.EVENTS in caps:
        _events(account, connector, tally)


def _mirror(tally: Tally, resource: str, records: list, store: Callable[[list], tuple[int, int]]) -> None:
    created, updated = store(records)
    tally.add(resource, fetched=len(records), created=created, updated=updated)


def _window_start(cursor: str | None, until: datetime) -> datetime:
    """Re-read LOOKBACK before the newest time already seen; never more than the initial history."""
    floor = until - timedelta(seconds=settings.VENDOR_INITIAL_HISTORY_S)
    return max(floor, datetime.fromisoformat(cursor) - LOOKBACK) if cursor else floor


def _save_cursor(account: VendorAccount, resource: str, value: object) -> None:
    account.cursors[resource] = value
    VendorAccount.objects.filter(pk=account.pk).update(cursors=account.cursors)


def _positions(account: VendorAccount, connector: base.Connector, tally: Tally) -> None:
    """Per-device cursors (newest fix seen). Devices are fetched in chunks of similar cursors, so one
    device that was silent for a day does not drag the whole fleet's window back. The next chunk
    is fetched while the current one is stored."""
    until = timezone.now().replace(microsecond=0)
    device_ids = Device.objects.filter(account=account, disabled=False).values_list("vendor_id", flat=True)
    cursors: dict[str, str] = dict(account.cursors.get("positions") or {})
    ordered = sorted(device_ids, key=lambda d: cursors.get(d, ""))
    chunks = [ordered[i : i + connector.position_chunk] for i in range(0, len(ordered), connector.position_chunk)]
    windows = [(min(_window_start(cursors.get(d), until) for d in chunk), chunk) for chunk in chunks]
    for batch in prefetched(_fetch_windows(connector, windows, until)):
        if batch is CHUNK_DONE:
            _save_cursor(account, "positions", cursors)  # only once the chunk is stored
            tally.heartbeat()
            continue
        result = ingest.positions(account.organization_id, account.pk, batch)
        tally.add(
            "positions",
            fetched=result.received,
            created=result.created,
            rejected=result.rejected,
            duplicates=result.duplicates,
        )
        tally.reasons.update(result.reasons)
        _advance(cursors, batch, until)


CHUNK_DONE = object()


def _fetch_windows(connector: base.Connector, windows: list, until: datetime) -> Iterator:
    for since, chunk in windows:
        yield from connector.positions(since, until, chunk)
        yield CHUNK_DONE


def prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """Run ``items`` in a thread ``depth`` steps ahead (vendor I/O overlaps our database work);
    its exceptions surface here, and stopping early stops the thread."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop, end = threading.Event(), object()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            put((end, exc))
            return
        put((end, None))

    thread = threading.Thread(target=produce, daemon=True, name="sync-prefetch")
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _advance(cursors: dict[str, str], batch: list, until: datetime) -> None:
    for r in batch:
        fix = r.fix_time
        if isinstance(fix, datetime) and fix <= until:
            iso = fix.astimezone(UTC).isoformat()
            if iso > cursors.get(r.device_id, ""):
                cursors[r.device_id] = iso


def _events(account: VendorAccount, connector: base.Connector, tally: Tally) -> None:
    until = timezone.now().replace(microsecond=0)
    cursor = account.cursors.get("events")
    device_ids = list(Device.objects.filter(account=account, disabled=False).values_list("vendor_id", flat=True))
    records = connector.events(_window_start(cursor, until), until, device_ids)
    created = services.store_events(account.organization_id, account.pk, records, mirror.linked_ids(account, Geofence))
    tally.add("events", fetched=len(records), created=created)
    seen = [r.time.astimezone(UTC).isoformat() for r in records if r.time and r.time <= until]
    if seen:
        _save_cursor(account, "events", max([*seen, cursor or ""]))


def _succeeded(account: VendorAccount, run: SyncRun) -> None:
    account.refresh_from_db(fields=["cursors", "stream_connected"])
    run.status = SyncRun.Status.OK
    account.last_success = timezone.now()
    account.consecutive_errors = 0
    account.schedule_next(poll_interval(account))
    account.save(update_fields=["last_success", "consecutive_errors", "next_run"])


def poll_interval(account: VendorAccount) -> float:
    """While a live socket feeds the account, polling only fills gaps: five times less often."""
    return account.sync_interval_s * (5 if account.stream_connected else 1)


def _failed(account: VendorAccount, run: SyncRun, exc: VendorError) -> None:
    run.status, run.error = SyncRun.Status.ERROR, exc.message
    account.consecutive_errors += 1
    account.last_error, account.last_error_at = exc.message, timezone.now()
    if isinstance(exc, RateLimited):
        delay = min(RATE_LIMIT_CAP_S, exc.retry_after * 2 ** (account.consecutive_errors - 1))
    else:
        delay = min(ERROR_BACKOFF_CAP_S, account.sync_interval_s * 2 ** (account.consecutive_errors - 1))
    account.disabled_by_error = exc.permanent
    account.schedule_next(delay)
    account.save(update_fields=["consecutive_errors", "last_error", "last_error_at", "disabled_by_error", "next_run"])
    log.warning("sync of account %s (%s) failed: %s", account.pk, account.kind, exc.message)


def _finish(run: SyncRun, tally: Tally) -> None:
    run.finished = timezone.now()
    run.fetched, run.created = tally.total("fetched"), tally.total("created")
    run.updated, run.rejected = tally.total("updated"), tally.total("rejected")
    run.counts = {name: dict(c) for name, c in tally.resources.items()}
    if tally.reasons:
        run.counts["reject_reasons"] = dict(tally.reasons)
    run.save()
