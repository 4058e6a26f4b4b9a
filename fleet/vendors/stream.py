"""The stream process: one asyncio task per stream-capable account, feeding every socket message
through the same ingest and model services as the poller. Reconnects with backoff, logs in
again for every connection (a session may have expired), answers vendor pings, and flags the
account while its socket is up so polling relaxes (and resumes its pace when it drops)."""

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import orjson
import websockets
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone
from websockets.exceptions import InvalidStatus, WebSocketException

from fleet.geo.models import Geofence
from fleet.tracking import ingest, services
from fleet.vendors import base, mirror, sync
from fleet.vendors.errors import VendorError
from fleet.vendors.http import user_agent
from fleet.vendors.models import VendorAccount
from fleet.vendors.registry import capabilities

log = logging.getLogger(__name__)

BACKOFF_MAX_S = 60.0
STABLE_AFTER_S = 30.0  # a connection that lived this long resets the backoff


def streamable(names: list[str] | None = None) -> list[VendorAccount]:
    accounts = VendorAccount.objects.filter(enabled=True, disabled_by_error=False)
    if names:
        accounts = accounts.filter(name__in=names)
    return [a for a in accounts if base.STREAM in capabilities(a.kind)]


@sync_to_async
def _load(account_id: int) -> VendorAccount | None:
    return VendorAccount.objects.filter(pk=account_id, enabled=True, disabled_by_error=False).first()


@sync_to_async
def _set_connected(account_id: int, connected: bool) -> None:
    VendorAccount.objects.filter(pk=account_id).update(stream_connected=connected)


@sync_to_async
def _apply(account: VendorAccount, parsed: dict[str, list]) -> int:
    org, acc = account.organization_id, account.pk
    if parsed.get("devices"):
        services.upsert_devices(org, acc, parsed["devices"])
    if parsed.get("beacons"):
        services.upsert_beacons(org, acc, parsed["beacons"])
    created, unknown = 0, False
    if parsed.get("positions"):
        result = ingest.positions(org, acc, parsed["positions"])
        created, unknown = result.created, bool(result.unknown_devices)
    if parsed.get("events"):
        tally = services.store_events(org, acc, parsed["events"], mirror.linked_ids(account, Geofence))
        unknown = unknown or "unknown device" in tally.reasons
    if unknown:  # a device the socket knows and we do not: poll (which lists devices) now
        VendorAccount.objects.filter(pk=acc).update(next_run=timezone.now())
    return created


async def stream_account(account_id: int, stop: asyncio.Event, on_open: Callable[[], None] | None = None) -> None:
    try:
        await _stream_loop(account_id, stop, on_open)
    finally:
        await sync_to_async(connections.close_all)()  # the DB connection of the ORM's worker thread


async def _stream_loop(account_id: int, stop: asyncio.Event, on_open: Callable[[], None] | None) -> None:
    backoff = 1.0
    while not stop.is_set():
        account = await _load(account_id)
        if account is None or base.STREAM not in capabilities(account.kind):
            return
        started = asyncio.get_running_loop().time()
        try:
            await _one_connection(account, stop, on_open)
        except (TimeoutError, OSError, WebSocketException, VendorError) as exc:
            log.warning("stream of account %s dropped: %s", account_id, _describe(exc))
        finally:
            await _set_connected(account_id, False)
        if asyncio.get_running_loop().time() - started > STABLE_AFTER_S:
            backoff = 1.0
        delay = backoff * random.uniform(0.5, 1.0)
        backoff = min(BACKOFF_MAX_S, backoff * 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


def _describe(exc: Exception) -> str:
    if isinstance(exc, InvalidStatus):
        return f"handshake refused with HTTP {exc.response.status_code}"
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


async def _one_connection(account: VendorAccount, stop: asyncio.Event, on_open: Callable[[], None] | None) -> None:
    connector = sync.connector_for(account)
    try:
        await asyncio.to_thread(connector.login)  # a fresh session for every connection
        headers = {**connector.socket_auth(), "User-Agent": user_agent()}
        async with websockets.connect(
            connector.socket_url(), additional_headers=headers, open_timeout=10, max_size=None
        ) as ws:
            await _set_connected(account.pk, True)
            log.info("stream of account %s connected", account.pk)
            if on_open:
                on_open()
            await _read(account, connector, ws, stop)
    finally:
        connector.close()


async def _read(account: VendorAccount, connector: base.Connector, ws, stop: asyncio.Event) -> None:
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            receiving = asyncio.ensure_future(ws.recv())
            done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                receiving.cancel()
                return
            await _handle(account, connector, ws, receiving.result())
    finally:
        stopping.cancel()


async def _handle(account: VendorAccount, connector: base.Connector, ws, raw: str | bytes) -> None:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("stream of account %s sent a malformed message (%d bytes)", account.pk, len(raw))
        return
    if not isinstance(message, dict):
        return
    parsed = connector.parse_socket_message(message)
    for ping in parsed.get("pings", []):
        await ws.send(connector.pong(ping))
    await _apply(account, parsed)


async def run_streams(names: list[str] | None, stop: asyncio.Event, refresh_s: float = 60.0) -> None:
    """Keep one task per streamable account, picking up new accounts every ``refresh_s``."""
    tasks: dict[int, asyncio.Task] = {}
    while not stop.is_set():
        for account in await sync_to_async(streamable)(names):
            if account.pk not in tasks or tasks[account.pk].done():
                tasks[account.pk] = asyncio.create_task(stream_account(account.pk, stop))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=refresh_s)
    await asyncio.gather(*tasks.values(), return_exceptions=True)
