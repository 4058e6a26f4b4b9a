"""The live map socket (docs/live-protocol.md): authorise in connect(), join only the user's organisation
groups (and the user's own), send config + snapshot, then push coalesced positions, state changes and
heartbeats. Access is re-checked on a timer, on resync and when a change is announced; the socket closes
when it is gone."""

import asyncio
import logging
import time

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from fleet.live import access, snapshot
from fleet.live.broadcast import group_name, user_group_name

log = logging.getLogger(__name__)
# Daphne (autobahn) lets an application close only with 1000 or 3000-4999, so RFC 6455's 1009 and 1011 are
# spelled in the 4000s.
TOO_BIG = 4413  # an inbound frame over MAX_INBOUND
UNVERIFIED = 4500  # access could not be re-checked (the page reconnects)
MAX_INBOUND = 4096  # characters in one browser frame; the browser only ever sends {"type": "resync"}
PER_FRAME = 2000  # entries in one `positions` or `states` frame at most
EPOCH_TTL_S = 5.0  # how long one process reuses the channel layer's Redis run id


class LayerEpoch:
    """The run id of the channel layer's Redis server, read at most every EPOCH_TTL_S per process. It changes
    when Redis restarts (or fails over): pushes that were in flight then are gone, so a socket whose snapshot is
    older than the change takes a new one. None when it cannot be read (then nothing is decided)."""

    def __init__(self) -> None:
        self.value: str | None = None
        self.at = float("-inf")
        self.clients: dict[int, object] = {}  # one client per event loop

    async def read(self) -> str | None:
        if time.monotonic() - self.at < EPOCH_TTL_S:
            return self.value
        hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or []
        if not hosts or not isinstance(hosts[0], str):
            return None
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        loop = id(asyncio.get_running_loop())
        client = self.clients.get(loop) or self.clients.setdefault(loop, Redis.from_url(hosts[0]))
        try:
            info = await client.info("server")
        except (OSError, RedisError):
            return None
        self.value, self.at = str(info.get("run_id")), time.monotonic()
        return self.value


layer_epoch = LayerEpoch()


class LiveConsumer(AsyncWebsocketConsumer):
    # `positions` frames: a token bucket, ten a second on average and a burst of three at most. A plain
    # "one frame per 100 ms" throttle fed by batches every ~100 ms phase-locks into up to 100 ms of delay.
    flush_s = 0.1
    burst = 3.0
    heartbeat_s = 10.0

    async def connect(self) -> None:
        self.start_state()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(access.UNAUTHORISED)
            return
        self.user_id, self.session_key = user.pk, self.scope["session"].session_key
        await self.join(user_group_name(user.pk))  # before access is read, so no change notice is missed
        granted = await database_sync_to_async(access.of_user)(user)
        if (code := granted.refusal()) is not None:
            await self.refuse(code)
            return
        await self.follow(granted.org_ids)  # joined before the snapshot is read, so nothing falls between the two
        self.epoch = await layer_epoch.read()
        await self.accept()
        async with self.lock:
            await self.send_snapshot()
        self.tasks = [asyncio.create_task(self.heartbeats()), asyncio.create_task(self.access_checks())]

    def start_state(self) -> None:
        self.joined: set[str] = set()
        self.org_ids: list[int] | None = None  # set once authorised
        self.org_set: set[int] = set()
        self.pending: dict[int, list] = {}  # device -> newest position not yet sent
        self.sent_fix: dict[int, float] = {}  # device -> newest fix the browser has
        self.held_states: list[dict] = []  # `states.batch` messages that arrived during a snapshot
        self.flush_task: asyncio.Task | None = None
        self.resync_task: asyncio.Task | None = None
        self.tasks: list[asyncio.Task] = []
        self.tokens, self.tokens_at = self.burst, time.monotonic()
        self.paused = self.closing = self.resync_wanted = False
        self.lock = asyncio.Lock()  # one access check or snapshot at a time
        self.last_snapshot = float("-inf")
        self.epoch: str | None = None  # the channel layer's Redis run id when the last snapshot was read
        self.resync_min_s: float = settings.LIVE_RESYNC_MIN_S
        self.access_check_s: float = settings.LIVE_ACCESS_CHECK_S

    async def refuse(self, code: int) -> None:
        await self.accept()  # a close code only reaches the browser on an accepted socket
        await self.shut(code)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for task in (*self.tasks, self.flush_task, self.resync_task):
            if task is not None:
                task.cancel()
        for group in list(self.joined):
            await self.leave(group)

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

    async def leave(self, group: str) -> None:
        self.joined.discard(group)
        await self.channel_layer.group_discard(group, self.channel_name)

    async def follow(self, org_ids: list[int]) -> None:
        """Serve exactly these organisations: join their groups, leave the others'."""
        old, new = {group_name(o) for o in self.org_ids or []}, {group_name(o) for o in org_ids}
        if self.org_set - set(org_ids):  # a dropped organisation's positions may wait here; the snapshot follows
            self.pending.clear()
        self.org_ids, self.org_set = org_ids, set(org_ids)  # from now on its queued batches are ignored
        for group in sorted(new - old):
            await self.join(group)
        for group in sorted(old - new):
            await self.leave(group)

    async def shut(self, code: int) -> None:
        """Close with a code; nothing more is sent on this socket."""
        if not self.closing:
            self.closing = True
            self.pending.clear()
            await self.close(code=code)

    # ---- access ----
    async def refresh(self, snapshot_wanted: bool) -> None:
        """Re-check access: close when it is gone, follow membership changes, send config + snapshot when
        the organisations changed or one is asked for."""
        async with self.lock:
            if self.closing:
                return
            granted = await database_sync_to_async(access.of_session)(self.session_key, self.user_id)
            code = access.UNAUTHORISED if granted is None else granted.refusal()
            if code is not None:
                await self.shut(code)
                return
            changed = granted.org_ids != self.org_ids
            if changed:
                await self.follow(granted.org_ids)
            if changed or snapshot_wanted:
                await self.send_snapshot()

    async def access_checks(self) -> None:
        """Access re-checked on a timer; and a fresh snapshot when Redis restarted since the last one (the
        pushes it dropped then would otherwise leave the browser with an older position for good)."""
        while not self.closing:
            await asyncio.sleep(self.access_check_s)
            try:
                epoch = await layer_epoch.read()
                restarted = None not in (epoch, self.epoch) and epoch != self.epoch
                if restarted:
                    log.info("live socket: the channel layer's Redis restarted: a fresh snapshot")
                await self.refresh(snapshot_wanted=restarted)
                self.epoch = epoch or self.epoch
            except Exception:  # access that cannot be verified is not kept
                log.exception("live socket: access check failed")
                await self.shut(UNVERIFIED)

    async def access_check(self, event: dict) -> None:
        """A membership or the user changed (fleet/live/access.py)."""
        await self.refresh(snapshot_wanted=False)

    async def access_logout(self, event: dict) -> None:
        if event.get("session") == access.session_tag(self.session_key):
            await self.shut(access.UNAUTHORISED)
        else:  # another session of the user: it may still be valid
            await self.refresh(snapshot_wanted=False)

    # ---- from the browser ----
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = text_data if text_data is not None else bytes_data
        if data is None or self.org_ids is None or self.closing:
            return
        if len(data) > MAX_INBOUND:
            await self.shut(TOO_BIG)
            return
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict) and message.get("type") == "resync":
            self.resync_wanted = True
            if self.resync_task is None:
                self.resync_task = asyncio.create_task(self.resyncs())

    async def resyncs(self) -> None:
        """Serve resync requests with one snapshot per resync_min_s at most; requests meanwhile fold into it."""
        try:
            while self.resync_wanted and not self.closing:
                wait = self.last_snapshot + self.resync_min_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.resync_wanted = False
                await self.refresh(snapshot_wanted=True)
        finally:
            self.resync_task = None

    # ---- to the browser ----
    async def send_snapshot(self) -> None:
        """config + snapshot (in parts); positions and states wait meanwhile and are sent after it if newer."""
        self.paused = True
        try:
            config, rules = await database_sync_to_async(snapshot.config)(self.org_ids)
            await self.send_frame(config)
            snap = await database_sync_to_async(snapshot.snapshot)(self.org_ids, rules)
            for part in snapshot.encode(snap):
                await self.send_text(part)
            self.sent_fix = sent = snap.fixes()
            self.pending = {k: p for k, p in self.pending.items() if p[1] > sent.get(k, float("-inf"))}
            self.last_snapshot = time.monotonic()
        finally:
            self.paused = False
        held, self.held_states = self.held_states, []
        for event in held:
            await self.states_batch(event)
        if self.pending:
            await self.schedule_flush()

    async def positions_batch(self, event: dict) -> None:
        """Keep the newest position per device (by fix time, whatever the arrival order)."""
        if event.get("org") not in self.org_set or self.closing:
            return
        pending, sent = self.pending, self.sent_fix
        for p in event["positions"]:
            device, fix = p[0], p[1]
            current = pending.get(device)
            if (current is None or fix > current[1]) and fix > sent.get(device, float("-inf")):
                pending[device] = p
        if pending:
            await self.schedule_flush()

    async def states_batch(self, event: dict) -> None:
        """Forward state changes unless the browser already has (or is about to get) a newer fix."""
        if event.get("org") not in self.org_set or self.closing:
            return
        if self.paused:
            self.held_states.append(event)
            return
        fixes = event.get("fix") or [None] * len(event["d"])
        out = []
        for (device, state, status), fix in zip(event["d"], fixes, strict=False):
            current = self.pending.get(device)
            if fix is not None and (self.sent_fix.get(device, fix) > fix or (current and current[1] > fix)):
                continue
            if current is not None:  # the state was computed for this pending position; messages are shared
                self.pending[device] = [*current[:8], state]
            out.append([device, state, status])
        for i in range(0, len(out), PER_FRAME):
            await self.send_frame({"type": "states", "d": out[i : i + PER_FRAME]})

    async def events_batch(self, event: dict) -> None:
        """Forward new events of a served organisation (its members see all of its devices)."""
        if event.get("org") not in self.org_set or self.closing:
            return
        entries = event["events"]
        for i in range(0, len(entries), PER_FRAME):
            await self.send_frame({"type": "events", "e": entries[i : i + PER_FRAME]})

    async def schedule_flush(self) -> None:
        if self.flush_task is None and not self.paused:
            delay = (1.0 - self.refill()) * self.flush_s
            if delay > 0:
                self.flush_task = asyncio.create_task(self.flush(delay))
            else:
                await self.flush(0.0)

    def refill(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.tokens_at) / self.flush_s)
        self.tokens_at = now
        return self.tokens

    async def flush(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self.flush_task = None
        if self.paused:  # send_snapshot() reschedules when done
            return
        batch, self.pending = list(self.pending.values()), {}  # each newer than sent_fix when it arrived
        self.tokens = self.refill() - 1.0
        sent = self.sent_fix
        for p in batch:
            sent[p[0]] = p[1]
        for i in range(0, len(batch), PER_FRAME):
            await self.send_frame({"type": "positions", "p": batch[i : i + PER_FRAME]})

    async def heartbeats(self) -> None:
        while not self.closing:
            await asyncio.sleep(self.heartbeat_s)
            if not self.paused:  # never between a config and its snapshot
                await self.send_frame({"type": "heartbeat", "server_time": time.time()})

    async def send_frame(self, frame: dict) -> None:
        await self.send_text(orjson.dumps(frame))

    async def send_text(self, frame: bytes) -> None:
        if not self.closing:
            await self.send(text_data=frame.decode())
