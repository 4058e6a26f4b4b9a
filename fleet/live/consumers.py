"""The live map socket (docs/live-protocol.md): authorise in connect(), join only the user's organisation
groups, send config + snapshot, then push coalesced positions, state changes and heartbeats."""

import asyncio
import logging
import time

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from fleet.live import snapshot
from fleet.live.broadcast import group_name

log = logging.getLogger(__name__)
UNAUTHORISED = 4401


class LiveConsumer(AsyncWebsocketConsumer):
    # `positions` frames: a token bucket, ten a second on average and a burst of three at most. A plain
    # "one frame per 100 ms" throttle fed by batches every ~100 ms phase-locks into up to 100 ms of delay.
    flush_s = 0.1
    burst = 3.0
    heartbeat_s = 10.0

    async def connect(self) -> None:
        self.joined: list[str] = []
        self.pending: dict[int, list] = {}  # device -> newest position not yet sent
        self.sent_fix: dict[int, float] = {}  # device -> newest fix the browser has
        self.flush_task: asyncio.Task | None = None
        self.heartbeat_task: asyncio.Task | None = None
        self.tokens, self.tokens_at = self.burst, time.monotonic()
        self.paused = False
        self.org_ids: list[int] | None = None  # set once authorised
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()  # a close code only reaches the browser on an accepted socket
            await self.close(code=UNAUTHORISED)
            return
        org_ids = await database_sync_to_async(snapshot.visible_org_ids)(user)
        for org_id in org_ids:  # join before the snapshot is read, so nothing falls between the two
            await self.channel_layer.group_add(group_name(org_id), self.channel_name)
            self.joined.append(group_name(org_id))
        self.org_ids = org_ids
        await self.accept()
        await self.send_snapshot()
        self.heartbeat_task = asyncio.create_task(self.heartbeats())

    async def disconnect(self, code: int) -> None:
        for task in (self.heartbeat_task, self.flush_task):
            if task is not None:
                task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = orjson.loads(text_data or bytes_data or b"")
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict) and message.get("type") == "resync" and self.org_ids is not None:
            await self.send_snapshot()

    async def send_snapshot(self) -> None:
        """config + snapshot; positions wait meanwhile and are sent after it only if newer."""
        self.paused = True
        try:
            config, rules = await database_sync_to_async(snapshot.config)(self.org_ids)
            await self.send_frame(config)
            frame = await database_sync_to_async(snapshot.snapshot)(self.org_ids, rules)
            await self.send_frame(frame)
            self.sent_fix = sent = {d["id"]: d["fix"] for d in frame["devices"] if d["fix"] is not None}
            self.pending = {k: p for k, p in self.pending.items() if p[1] > sent.get(k, float("-inf"))}
        finally:
            self.paused = False
        if self.pending:
            await self.schedule_flush()

    async def positions_batch(self, event: dict) -> None:
        """Keep the newest position per device (by fix time, whatever the arrival order)."""
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
        fixes = event.get("fix") or [None] * len(event["d"])
        out = []
        for (device, state, status), fix in zip(event["d"], fixes, strict=False):
            current = self.pending.get(device)
            if fix is not None and (self.sent_fix.get(device, fix) > fix or (current and current[1] > fix)):
                continue
            if current is not None:  # the state was computed for this pending position; messages are shared
                self.pending[device] = [*current[:8], state]
            out.append([device, state, status])
        if out:
            await self.send_frame({"type": "states", "d": out})

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
        if batch:
            await self.send_frame({"type": "positions", "p": batch})

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if not self.paused:  # never between a config and its snapshot
                await self.send_frame({"type": "heartbeat", "server_time": time.time()})

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=orjson.dumps(frame).decode())
