"""Fault knobs of the simulators and the ASGI middleware that injects the HTTP ones (the knobs and their
shapes: docs/simulators.md)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleet.simulators.badrows import AREA_FAULTS, BODIES, BODY_RESOURCES, MISSING_KINDS, TIME_FAULTS, VALUE_FAULTS
from fleet.simulators.state import RECORDING

if TYPE_CHECKING:
    from fleet.simulators.server import SimCore

__all__ = ["RECORDING", "FaultMiddleware", "Faults", "java_error"]

ONE_SHOTS = ("expire_sessions", "drop_socket")


def _fraction(value: Any) -> float:
    f = float(value)
    if not 0.0 <= f <= 1.0:
        raise ValueError("fraction must be within 0..1")
    return f


def _positive(value: Any) -> float:
    f = float(value)
    if f <= 0:
        raise ValueError("must be positive")
    return f


def _counted(value: dict, **defaults: Any) -> dict[str, Any]:
    knob = {**defaults, **value}
    knob["count"] = int(knob.get("count", 1))
    return knob


def _check_errors(v: dict) -> dict[str, Any]:
    knob = _counted(v, status=500)
    if knob["status"] not in (500, 502, 503, 504):
        raise ValueError("errors.status must be 500, 502, 503 or 504")
    return knob


def _check_malformed(v: dict) -> dict[str, Any]:
    knob = _counted(v, mode="truncated")
    if knob["mode"] not in ("truncated", "garbage"):
        raise ValueError("malformed.mode must be truncated or garbage")
    return knob


def _kinds(value: Any, catalogue: Iterable[str]) -> list[str]:
    known = list(catalogue)
    kinds = known if value is None else [str(k) for k in value]
    unknown = set(kinds) - set(known)
    if unknown or not kinds:
        raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {known}")
    return kinds


def _rate_of(catalogue: Iterable[str]) -> Callable[[Any], dict[str, Any]]:
    """A share of rows: f, or {"fraction": f (default 1), "kinds": [...] (default all)}."""

    def check(value: Any) -> dict[str, Any]:
        body = value if isinstance(value, dict) else {"fraction": value}
        return {"fraction": _fraction(body.get("fraction", 1.0)), "kinds": _kinds(body.get("kinds"), catalogue)}

    return check


def _count_of(catalogue: Iterable[str]) -> Callable[[Any], dict[str, Any]]:
    """A number of rows: n, or {"count": n, "kinds": [...] (default all)}."""

    def check(value: Any) -> dict[str, Any]:
        body = value if isinstance(value, dict) else {"count": value}
        count = int(body.get("count", 1))
        if count < 0:
            raise ValueError("count must not be negative")
        return {"count": count, "kinds": _kinds(body.get("kinds"), catalogue)}

    return check


def _resources(value: Any, name: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value or [])
    if unknown := set(names) - set(BODY_RESOURCES):
        raise ValueError(f"{name}: unknown resources {sorted(unknown)}; choose from {list(BODY_RESOURCES)}")
    return names


def _check_missing_ids(value: Any) -> dict[str, Any]:
    """A rate of rows, plus "null_body" / "object_body": the resources that answer null or an object instead
    of their list (when one is given the fraction defaults to 0)."""
    body = value if isinstance(value, dict) else {"fraction": value}
    bodies = {f"{kind}_body": _resources(body.get(f"{kind}_body"), f"{kind}_body") for kind in BODIES}
    rate = {"fraction": body.get("fraction", 0.0 if any(bodies.values()) else 1.0), "kinds": body.get("kinds")}
    return {**_rate_of(MISSING_KINDS)(rate), **bodies}


def _blocked(value: Any) -> dict[str, int]:
    """iTrack: the first ``count`` trackers answer ``code`` (208 blocked, or 204 not found)."""
    count, code = (value.get("count", 1), value.get("code", 208)) if isinstance(value, dict) else (value, 208)
    if int(code) not in (204, 208):
        raise ValueError("tracker_blocked code must be 204 or 208")
    return {"count": max(0, int(count)), "code": int(code)}


KNOB_CHECKS: dict[str, Callable[[Any], Any]] = {
    "rate_limit": lambda v: {"every": max(1, int(v["every"])), "retry_after": float(v.get("retry_after", 1))},
    "errors": _check_errors,
    "slow": lambda v: _counted(v, delay=float(v.get("delay", 30.0))),
    "malformed": _check_malformed,
    "duplicates": _fraction,
    "out_of_order": lambda v: {"fraction": _fraction(v["fraction"]), "delay": _positive(v.get("delay", 60))},
    "bad_positions": _fraction,
    "nan_attributes": _rate_of(VALUE_FAULTS),
    "naive_times": _rate_of(TIME_FAULTS),
    "missing_ids": _check_missing_ids,
    "bad_geofences": _count_of(AREA_FAULTS),
    "unknown_devices": lambda v: {"count": max(0, int(v["count"] if isinstance(v, dict) else v))},
    "socket_idle_timeout": _positive,
    "ping_interval": _positive,
    "ignore_pongs": bool,
    "no_session": bool,
    "jwt_expiry": _positive,
    "require_version": bool,
    "reorder_pages": bool,
    "poi_report_delay": _positive,
    "stuck_reports": bool,
    "token_expiry": _positive,
    "empty_401": bool,
    "strict_limits": bool,
    "session_expire": _positive,
    "too_many_requests": lambda v: {"every": max(1, int(v["every"])), "retry_after": float(v.get("retry_after", 1))},
    "span_limit_days": _positive,
    "storage_days": _positive,
    "history_limit": lambda v: max(1, int(v)),
    "tracker_blocked": _blocked,
}
KEPT_WHEN_OFF = frozenset({"require_version", "strict_limits"})  # knobs whose off state differs from their absence


class Faults:
    def __init__(self) -> None:
        self.knobs: dict[str, Any] = {}
        self.api_requests = 0

    def update(self, body: dict[str, Any]) -> list[str]:
        """Merge knobs; return the one-shot actions requested."""
        if body.get("reset"):
            self.knobs.clear()
            self.api_requests = 0
        shots = []
        for name, value in body.items():
            if name == "reset":
                continue
            if name in ONE_SHOTS:
                shots += [name] if value else []
            elif name not in KNOB_CHECKS:
                raise ValueError(f"unknown fault knob {name!r}")
            elif value is None or (name not in KEPT_WHEN_OFF and (value is False or value == 0)):
                self.knobs.pop(name, None)
            else:
                self.knobs[name] = KNOB_CHECKS[name](value)
                self.api_requests = 0 if name == "rate_limit" else self.api_requests
        return shots

    def take(self) -> tuple[str, dict[str, Any]] | None:
        """Decide the fault, if any, for one /api HTTP request."""
        limit = self.knobs.get("rate_limit")
        if limit:
            self.api_requests += 1
            if self.api_requests % limit["every"] == 0:
                return "rate_limit", limit
        for name in ("errors", "slow", "malformed"):
            knob = self.knobs.get(name)
            if knob:
                knob["count"] -= 1
                if knob["count"] <= 0:
                    del self.knobs[name]
                return name, knob
        return None


def java_error(status: int, exception: str, where: str = "ResourceErrorHandler.java:35") -> PlainTextResponse:
    """Traccar renders errors as a one-line Java stack trace in text/plain."""
    return PlainTextResponse(f"{exception} ({where} < ...)", status)


class FaultMiddleware:
    """Inject the HTTP faults (rate limit, 5xx, slow, malformed) in front of /api/*."""

    def __init__(self, app: ASGIApp, sim: SimCore) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        self.sim.stats["requests"] += 1
        verdict = self.sim.faults.take()
        if verdict is None:
            await self.app(scope, receive, send)
            return
        kind, knob = verdict
        self.sim.fault_stats[kind] += 1
        await FAULT_HANDLERS[kind](self, knob, scope, receive, send)

    async def rate_limited(self, knob: dict, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Retry-After": str(math.ceil(knob["retry_after"]))}
        await PlainTextResponse("Too Many Requests", 429, headers)(scope, receive, send)

    async def error(self, knob: dict, scope: Scope, receive: Receive, send: Send) -> None:
        exception = "SQLTransientConnectionException: HikariPool-1 - Connection is not available"
        await java_error(knob["status"], exception, "DataManager.java:300")(scope, receive, send)

    async def slow(self, knob: dict, scope: Scope, receive: Receive, send: Send) -> None:
        alive, buffered = await _hold(receive, knob["delay"])
        if not alive:
            self.sim.stats["slow_requests_abandoned"] += 1
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def malformed(self, knob: dict, scope: Scope, receive: Receive, send: Send) -> None:
        token = RECORDING.set(False)  # the client cannot read it, so nothing counts as served
        try:
            await self.app(scope, receive, _corrupting(send, knob["mode"]))
        finally:
            RECORDING.reset(token)


FAULT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    "rate_limit": FaultMiddleware.rate_limited,
    "errors": FaultMiddleware.error,
    "slow": FaultMiddleware.slow,
    "malformed": FaultMiddleware.malformed,
}


async def _hold(receive: Receive, delay: float) -> tuple[bool, list[Message]]:
    """Wait `delay` seconds; report whether the client is still there, keeping what it sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    buffered: list[Message] = []
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), remaining)
        except TimeoutError:
            break
        if message["type"] == "http.disconnect":
            return False, buffered
        buffered.append(message)
    return True, buffered


def _corrupting(send: Send, mode: str) -> Send:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        body = body[: len(body) // 2] if mode == "truncated" else b"<html><body>upstream garbage</body></html>"
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped
