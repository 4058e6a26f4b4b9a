"""Sync one vendor account: walk the connector's resources from stored cursors, through the model services
and ingest, and record a SyncRun with what happened to each resource's rows. Each resource runs on its own:
one that fails as a whole leaves the others to run and the run ``partial``. Idempotent: a run killed half-way
and rerun leaves exactly the vendor's data (cursors move only after what they cover is stored).

A run is bounded: positions are fetched for ``SYNC_POSITIONS_BUDGET_S`` at most (whole chunks, the devices
furthest behind first); the devices left are the next run's, which comes at once. So an account bigger than its
vendor's rate limit lets through per poll (fleet-v2: 60 requests a minute, one per vehicle) still finishes runs,
refreshes its devices and events every run, and catches up in turns instead of holding one run for half an
hour. A vendor that lists every vehicle's latest position in one call (``Connector.latest_positions``) has
those stored first, so the live map is current while the history behind them is caught up."""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from redis import exceptions as redis_exceptions

from fleet.geo.models import Geofence
from fleet.tracking import ingest, services
from fleet.tracking.models import Beacon, Device, DeviceGroup, Driver
from fleet.tracking.validate import Tally
from fleet.vendors import base, mirror, ratelimit
from fleet.vendors.errors import AuthExpired, RateLimited, VendorError
from fleet.vendors.models import SyncRun, VendorAccount
from fleet.vendors.registry import connector_class

log = logging.getLogger(__name__)

LOOKBACK = timedelta(minutes=5)  # trackers upload buffered fixes late; re-read this much, dedup drops repeats
RATE_LIMIT_CAP_S = 60.0
ERROR_BACKOFF_CAP_S = 3600.0
CATCH_UP_S = 1.0  # the next run's delay when this one left devices' positions for it


class Busy(Exception):
    """Another worker is syncing this account right now."""


def connector_for(account: VendorAccount) -> base.Connector:
    """The account's connector; an account whose kind has none has a permanent error."""
    try:
        cls = connector_class(account.kind)
    except LookupError as exc:
        raise VendorError(str(exc), permanent=True) from None
    return cls(account.pk, account.base_url, account.credentials or {})


LOCK_TTL_S = 60  # renewed by a thread while the run lives: a killed worker blocks its account for a minute at most


def lock_key(account_id: int) -> str:
    return f"fleet:sync-lock:{account_id}"


class LockLost(Exception):
    """The account's lock expired or vanished under a running sync (Redis restarted, or the worker was starved
    past the lock's life): another worker may be syncing it now, so this run stops."""


class LockKeeper(threading.Thread):
    """Renews a lock every quarter of its life while the run holds it, whatever the run is doing (a batch that
    takes minutes on a loaded machine, a vendor's rate limit); its ``check`` raises LockLost once renewal failed.
    The keeper dies with its process, so a killed worker's lock still expires after LOCK_TTL_S."""

    def __init__(self, lock) -> None:
        super().__init__(daemon=True, name="sync-lock-keeper")
        self.lock, self.stopped, self.lost = lock, threading.Event(), False

    def run(self) -> None:
        while not self.stopped.wait(self.lock.timeout / 4):
            try:
                self.lock.reacquire()
            except redis_exceptions.LockError:  # expired, or another holder now
                self.lost = True
                return
            except redis_exceptions.RedisError:  # unreachable for now: try again at the next tick
                log.info("sync lock: renewal failed, trying again", exc_info=True)

    def check(self) -> None:
        if self.lost:
            raise LockLost("the account's sync lock was lost (a Redis restart, or a worker starved past its life)")

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


@contextmanager
def account_lock(account_id: int) -> Iterator[Callable[[], None]]:
    """Hold the account's lock (renewed by a LockKeeper); yields a check that raises LockLost when it is gone."""
    lock = ratelimit.client().lock(lock_key(account_id), timeout=LOCK_TTL_S, thread_local=False)
    if not lock.acquire(blocking=False):
        raise Busy(f"account {account_id} is being synced")
    keeper = LockKeeper(lock)
    keeper.start()
    try:
        yield keeper.check
    finally:
        keeper.stop()
        try:
            lock.release()
        except Exception:  # expired: nothing to release
            log.warning("sync lock of account %s had expired", account_id)


class Progress:
    """One run's tallies and errors by resource, and the heartbeat that keeps the account's lock."""

    def __init__(self, heartbeat: Callable[[], None] = lambda: None) -> None:
        self.resources: dict[str, Tally] = {}
        self.errors: dict[str, str] = {}
        self.retired: dict[str, int] = {}
        self.extras: dict[str, list[dict]] = {}  # a connector's extras (fleet-v2's alert rules), by name
        self.deferred = 0  # devices whose positions the run's budget left to the next run
        self.heartbeat = heartbeat

    def tally(self, resource: str) -> Tally:
        return self.resources.setdefault(resource, Tally())

    def total(self, key: str) -> int:
        return sum(getattr(t, key) for t in self.resources.values())

    def counts(self) -> dict:
        out = {}
        for resource in sorted(self.resources.keys() | self.errors.keys()):
            counts = self.tally(resource).as_dict()
            counts["fetched"] = counts.pop("received")
            if resource in self.errors:
                counts["error"] = self.errors[resource]
            if self.retired.get(resource):
                counts["retired"] = self.retired[resource]
            if resource in self.extras:
                counts["items"] = self.extras[resource]
            if resource == base.POSITIONS and self.deferred:
                counts["deferred"] = self.deferred
            out[resource] = counts
        return out


RunHandler = Callable[[SyncRun], None]
_finished: list[RunHandler] = []


def on_run_finished(handler: RunHandler) -> None:
    """Register ``handler(run)``, called with every finished run (the webhooks app sends the failed ones)."""
    if handler not in _finished:
        _finished.append(handler)


def sync_account(account: VendorAccount) -> SyncRun:
    """Run one sync; never raises for vendor trouble (it is recorded), raises Busy when locked."""
    with account_lock(account.pk) as heartbeat:
        run = SyncRun.objects.create(account=account)
        progress = Progress(heartbeat)
        try:
            with connector_for(account) as connector:
                walk(account, connector, progress)
        except LockLost as exc:
            _lock_lost(account, run, exc)
        except RateLimited as exc:
            if progress.total("received"):  # what it stored is kept: the rest follows after Retry-After
                _rate_limited_after_progress(account, run, progress, exc)
            else:
                _failed(account, run, exc)
        except VendorError as exc:
            _failed(account, run, exc)
        except Exception as exc:  # a bug outside any one resource: record it, keep the worker alive
            log.exception("sync of account %s failed", account.pk)
            _failed(account, run, VendorError(f"unexpected {type(exc).__name__}: {exc}"))
        else:
            _succeeded(account, run, progress)
        _finish(run, progress)
    for handler in _finished:
        try:
            handler(run)
        except Exception:  # the run is recorded; a failing listener must not fail the sync
            log.exception("sync run listener %s failed", getattr(handler, "__qualname__", handler))
    return run


def walk(account: VendorAccount, connector: base.Connector, progress: Progress) -> None:
    """Each resource the connector declares, in order, on its own: one that fails as a whole is recorded
    and the others still run. Errors that concern the whole account (credentials, a rate limit) end the run."""
    org, acc = account.organization_id, account.pk
    steps: list[tuple[str, Callable[[], Tally | None]]] = [
        (base.GROUPS, lambda: services.upsert_groups(org, acc, connector.groups())),
        (base.DEVICES, lambda: services.upsert_devices(org, acc, connector.devices())),
        (base.DRIVERS, lambda: services.upsert_drivers(org, acc, connector.drivers())),  # after: their vehicles
        (base.BEACONS, lambda: services.upsert_beacons(org, acc, connector.beacons())),
        (base.GEOFENCES, lambda: mirror.pull_geofences(account, connector.geofences())),
        (base.POIS, lambda: mirror.pull_pois(account, connector.pois())),
        (base.TASKS, lambda: mirror.pull_tasks(account, connector.tasks())),
        (base.TASK_FILES, lambda: mirror.pull_task_files(account, connector.task_files())),
        (base.POSITIONS, lambda: _positions(account, connector, progress)),
        (base.EVENTS, lambda: _events(account, connector, progress)),
    ]
    for resource, step in steps:
        if resource not in connector.capabilities:
            continue
        try:
            if (tally := step()) is not None:
                progress.tally(resource).add(tally)
        except LockLost:
            raise
        except VendorError as exc:
            if exc.permanent or isinstance(exc, RateLimited | AuthExpired):
                raise
            progress.errors[resource] = exc.message
        except Exception as exc:  # a bug or a payload no mapper expected: this resource only
            log.exception("sync of account %s: %s failed", account.pk, resource)
            progress.errors[resource] = f"unexpected {type(exc).__name__}: {exc}"
        else:
            if resource in connector.listed:
                progress.retired[resource] = _retire(account, resource, connector.listed.pop(resource))
        finally:
            progress.tally(resource).add(connector.rejects.pop(resource, Tally()))
        progress.heartbeat()
    for name, items in connector.extras.items():  # read on the way by a step (fleet-v2: alert rules by devices)
        progress.extras[name] = items
        progress.tally(name).add(connector.rejects.pop(name, Tally()))


RETIRABLE = {base.DEVICES: Device, base.GROUPS: DeviceGroup, base.DRIVERS: Driver, base.BEACONS: Beacon}


def _retire(account: VendorAccount, resource: str, listed: set[str]) -> int:
    """Objects of a resource the vendor listed in full, that the list no longer names."""
    if resource == base.GEOFENCES:
        return mirror.retire_geofences(account, listed)
    return services.retire(RETIRABLE[resource], account.pk, listed)


def _window_start(cursor: str | None, until: datetime) -> datetime:
    """Re-read LOOKBACK before the newest time already seen; never more than the initial history."""
    floor = until - timedelta(seconds=settings.VENDOR_INITIAL_HISTORY_S)
    return max(floor, datetime.fromisoformat(cursor) - LOOKBACK) if cursor else floor


def _save_cursor(account: VendorAccount, resource: str, value: object) -> None:
    account.cursors[resource] = value
    VendorAccount.objects.filter(pk=account.pk).update(cursors=account.cursors)


def _positions(account: VendorAccount, connector: base.Connector, progress: Progress) -> None:
    """Per-device cursors (newest fix seen). Devices are fetched in chunks of similar cursors, so one
    device that was silent for a day does not drag the whole fleet's window back. The next chunk
    is fetched while the current one is stored."""
    until = timezone.now().replace(microsecond=0)
    device_ids = Device.objects.filter(account=account, disabled=False).values_list("vendor_id", flat=True)
    cursors: dict[str, str] = dict(account.cursors.get("positions") or {})
    latest = connector.latest_positions()
    ordered = _fetch_order(device_ids, cursors, latest)
    chunks = [ordered[i : i + connector.position_chunk] for i in range(0, len(ordered), connector.position_chunk)]
    windows = [(min(_window_start(cursors.get(d), until) for d in chunk), chunk) for chunk in chunks]
    tally = progress.tally(base.POSITIONS)
    if latest:  # cursors stay: the history up to these is still fetched
        tally.add(ingest.positions(account.organization_id, account.pk, latest))
        progress.heartbeat()
    deadline = time.monotonic() + settings.SYNC_POSITIONS_BUDGET_S
    for batch in prefetched(_fetch_windows(connector, windows, until, deadline)):
        if isinstance(batch, Deferred):
            progress.deferred = batch.devices
            continue
        if batch is CHUNK_DONE:
            _save_cursor(account, "positions", cursors)  # only once the chunk is stored
            progress.heartbeat()
            continue
        if batch is GATHERING:
            progress.heartbeat()  # batches being gathered at a slow vendor's pace: keep the lock meanwhile
            continue
        result = ingest.positions(account.organization_id, account.pk, batch)
        tally.add(result)
        _advance(cursors, batch, until, result.unknown_devices)
        progress.heartbeat()  # a chunk may take minutes at a vendor's rate limit: keep the lock meanwhile


def _fetch_order(device_ids, cursors: dict[str, str], latest: list) -> list[str]:
    """Devices furthest behind first; with the vendor's latest positions (``latest``), those that have a fix
    newer than their cursor come before those that have none (their fetch only re-reads the lookback). A run
    that the budget ends after some devices otherwise gave its requests to the same caught-up devices every
    time (the oldest cursors are those of devices that stopped), and the others were never fetched again: the
    soak's fleet-v2, 60 of 200 vehicles a run, the same 60 for 20 minutes."""
    newest: dict[str, str] = {}
    for record in latest:
        if isinstance(record.fix_time, datetime):
            iso = record.fix_time.astimezone(UTC).isoformat()
            newest[record.device_id] = max(iso, newest.get(record.device_id, iso))

    def key(device: str) -> tuple[bool, str]:
        cursor = cursors.get(device, "")
        return (bool(newest) and newest.get(device, "") <= cursor, cursor)

    return sorted(device_ids, key=key)


CHUNK_DONE = object()
GATHERING = object()


class Deferred:
    """The budget ran out before these devices' chunks: they are the next run's (furthest behind first)."""

    def __init__(self, devices: int) -> None:
        self.devices = devices


INGEST_ROWS = 5000  # a connector's small batches (one vehicle's history) are stored together up to this many rows


def _fetch_windows(connector: base.Connector, windows: list, until: datetime, deadline: float) -> Iterator:
    """The connector's batches of each chunk, gathered into batches of about ``INGEST_ROWS`` (a vendor that
    answers per vehicle gives a batch per vehicle: each stored alone, ingest's fixed cost per call would bound the
    sync); cursors still move only with what is stored. While gathering takes long (a vendor's rate limit),
    ``GATHERING`` now and then, for the lock to be renewed. No chunk starts after ``deadline`` (monotonic):
    ``Deferred`` then says how many devices are left."""
    beat = time.monotonic()
    for k, (since, chunk) in enumerate(windows):
        if k and time.monotonic() > deadline:
            yield Deferred(sum(len(c) for _s, c in windows[k:]))
            return
        pending: list = []
        for batch in connector.positions(since, until, chunk):
            pending += batch
            if len(pending) >= INGEST_ROWS:
                yield pending
                pending, beat = [], time.monotonic()
            elif time.monotonic() - beat > LOCK_TTL_S / 4:
                yield GATHERING
                beat = time.monotonic()
        if pending:
            yield pending
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


def _advance(cursors: dict[str, str], batch: list, until: datetime, unknown: set[str]) -> None:
    """Move each device's cursor to its newest fix in the batch (stored, or rejected on purpose); never for a
    device the account does not have."""
    for r in batch:
        if r.device_id in unknown:
            continue
        fix = r.fix_time
        if isinstance(fix, datetime) and fix <= until:
            iso = fix.astimezone(UTC).isoformat()
            if iso > cursors.get(r.device_id, ""):
                cursors[r.device_id] = iso


def _events(account: VendorAccount, connector: base.Connector, progress: Progress) -> Tally:
    """Events from the cursor (the newest event seen, re-read with the lookback). A connector whose events are
    dear (``events_every_s``) is asked at most that often: its window still starts at the cursor, so an event
    comes later, never lost."""
    until = timezone.now().replace(microsecond=0)
    asked = account.cursors.get("events_asked")
    if asked and timedelta(0) <= until - datetime.fromisoformat(asked) < timedelta(seconds=connector.events_every_s):
        return Tally()
    cursor = account.cursors.get("events")
    device_ids = list(Device.objects.filter(account=account, disabled=False).values_list("vendor_id", flat=True))
    records = connector.events(_window_start(cursor, until), until, device_ids)
    tally = services.store_events(account.organization_id, account.pk, records, mirror.linked_ids(account, Geofence))
    known = set(device_ids)
    seen = [
        r.time.astimezone(UTC).isoformat()
        for r in records
        if r.device_id in known and isinstance(r.time, datetime) and r.time.tzinfo and r.time <= until
    ]
    if seen:
        _save_cursor(account, "events", max([*seen, cursor or ""]))
    if connector.events_every_s:
        _save_cursor(account, "events_asked", until.isoformat())
    return tally


def _succeeded(account: VendorAccount, run: SyncRun, progress: Progress) -> None:
    """A run that reached its end: ``ok``, or ``partial`` when some resources failed (all of them: ``error``)."""
    if progress.errors and not set(progress.resources) - set(progress.errors):
        _failed(account, run, VendorError("; ".join(f"{r}: {e}" for r, e in progress.errors.items())))
        return
    account.refresh_from_db(fields=["cursors", "stream_connected"])
    run.status = SyncRun.Status.PARTIAL if progress.errors else SyncRun.Status.OK
    account.last_success = timezone.now()
    account.consecutive_errors = 0
    fields = ["last_success", "consecutive_errors", "next_run"]
    if progress.errors:
        run.error = "; ".join(f"{resource}: {error}" for resource, error in progress.errors.items())
        account.last_error, account.last_error_at = f"partial sync: {run.error}"[:2000], account.last_success
        fields += ["last_error", "last_error_at"]
    account.schedule_next(CATCH_UP_S if progress.deferred else poll_interval(account))
    account.save(update_fields=fields)


def _lock_lost(account: VendorAccount, run: SyncRun, exc: LockLost) -> None:
    """Not the vendor's fault: no error counted, no backoff; whoever holds the lock now goes on (what this run
    stored is kept, its cursors saved per chunk)."""
    run.status, run.error = SyncRun.Status.ERROR, str(exc)
    account.last_error, account.last_error_at = run.error, timezone.now()
    account.schedule_next(CATCH_UP_S)
    account.save(update_fields=["last_error", "last_error_at", "next_run"])
    log.warning("sync of account %s (%s) stopped: %s", account.pk, account.kind, exc)


def _rate_limited_after_progress(account: VendorAccount, run: SyncRun, progress: Progress, exc: RateLimited) -> None:
    """A run stopped by the vendor's rate limit after it stored something: ``partial``, not a failure (no
    doubling: the account is moving), the next run after Retry-After."""
    run.status = SyncRun.Status.PARTIAL
    run.error = f"{exc.message}; what was fetched is stored, the rest follows"
    account.consecutive_errors = 0
    account.last_error, account.last_error_at = run.error[:2000], timezone.now()
    account.schedule_next(min(RATE_LIMIT_CAP_S, exc.retry_after))
    account.save(update_fields=["consecutive_errors", "last_error", "last_error_at", "next_run"])


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


def _finish(run: SyncRun, progress: Progress) -> None:
    run.finished = timezone.now()
    run.fetched, run.created = progress.total("received"), progress.total("created")
    run.updated, run.rejected = progress.total("updated"), progress.total("rejected")
    run.counts = progress.counts()
    run.save()
