"""Publish what ingest stored: one channel-layer message per batch per organisation (docs/architecture.md,
Live push). Consumers in this app coalesce and forward to browsers."""

import asyncio
import logging
import os
import threading
import time

from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError

from fleet.tracking.ingest import Stored
from fleet.tracking.state import Rules, device_state, rules_for

log = logging.getLogger(__name__)


def group_name(organization_id: int) -> str:
    return f"fleet.org.{organization_id}"


def user_group_name(user_id: int) -> str:
    """Every live socket of one user: told when the user's access may have changed."""
    return f"fleet.user.{user_id}"


def compact(stored: list[Stored], rules: Rules, now: float | None = None) -> list[list]:
    """`positions` tuples (docs/live-protocol.md): [device, epoch, lat, lon, speed, course, valid, ignition, state]."""
    now = time.time() if now is None else now
    out = []
    for s in stored:
        r = s.record
        fix, ignition = r.fix_time.timestamp(), r.attributes.get("ignition")
        state = device_state(fix, r.valid, r.speed, ignition, now, rules.speed_threshold_kmh, rules.stale_after_s)
        out.append([s.device_id, fix, r.latitude, r.longitude, r.speed, r.course, r.valid, ignition, state])
    return out


def publish_positions(organization_id: int, stored: list[Stored]) -> None:
    if stored and get_channel_layer() is not None:
        message = {
            "type": "positions.batch",
            "org": organization_id,
            "positions": compact(stored, rules_for(organization_id)),
        }
        send(group_name(organization_id), message)


def publish_states(organization_id: int, changes: list[tuple[int, str, str, float | None]]) -> None:
    """One `states.batch` message: d = [[device, state, status]], fix = the fix time each was computed for."""
    if changes and get_channel_layer() is not None:
        message = {
            "type": "states.batch",
            "org": organization_id,
            "d": [[d, st, status] for d, st, status, _ in changes],
            "fix": [fix for *_, fix in changes],
        }
        send(group_name(organization_id), message)


def compact_events(events: list, alerts: set) -> list[dict]:
    """`events` entries (docs/live-protocol.md): what the map's event feed shows of each."""
    from fleet.events.labels import label

    out = []
    for e in events:
        attrs = e.attributes or {}
        out.append(
            {
                "id": e.pk,
                "device": e.device_id,
                "type": e.type,
                "label": label(e.type),
                "time": e.time.timestamp(),
                "zone": attrs.get("zone"),
                "speed": attrs.get("speed"),
                "alert": e.pk in alerts,
            }
        )
    return out


def publish_events(organization_id: int, events: list, alerts: set) -> None:
    """One `events.batch` message per batch of new events (the notification rules decided which are alerts)."""
    if events and get_channel_layer() is not None:
        message = {"type": "events.batch", "org": organization_id, "events": compact_events(events, alerts)}
        send(group_name(organization_id), message)


SEND_TIMEOUT_S = 5.0
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def send(group: str, message: dict) -> None:
    """group_send from sync code on one long-lived event loop per process.

    async_to_sync would start a loop per call, and the Redis layers keep one connection per loop:
    a reconnect per batch.

    A connection that Redis closed meanwhile (a restart, a failover, an idle timeout) fails the first send on
    it: the send is made once more, on a new connection, instead of the batch's push being lost.
    """
    layer = get_channel_layer()
    for attempt in (1, 2):
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _publisher_loop())
        try:
            future.result(timeout=SEND_TIMEOUT_S)
            return
        except (RedisConnectionError, ConnectionError) as exc:
            if attempt == 2:
                raise
            log.info("live push: the Redis connection was lost (%s): sending again", exc)


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():  # started lazily, and again in a forked worker
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="live-publisher", daemon=True).start()
        return _loop
