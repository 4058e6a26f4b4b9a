"""Shared machinery of the vendor simulators: the simulator core, the control surface, the threaded
runner and the CLI. Importable without Django (state.py: clock, store, sessions, sockets; faults.py: knobs).
The clock, the control surface and the fault knobs are specified in docs/simulators.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib
import logging
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.faults import RECORDING, FaultMiddleware, Faults, java_error
from fleet.simulators.state import Sessions, SimClock, SocketConn, Store, dumps, frac, iso_z

__all__ = ["RunningSimulator", "SimConfig", "SimCore", "SocketConn", "java_error", "start_simulator"]

log = logging.getLogger("fleet.simulators")

SIMULATORS = {
    "datatrak": "fleet.simulators.datatrak:DatatrakSim",
    "safectory": "fleet.simulators.safectory:SafectorySim",
    "metrotec": "fleet.simulators.metrotec:MetrotecSim",
    "itrack": "fleet.simulators.itrack:ItrackSim",
    "fleetv2": "fleet.simulators.fleetv2:FleetV2Sim",
}
DEFAULT_PORTS = {"datatrak": 8101, "safectory": 8102, "metrotec": 8103, "itrack": 8104, "fleetv2": 8105}
STAT_KEYS = (
    "requests",
    "logins",
    "login_failures",
    "unauthorized",
    "sockets_opened",
    "sockets_closed",
    "sockets_rejected",
    "pings_sent",
    "pongs_received",
    "sockets_pong_timeout",
    "sockets_idle_closed",
    "slow_requests_abandoned",
)


@dataclass
class SimConfig:
    devices: int = 5
    seed: int = 1
    history: float = 3600.0  # the model starts this long before real now
    lag: float | None = None  # initial sim lag behind real time; None: = history (no data until advanced)
    interval: float | None = None  # None: the vendor's default report interval
    frozen: bool = False
    username: str = "demo"
    password: str = "demo"  # noqa: S105 - the simulator's documented demo login
    token: str = "demo-token"  # noqa: S105
    tick: float = 1.0  # real seconds between socket ticks
    ping_interval: float = 30.0
    socket_idle_timeout: float = 600.0
    jwt_expiry: float = 600.0  # seconds a Metrotec login's JWT lives
    rate_window: float = 60.0  # seconds of fleet-v2's rate-limit windows (shorter in tests)


# --- the simulator core ----------------------------------------------------------------------------


class SimCore:
    """Clock + model + store + faults + sessions; vendors subclass it and add their routes."""

    kind = "base"
    first_position_id = 1
    default_interval = 10.0
    # Where the bad_positions knob damages a served row, in the vendor's field names: the latitude, and the time
    # fields (the first gets a year 2099, the others copy it).
    lat_field = "latitude"
    time_fields: tuple[str, ...] = ("fixTime", "deviceTime")

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        lag = cfg.history if cfg.lag is None else min(max(cfg.lag, 0.0), cfg.history)
        start = datetime.fromtimestamp(math.floor(time.time() - cfg.history), UTC)
        self.clock = SimClock(lag, cfg.frozen)
        self.faults = Faults()
        self.sessions = Sessions()
        self.stats: Counter[str] = Counter(dict.fromkeys(STAT_KEYS, 0))
        self.fault_stats: Counter[str] = Counter()
        self.sockets: set[SocketConn] = set()
        self.rng = random.Random(cfg.seed)
        self.model = self.make_model(start, cfg.interval or self.default_interval)
        self.store = Store(len(self.model.vehicles))
        self.setup()
        self.sync()
        self.store.drain()  # history is not news for sockets
        self.ready()

    # vendor hooks
    def make_model(self, start: datetime, interval: float) -> Any:
        raise NotImplementedError

    def setup(self) -> None:
        """Build vendor state (groups, geofences, ...) once the model exists."""

    def ready(self) -> None:
        """Build vendor state that needs the history (geofences near the routes, ...)."""

    def on_fix(self, i: int) -> None:
        """Called for every new fix in generation order."""

    def render_position(self, i: int) -> dict[str, Any]:
        raise NotImplementedError

    def device_id(self, device: int) -> int:
        return device + 1

    def routes(self) -> list[BaseRoute]:
        return []

    def broadcast(self, fresh: list[int]) -> None:
        """Push newly visible positions (and whatever else changed) to open sockets, if any."""

    def truth_row(self, i: int) -> dict[str, Any]:
        fix = self.store.fixes[i]
        return {
            "id": self.first_position_id + i,
            "deviceId": self.device_id(fix.device),
            "fixTime": iso_z(self.store.times[i]),
            "latitude": fix.lat,
            "longitude": fix.lon,
            "valid": fix.valid,
            "bad": i in self.store.bad,
        }

    def truth_extra(self) -> dict[str, Any]:
        return {}

    # model time
    def sync(self) -> float:
        """Advance the model lazily to sim now; return sim now."""
        now = self.clock.now()
        until = datetime.fromtimestamp(math.floor(now), UTC)
        if until > self.model.now:
            late = self.faults.knobs.get("out_of_order")
            for fix in self.model.advance(until):
                i = len(self.store.fixes)
                t = fix.time.timestamp()
                delay = late["delay"] if late and frac(i, 7) < late["fraction"] else 0.0
                if delay:
                    self.fault_stats["out_of_order"] += 1
                self.store.add(fix, t + delay, now)
                self.on_fix(i)
        self.store.release(now)
        return now

    def position_index(self, position_id: int) -> int | None:
        i = position_id - self.first_position_id
        return i if 0 <= i < len(self.store.fixes) else None

    # serving (the only place positions leave the simulator)
    def serve(self, indexes: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        dup = self.faults.knobs.get("duplicates", 0.0)
        for i in indexes:
            doc = self.render_served(i)
            out.append(doc)
            if dup and self.rng.random() < dup:
                out.append(doc)
                self.fault_stats["duplicates"] += 1
        if RECORDING.get():
            for i in indexes:
                self.store.served[i] = 1
        return out

    def render_served(self, i: int) -> dict[str, Any]:
        """The position as served: damaged as the bad_positions knob says (latitude 91 or "NaN", year 2099)."""
        doc = self.render_position(i)
        mode = self.bad_mode(i)
        if mode == 1:
            doc[self.lat_field] = 91.0
        elif mode == 2:
            doc[self.lat_field] = "NaN"
        elif mode == 3:
            first, *others = self.time_fields
            doc[first] = "2099" + doc[first][4:]
            for name in others:
                doc[name] = doc[first]
        return doc

    def bad_mode(self, i: int) -> int:
        store = self.store
        if i in store.bad:
            return store.bad[i]
        share = self.faults.knobs.get("bad_positions", 0.0)
        if share and not store.served[i] and frac(i, 11) < share:
            store.bad[i] = 1 + (i % 3)
            self.fault_stats["bad_positions"] += 1
            return store.bad[i]
        return 0

    def dup_count(self) -> int:
        dup = self.faults.knobs.get("duplicates", 0.0)
        if dup and self.rng.random() < dup:
            self.fault_stats["duplicates"] += 1
            return 2
        return 1

    # auth
    def basic_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.cfg.username, self.cfg.password)

    def authorized(self, request: Request) -> bool:
        """Traccar: an Authorization header is used alone; otherwise the session cookie."""
        header = request.headers.get("authorization")
        if header:
            return self.basic_ok(header)
        return self.sessions.valid(request.cookies.get("JSESSIONID"))

    # ticking and the control surface
    def tick(self) -> None:
        self.sync()
        self.broadcast(self.store.drain())

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self._ticker())
        try:
            yield
        finally:
            task.cancel()
            for conn in list(self.sockets):
                conn.close(1001, "server shutdown")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.tick)
            try:
                self.tick()
            except Exception:  # keep ticking: a bug in one push must not stop the clock
                log.exception("simulator tick failed")

    def control_routes(self) -> list[BaseRoute]:
        return [
            Route("/__sim__/truth", self.truth_view),
            Route("/__sim__/clock", self.clock_view, methods=["GET", "POST"]),
            Route("/__sim__/faults", self.faults_view, methods=["GET", "POST"]),
            Route("/__sim__/stats", self.stats_view),
        ]

    def truth(self, all_visible: bool = False) -> dict[str, Any]:
        now = self.sync()
        rows = self.store.all_visible(now) if all_visible else self.store.served_indexes()
        devices = [
            {"id": self.device_id(v.index), "uniqueId": v.unique_id, "name": v.name} for v in self.model.vehicles
        ]
        return {"devices": devices, "positions": [self.truth_row(i) for i in rows], **self.truth_extra()}

    async def truth_view(self, request: Request) -> Response:
        all_visible = request.query_params.get("all", "") in ("1", "true", "yes")
        return Response(dumps(self.truth(all_visible)), media_type="application/json")

    async def clock_view(self, request: Request) -> Response:
        if request.method == "POST":
            body = orjson.loads(await request.body() or b"{}")
            if "freeze" in body:
                self.clock.freeze(bool(body["freeze"]))
            if body.get("advance"):
                self.clock.advance(float(body["advance"]))
            if body.get("to_now"):
                self.clock.to_now()
            self.sync()
        start = getattr(self.model, "start", None)  # the model's first moment: its itinerary follows from it
        return json_response({**self.clock.describe(), "start": start.isoformat() if start else None})

    async def faults_view(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                shots = self.faults.update(orjson.loads(await request.body() or b"{}"))
            except (ValueError, KeyError, TypeError) as exc:
                return PlainTextResponse(f"bad fault knob: {exc}", 400)
            for shot in shots:
                self.one_shot(shot)
        return json_response(self.faults.knobs)

    def one_shot(self, name: str) -> None:
        self.fault_stats[name] += 1
        if name == "expire_sessions":
            self.sessions.live.clear()
        elif name == "drop_socket":
            for conn in list(self.sockets):
                conn.close(1011, "dropped by simulator")

    async def stats_view(self, request: Request) -> Response:
        body = {
            "kind": self.kind,
            **self.stats,
            "positions_generated": len(self.store.fixes),
            "positions_served": sum(self.store.served),
            "sockets_open": len(self.sockets),
            "faults": dict(self.fault_stats),
            "clock": self.clock.describe(),
        }
        return json_response(body)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status, headers, media_type="application/json")


# --- app, runner, CLI ------------------------------------------------------------------------------


def load_simulator(kind: str) -> type[SimCore]:
    if kind not in SIMULATORS:
        raise ValueError(f"unknown simulator {kind!r}; choose from {sorted(SIMULATORS)}")
    module, _, name = SIMULATORS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def build_app(sim: SimCore) -> Starlette:
    return Starlette(
        routes=sim.control_routes() + sim.routes(),
        middleware=[Middleware(FaultMiddleware, sim=sim)],
        lifespan=sim.lifespan,
    )


def make_simulator(kind: str, **opts: Any) -> SimCore:
    known = {f.name for f in fields(SimConfig)}
    unknown = set(opts) - known
    if unknown:
        raise TypeError(f"unknown simulator options: {sorted(unknown)}")
    return load_simulator(kind)(SimConfig(**opts))


class RunningSimulator:
    """A simulator served by uvicorn in a background thread; talk to it over HTTP only."""

    def __init__(self, sim: SimCore, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self.sim = sim
        self.kind = sim.kind
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/api/socket"
        self._server = server
        self._thread = thread
        self._http = httpx.Client(base_url=self.url, timeout=60)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._http.request(method, path, content=orjson.dumps(body) if body is not None else None)
        response.raise_for_status()
        return orjson.loads(response.content)

    def truth(self, all: bool = False) -> dict[str, Any]:  # noqa: A002 - mirrors ?all=1
        return self._call("GET", "/__sim__/truth" + ("?all=1" if all else ""))

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        return self._call("POST", "/__sim__/faults", knobs)

    def clock(self, **body: Any) -> dict[str, Any]:
        return self._call("POST", "/__sim__/clock", body)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/__sim__/stats")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._http.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(
    kind: str,
    *,
    devices: int = 5,
    seed: int = 1,
    history: float = 3600,
    interval: float | None = None,
    frozen: bool = False,
    username: str = "demo",
    password: str = "demo",  # noqa: S107
    port: int = 0,
    **opts: Any,
) -> RunningSimulator:
    """Start a simulator on 127.0.0.1 (port 0: any free port) and wait until it answers."""
    sim = make_simulator(
        kind,
        devices=devices,
        seed=seed,
        history=history,
        interval=interval,
        frozen=frozen,
        username=username,
        password=password,
        **opts,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(build_app(sim), log_level="warning", ws="websockets-sansio", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"sim-{kind}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{kind} simulator did not start")
        time.sleep(0.01)
    return RunningSimulator(sim, server, thread, sock.getsockname()[1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=sorted(SIMULATORS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="default: 8101 datatrak, 8102 safectory, 8103 metrotec, 8104 itrack, 8105 fleetv2",
    )
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--history", type=float, default=3600.0, help="seconds of history before now")
    parser.add_argument("--lag", type=float, default=None, help="initial lag behind real time (default: history)")
    parser.add_argument("--interval", type=float, default=None, help="report interval, seconds")
    parser.add_argument("--frozen", action="store_true", help="start with the clock frozen")
    parser.add_argument("--ping-interval", type=float, default=30.0, help="safectory PING period")
    parser.add_argument("--idle-timeout", type=float, default=600.0, help="datatrak socket idle timeout")
    parser.add_argument("--jwt-expiry", type=float, default=600.0, help="metrotec: seconds a login's JWT lives")
    parser.add_argument("--rate-window", type=float, default=60.0, help="fleetv2: seconds of a rate-limit window")


def serve(options: dict[str, Any]) -> None:
    """Run one simulator in the foreground (CLI entry)."""
    kind = options["kind"]
    sim = make_simulator(
        kind,
        devices=options["devices"],
        seed=options["seed"],
        history=options["history"],
        lag=options["lag"],
        interval=options["interval"],
        frozen=options["frozen"],
        username=options["username"],
        password=options["password"],
        token=options["token"],
        ping_interval=options["ping_interval"],
        socket_idle_timeout=options["idle_timeout"],
        jwt_expiry=options["jwt_expiry"],
        rate_window=options.get("rate_window", 60.0),
    )
    port = options["port"] or DEFAULT_PORTS[kind]
    uvicorn.run(build_app(sim), host=options["host"], port=port, ws="websockets-sansio", log_level="info")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fleet.simulators", description="Run a vendor simulator.")
    add_arguments(parser)
    serve(vars(parser.parse_args(argv)))
