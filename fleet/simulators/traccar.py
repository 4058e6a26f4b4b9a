"""Traccar-family HTTP and WebSocket behaviour shared by Data Trak (Traccar 4.2) and Safectory Track:
Jetty-style sessions, the Basic-or-cookie security filter, /api/positions, the route and events
reports, the socket endpoint and derived ignition/motion events."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from fleet.simulators.badrows import (
    BAD_POSITION_MODES,
    BODIES,
    PHANTOM_DEVICE,
    PHANTOM_ROW,
    UNKNOWN_DEVICE,
    BadRows,
    damage,
)
from fleet.simulators.server import SimCore, SocketConn, java_error, json_response
from fleet.simulators.state import RECORDING, iso_z

KMH_PER_KNOT = 1.852
MOVING_KMH = 3.0  # above this a fix counts as motion (Traccar: speed threshold)
ONLINE_S = 600.0  # a device without a fix for this long is "offline"
Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """Rendered as Traccar does: text/plain one-line stack trace, 400 unless said otherwise."""

    def __init__(self, exception: str, status: int = 400) -> None:
        super().__init__(exception)
        self.exception = exception
        self.status = status


@lru_cache(maxsize=200_000)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def traccar_time(ts: float | None, colon: bool = False) -> str | None:
    """2018-11-10T12:00:00.000+0000 (Jackson 2.8) or ...000+00:00 (colon=True)."""
    if ts is None:
        return None
    whole = math.floor(ts)
    ms = min(999, int(round((ts - whole) * 1000)))
    return f"{_second(whole)}.{ms:03d}{'+00:00' if colon else '+0000'}"


_OFFSET_NO_COLON = re.compile(r"([+-]\d\d)(\d\d)$")


def iso_ms(ts: float) -> str:
    """The UTC time a client reads from traccar_time(ts), as ISO 8601 with milliseconds and Z."""
    return f"{traccar_time(ts)[:23]}Z"


def parse_time(text: str | None) -> float:
    """Accept ISO 8601 with Z, +00:00 or +0000 (and a '+' that arrived as a space)."""
    if not text:
        raise ApiError("NullPointerException: from and to are required")
    value = text.strip().replace(" ", "+")
    value = _OFFSET_NO_COLON.sub(r"\1:\2", value[:-1] + "+00:00" if value.endswith("Z") else value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(f"DateTimeParseException: Text '{text}' could not be parsed") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def int_param(value: str | None, name: str) -> int:
    try:
        return int(value or "")
    except ValueError as exc:
        raise ApiError(f'NumberFormatException: For input string: "{value}" ({name})') from exc


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"JsonParseException: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError("MismatchedInputException: expected an object")
    return body


class TraccarSim(SimCore):
    time_colon = False  # Data Trak: +0000; Safectory: +00:00
    cookie_path = "/"
    resources: tuple[str, ...] = ("devices", "positions", "events")  # those the row knobs can damage

    def setup(self) -> None:
        n = len(self.model.vehicles)
        self.statuses = ["unknown"] * n
        self.motion_state: list[tuple[bool, bool] | None] = [None] * n
        self.events: list[tuple[str, int]] = []  # (type, position index); event id = index + 1
        self.events_by_device: list[list[int]] = [[] for _ in range(n)]
        self.events_by_position: dict[int, list[int]] = {}
        self.device_ids = {self.device_id(d): d for d in range(n)}
        self.events_served: set[int] = set()
        self.bad_rows = BadRows(self.faults.knobs, self.fault_stats, self.resources)

    def ready(self) -> None:
        now = self.clock.now()
        self.statuses = [self.status(d, now) for d in range(len(self.statuses))]

    def fmt(self, ts: float | None) -> str | None:
        return traccar_time(ts, self.time_colon)

    # --- vendor hooks ---
    def render_device(self, device: int, now: float) -> dict[str, Any]:
        raise NotImplementedError

    def render_event(self, e: int) -> dict[str, Any]:
        kind, i = self.events[e]
        device = self.store.fixes[i].device
        return {
            "id": e + 1,
            "attributes": {},
            "deviceId": self.device_id(device),
            "type": kind,
            "serverTime": self.fmt(self.server_ts(i)),
            "positionId": self.first_position_id + i,
            "geofenceId": 0,
            "maintenanceId": 0,
        }

    def vendor_routes(self) -> list[BaseRoute]:
        return []

    def socket_greeting(self, conn: SocketConn, now: float) -> None:
        conn.push({"positions": self.serve(self.latest_all(now))})

    def socket_watchers(self, conn: SocketConn) -> list[Coroutine[Any, Any, None]]:
        return []

    def on_socket_text(self, conn: SocketConn, text: str) -> None:
        """Traccar 4.2 ignores what the client sends."""

    def group_devices(self, group_id: int) -> list[int]:
        return []

    # --- derived data ---
    def server_ts(self, i: int) -> float:
        """Server receive time: when the fix became visible, plus a few hundred ms."""
        return self.store.visible_at.get(i, self.store.times[i]) + 0.1 + (i * 37 % 800) / 1000

    def on_fix(self, i: int) -> None:
        fix = self.store.fixes[i]
        state = (fix.ignition, fix.speed_kmh > MOVING_KMH)
        before = self.motion_state[fix.device]
        self.motion_state[fix.device] = state
        if before is None:
            return
        if state[0] != before[0]:
            self.add_event("ignitionOn" if state[0] else "ignitionOff", i)
        if state[1] != before[1]:
            self.add_event("deviceMoving" if state[1] else "deviceStopped", i)

    def add_event(self, kind: str, i: int) -> None:
        e = len(self.events)
        self.events.append((kind, i))
        self.events_by_device[self.store.fixes[i].device].append(e)
        self.events_by_position.setdefault(i, []).append(e)

    def status(self, device: int, now: float) -> str:
        latest = self.store.latest(device, now)
        if latest is None:
            return "unknown"
        return "online" if now - self.store.times[latest] <= ONLINE_S else "offline"

    def status_changes(self, now: float) -> list[int]:
        changed = []
        for device, before in enumerate(self.statuses):
            status = self.status(device, now)
            if status != before:
                self.statuses[device] = status
                changed.append(device)
        return changed

    def latest_all(self, now: float) -> list[int]:
        latest = (self.store.latest(d, now) for d in range(len(self.model.vehicles)))
        return [i for i in latest if i is not None]

    def device_index(self, value: str | int | None) -> int | None:
        """The device's index; None for an extra device row of the missing_ids knob (it has no data)."""
        device_id = int_param(str(value), "deviceId")
        device = self.device_ids.get(device_id)
        if device is None and device_id not in self.bad_rows.extra_device_ids:
            raise ApiError("SecurityException: Device access denied")
        return device

    # --- bad rows (the row knobs) ---
    def render_served(self, i: int) -> dict[str, Any]:
        doc = super().render_served(i)
        if i not in self.store.bad:
            kind = self.bad_rows.pick("positions", i, fresh=not self.store.served[i])
            if kind:
                damage(doc, "positions", kind, self.store.times[i], self.fmt)
        return doc

    def position_fault(self, i: int) -> str | None:
        return BAD_POSITION_MODES.get(self.store.bad.get(i, 0)) or self.bad_rows.kinds["positions"].get(i)

    def serve(self, indexes: list[int]) -> list[dict[str, Any]]:
        out = super().serve(indexes)
        phantoms = self.phantom_count()
        out += [self.phantom_position(i) for i in indexes if self.store.fixes[i].device < phantoms]
        for i in indexes:
            if kind := self.position_fault(i):
                fix = self.store.fixes[i]
                entry = {"id": self.first_position_id + i, "deviceId": self.device_id(fix.device)}
                entry.update(fixTime=iso_z(self.store.times[i]), kind=kind)
                self.bad_rows.record("positions", entry["id"], entry)
        return out

    def serve_events(self, es: list[int]) -> list[dict[str, Any]]:
        out = []
        for e in es:
            doc = self.render_event(e)
            i = self.events[e][1]
            if kind := self.bad_rows.pick("events", e, fresh=e not in self.events_served):
                damage(doc, "events", kind, self.server_ts(i), self.fmt)
                entry = {"id": e + 1, "deviceId": self.device_id(self.store.fixes[i].device), "type": self.events[e][0]}
                entry.update(time=iso_ms(self.server_ts(i)), kind=kind)
                self.bad_rows.record("events", e + 1, entry)
            out.append(doc)
        phantoms = self.phantom_count()
        out += [self.phantom_event(e) for e in es if self.store.fixes[self.events[e][1]].device < phantoms]
        if RECORDING.get():
            self.events_served.update(es)
        return out

    def phantom_count(self) -> int:
        knob = self.faults.knobs.get("unknown_devices")
        return knob["count"] if knob else 0

    def phantom_position(self, i: int) -> dict[str, Any]:
        """Device i's position as if it came from a device missing from /api/devices."""
        doc = self.render_position(i)
        doc.update(id=PHANTOM_ROW + doc["id"], deviceId=PHANTOM_DEVICE + doc["deviceId"])
        if doc.get("deviceName"):
            doc["deviceName"] = f"Unlisted {doc['deviceName']}"
        entry = {"id": doc["id"], "deviceId": doc["deviceId"], "fixTime": iso_z(self.store.times[i])}
        self.bad_rows.record("positions", doc["id"], {**entry, "kind": UNKNOWN_DEVICE}, "unknown_devices")
        return doc

    def phantom_event(self, e: int) -> dict[str, Any]:
        doc = self.render_event(e)
        doc.update(id=PHANTOM_ROW + doc["id"], deviceId=PHANTOM_DEVICE + doc["deviceId"])
        doc["positionId"] = PHANTOM_ROW + doc["positionId"]
        entry = {"id": doc["id"], "deviceId": doc["deviceId"], "type": doc["type"]}
        entry.update(time=iso_ms(self.server_ts(self.events[e][1])), kind=UNKNOWN_DEVICE)
        self.bad_rows.record("events", doc["id"], entry, "unknown_devices")
        return doc

    def listing(self, resource: str, rows: list[dict[str, Any]]) -> Response:
        """A list resource's response: its rows and the extra bad ones, or another body (the row knobs)."""
        return self.other_body(resource) or self.json(rows + self.bad_rows.extras(resource, rows))

    def other_body(self, resource: str) -> Response | None:
        """The body served instead of the resource's list (missing_ids: null_body, object_body), if any."""
        kind = self.bad_rows.body(resource)
        return self.json(BODIES[kind]) if kind else None

    def truth_row(self, i: int) -> dict[str, Any]:
        row = super().truth_row(i)
        if kind := self.position_fault(i):
            row.update(bad=True, fault=kind)
        return row

    def truth(self, all_visible: bool = False) -> dict[str, Any]:
        out = super().truth(all_visible)
        now = self.clock.now()
        if all_visible:
            events = [e for e, (_, i) in enumerate(self.events) if self.store.is_visible(i, now)]
        else:
            events = sorted(self.events_served)
        out["events"] = [self.truth_event(e) for e in events]
        out["bad"] = self.bad_rows.report()
        return out

    def truth_event(self, e: int) -> dict[str, Any]:
        kind, i = self.events[e]
        row = {"id": e + 1, "deviceId": self.device_id(self.store.fixes[i].device), "type": kind}
        row.update(time=iso_ms(self.server_ts(i)), positionId=self.first_position_id + i)
        fault = self.bad_rows.kinds["events"].get(e)
        return {**row, "bad": fault is not None, **({"fault": fault} if fault else {})}

    # --- HTTP plumbing ---
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/session", self.session_view, methods=["GET", "POST", "DELETE"]),
            Route("/api/positions", self.protected(self.positions_view)),
            Route("/api/reports/route", self.protected(self.route_view), methods=["GET", "POST"]),
            Route("/api/reports/events", self.protected(self.events_view), methods=["GET", "POST"]),
            WebSocketRoute("/api/socket", self.socket_view),
            *self.vendor_routes(),
        ]

    def protected(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not self.authorized(request):
                return self.unauthorized(request)
            try:
                return await handler(request)
            except ApiError as exc:
                return java_error(exc.status, exc.exception)

        return endpoint

    def unauthorized(self, request: Request) -> Response:
        self.stats["unauthorized"] += 1
        headers = {}
        if request.headers.get("x-requested-with", "").lower() != "xmlhttprequest":
            headers["WWW-Authenticate"] = 'Basic realm="api"'
        return PlainTextResponse("HTTP 401 Unauthorized", 401, headers)

    def json(self, body: Any) -> Response:
        return json_response(body)

    # --- session ---
    def user_json(self) -> dict[str, Any]:
        return {
            "id": 1,
            "attributes": {},
            "name": self.cfg.username,
            "login": None,
            "email": self.cfg.username,
            "phone": None,
            "readonly": False,
            "administrator": False,
            "map": None,
            "latitude": 0.0,
            "longitude": 0.0,
            "zoom": 0,
            "twelveHourFormat": False,
            "coordinateFormat": None,
            "disabled": False,
            "expirationTime": None,
            "deviceLimit": -1,
            "userLimit": 0,
            "deviceReadonly": False,
            "token": self.cfg.token,
            "limitCommands": False,
            "poiLayer": None,
            "password": None,
        }

    def with_session(self, response: Response) -> Response:
        sid = self.sessions.open()
        response.headers.append("Set-Cookie", f"JSESSIONID={sid}; Path={self.cookie_path}; HttpOnly")
        return response

    async def session_view(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.session_create(request)
        if request.method == "DELETE":
            self.sessions.close(request.cookies.get("JSESSIONID"))
            return Response(status_code=204)
        if self.sessions.valid(request.cookies.get("JSESSIONID")):
            return self.json(self.user_json())
        if request.query_params.get("token") == self.cfg.token:
            self.stats["logins"] += 1
            return self.with_session(self.json(self.user_json()))
        return PlainTextResponse("HTTP 404 Not Found", 404)

    async def session_create(self, request: Request) -> Response:
        if self.faults.knobs.get("no_session"):
            return PlainTextResponse("HTTP 404 Not Found", 404)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        email, password = form.get("email", [""])[0], form.get("password", [""])[0]
        if (email, password) != (self.cfg.username, self.cfg.password):
            self.stats["login_failures"] += 1
            return PlainTextResponse("HTTP 401 Unauthorized", 401)
        self.stats["logins"] += 1
        return self.with_session(self.json(self.user_json()))

    # --- positions and reports ---
    async def positions_view(self, request: Request) -> Response:
        now = self.sync()
        query = request.query_params
        if ids := query.getlist("id"):
            indexes = [self.position_index(int_param(x, "id")) for x in ids]
            rows = [i for i in indexes if i is not None and self.store.is_visible(i, now)]
        elif query.get("deviceId"):
            device = self.device_index(query["deviceId"])
            if device is None:
                rows = []
            elif query.get("from") and query.get("to"):
                rows = self.store.window(device, parse_time(query["from"]), parse_time(query["to"]), now)
            else:
                rows = [i for i in [self.store.latest(device, now)] if i is not None]
        else:
            rows = self.latest_all(now)
        return self.other_body("positions") or self.json(self.serve(rows))

    async def report_params(self, request: Request) -> dict[str, Any]:
        """deviceId/groupId (repeatable), from, to from the query (or a JSON body on POST)."""
        query = request.query_params
        params: dict[str, Any] = dict(query)
        params["deviceIds"], params["groupIds"] = query.getlist("deviceId"), query.getlist("groupId")
        if request.method == "POST":
            body = orjson.loads(await request.body() or b"{}")
            params.update(body)
            single = [body["deviceId"]] if body.get("deviceId") else []
            params["deviceIds"] = list(body.get("deviceIds") or []) + single
            params["groupIds"] = list(body.get("groupIds") or [])
        return params

    def report_window(self, params: dict[str, Any]) -> tuple[list[int], float, float]:
        devices = [d for d in map(self.device_index, params["deviceIds"]) if d is not None]
        for group in params["groupIds"]:
            devices += [d for d in self.group_devices(int_param(str(group), "groupId")) if d not in devices]
        return devices, parse_time(params.get("from")), parse_time(params.get("to"))

    async def route_view(self, request: Request) -> Response:
        now = self.sync()
        devices, t_from, t_to = self.report_window(await self.report_params(request))
        rows = [i for d in devices for i in self.store.window(d, t_from, t_to, now)]
        return self.other_body("positions") or self.json(self.serve(rows))

    async def events_view(self, request: Request) -> Response:
        now = self.sync()
        params = await self.report_params(request)
        devices, t_from, t_to = self.report_window(params)
        types = set(request.query_params.getlist("type")) or set(params.get("types") or []) or {"%"}
        if body := self.other_body("events"):
            return body
        rows = []
        for d in devices:
            for e in self.events_by_device[d]:
                kind, i = self.events[e]
                visible = self.store.is_visible(i, now) and t_from <= self.server_ts(i) <= t_to
                if visible and ("%" in types or kind in types):
                    rows.append(e)
        return self.json(self.serve_events(rows))

    # --- socket ---
    async def socket_view(self, ws: WebSocket) -> None:
        if not self.sessions.valid(ws.cookies.get("JSESSIONID")):
            self.stats["sockets_rejected"] += 1
            try:
                await ws.send_denial_response(PlainTextResponse("HTTP 401 Unauthorized", 401))
            except RuntimeError:
                await ws.close(1008)
            return
        await ws.accept()
        conn = SocketConn(ws)
        self.sockets.add(conn)
        self.stats["sockets_opened"] += 1
        self.socket_greeting(conn, self.sync())
        watchers = [asyncio.create_task(w) for w in self.socket_watchers(conn)]
        try:
            await conn.serve(self.on_socket_text)
        finally:
            for task in watchers:
                task.cancel()
            self.sockets.discard(conn)
            self.stats["sockets_closed"] += 1

    def broadcast(self, fresh: list[int]) -> None:
        """One key per message, one object per list (Traccar 4.2 AsyncSocket)."""
        now = self.clock.now()
        changed = self.status_changes(now)
        if not self.sockets:
            return
        messages: list[dict[str, Any]] = []
        for i in fresh:
            messages += [{"positions": [doc]} for doc in self.serve([i])]
            messages += [{"events": [doc]} for doc in self.serve_events(self.events_by_position.get(i, []))]
        messages += [{"devices": [self.render_device(d, now)]} for d in changed]
        for conn in list(self.sockets):
            for message in messages:
                conn.push(message)
