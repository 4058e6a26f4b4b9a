"""Simulator state that is not vendor specific: the sim clock, the position store, sessions and
one WebSocket connection. Importable without Django."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import re
import secrets
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from starlette.websockets import WebSocket

# False while a response the client cannot read is rendered (the malformed knob): nothing counts as served
RECORDING: contextvars.ContextVar[bool] = contextvars.ContextVar("sim_recording", default=True)

# Jackson, allowed non-numeric numbers, writes non-finite doubles as the bare tokens NaN and Infinity, which
# orjson refuses to write: a row carries one of these strings and dumps() writes it as the bare token.
NAN, INFINITY, MINUS_INFINITY = "__sim_token__NaN", "__sim_token__Infinity", "__sim_token__-Infinity"
_TOKEN = re.compile(rb'"__sim_token__(NaN|Infinity|-Infinity)"')


def dumps(body: Any) -> bytes:
    """orjson, tolerating numpy scalars from the motion models and writing the bare non-finite tokens."""
    out = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return _TOKEN.sub(rb"\1", out) if b"__sim_token__" in out else out


@lru_cache(maxsize=100_000)
def iso_z(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def frac(key: int, salt: int) -> float:
    """Deterministic pseudo-random number in [0, 1) for one position."""
    return ((key * 2654435761 + salt * 40503) % 4294967296) / 4294967296


# --- clock -----------------------------------------------------------------------------------------


class SimClock:
    """Sim time = real time - lag; may be frozen; never runs ahead of real time."""

    def __init__(self, history: float, frozen: bool) -> None:
        self.lag = float(history)
        self.frozen_at: float | None = time.time() - self.lag if frozen else None

    def now(self) -> float:
        return self.frozen_at if self.frozen_at is not None else time.time() - self.lag

    def advance(self, seconds: float) -> None:
        real = time.time()
        if self.frozen_at is not None:
            self.frozen_at = min(self.frozen_at + seconds, real)
        self.lag = max(0.0, self.lag - seconds)

    def freeze(self, frozen: bool) -> None:
        if frozen and self.frozen_at is None:
            self.frozen_at = self.now()
        elif not frozen and self.frozen_at is not None:
            self.lag = time.time() - self.frozen_at
            self.frozen_at = None

    def to_now(self) -> None:
        self.lag = 0.0
        if self.frozen_at is not None:
            self.frozen_at = time.time()

    def describe(self) -> dict[str, Any]:
        now = self.now()
        stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        return {"now": stamp, "lag": round(time.time() - now, 3), "frozen": self.frozen_at is not None}


# --- positions -------------------------------------------------------------------------------------


class Store:
    """Every fix generated so far, by index (position id = first_id + index) and by device."""

    def __init__(self, n_devices: int) -> None:
        self.fixes: list[Any] = []
        self.times = array("d")
        self.rows: list[list[int]] = [[] for _ in range(n_devices)]
        self.row_times: list[array] = [array("d") for _ in range(n_devices)]
        self.visible_at: dict[int, float] = {}  # only the late ones
        self.pending: list[tuple[float, int]] = []
        self.fresh: list[int] = []
        self.served = bytearray()
        self.bad: dict[int, int] = {}

    def add(self, fix: Any, visible: float, now: float) -> int:
        i = len(self.fixes)
        t = fix.time.timestamp()
        self.fixes.append(fix)
        self.times.append(t)
        self.served.append(0)
        self.rows[fix.device].append(i)
        self.row_times[fix.device].append(t)
        if visible > t:
            self.visible_at[i] = visible
        if visible <= now:
            self.fresh.append(i)
        else:
            heapq.heappush(self.pending, (visible, i))
        return i

    def release(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            self.fresh.append(heapq.heappop(self.pending)[1])

    def drain(self) -> list[int]:
        fresh, self.fresh = self.fresh, []
        return fresh

    def is_visible(self, i: int, now: float) -> bool:
        return self.visible_at.get(i, 0.0) <= now

    def window(self, device: int, t_from: float, t_to: float, now: float) -> list[int]:
        times = self.row_times[device]
        rows = self.rows[device][bisect_left(times, t_from) : bisect_right(times, t_to)]
        if not self.visible_at:
            return rows
        return [i for i in rows if self.is_visible(i, now)]

    def latest(self, device: int, now: float) -> int | None:
        for i in reversed(self.rows[device]):
            if self.is_visible(i, now):
                return i
        return None

    def previous(self, i: int) -> int | None:
        fix = self.fixes[i]
        rows = self.rows[fix.device]
        k = bisect_left(self.row_times[fix.device], self.times[i])
        while k < len(rows) and rows[k] != i:
            k += 1
        return rows[k - 1] if 0 < k < len(rows) else None

    def segments(self, rows: list[int], ignition: bool) -> list[tuple[list[int], int, int]]:
        """(rows of the run, first fix, end fix) for each run of ``rows`` with this ignition; a run ends at the
        next run's first fix (trips and stops share their end points), the last one at its own last fix."""
        fixes, out, start = self.fixes, [], 0
        for k in range(1, len(rows) + 1):
            if k == len(rows) or fixes[rows[k]].ignition != fixes[rows[start]].ignition:
                if fixes[rows[start]].ignition == ignition:
                    out.append((rows[start:k], rows[start], rows[k] if k < len(rows) else rows[k - 1]))
                start = k
        return out

    def all_visible(self, now: float) -> list[int]:
        if not self.visible_at:
            return list(range(len(self.fixes)))
        return [i for i in range(len(self.fixes)) if self.is_visible(i, now)]

    def served_indexes(self) -> list[int]:
        served = self.served
        return [i for i in range(len(served)) if served[i]]


class Sessions:
    def __init__(self) -> None:
        self.live: set[str] = set()

    def open(self) -> str:
        sid = f"node0{secrets.token_hex(12)}.node0"
        self.live.add(sid)
        return sid

    def valid(self, sid: str | None) -> bool:
        return sid is not None and sid in self.live

    def close(self, sid: str | None) -> None:
        self.live.discard(sid or "")


# --- sockets ---------------------------------------------------------------------------------------


class SocketConn:
    """One accepted WebSocket: a send queue drained by one task, so pushes never interleave."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        self.closed = False
        self.last_traffic = time.monotonic()
        self.state: dict[str, Any] = {}

    def push(self, payload: dict[str, Any]) -> None:
        if not self.closed:
            self.outbox.put_nowait(dumps(payload).decode())

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.outbox.put_nowait((code, reason))

    async def serve(self, on_text: Callable[[SocketConn, str], None]) -> None:
        tasks = {asyncio.create_task(self._send_loop()), asyncio.create_task(self._receive_loop(on_text))}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            self.closed = True

    async def _send_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, tuple):
                with contextlib.suppress(Exception):
                    await self.ws.close(*item)
                return
            await self.ws.send_text(item)
            self.last_traffic = time.monotonic()

    async def _receive_loop(self, on_text: Callable[[SocketConn, str], None]) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            self.last_traffic = time.monotonic()
            if message.get("text") is not None:
                on_text(self, message["text"])
