"""Metrotec (Estonia), driven by the outdoor motion model: a username/password login that returns a short-lived
JWT, or a static API key, as the Bearer token; the API version in the Accept header; the vendor's formats
(``Xpos``/``Ypos``, ``GMTime`` "YYYY-MM-DD HH:MM:SS" UTC, headings like ``"357°"``) and limit/offset paging
where ``limit=-1`` is everything. Its paths, formats and knobs are in docs/simulators.md (Metrotec).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.badrows import BODIES, BadRows
from fleet.simulators.metrotec.files import Files
from fleet.simulators.metrotec.formats import (
    ApiError,
    b64url,
    int_query,
    json_object,
    local_time,
    parse_vendor_time,
    registration,
    vendor_time,
)
from fleet.simulators.metrotec.objects import Objects, square
from fleet.simulators.metrotec.reports import Reports
from fleet.simulators.motion import Fleet
from fleet.simulators.server import SimCore, json_response

VERSIONS = ("1.0.0", "1.1.0")
DEFAULT_LIMIT = 100  # rows of a paged list when the client names no limit
DRIVERS_PAGE = 10  # /drivers pages by offset only
ADDRESS = "FI, Uusimaa, Helsinki"
CATEGORIES = {  # category -> (id, English label, Estonian label)
    "car": (1, "Car", "Sõiduauto"),
    "van": (2, "Van", "Kaubik"),
    "truck": (3, "Truck", "Veok"),
}
DRIVERS = [("Jaan", "Tamm"), ("Mari", "Kask"), ("Agur", "Kukke"), ("Liis", "Saar")]
VERSION_IN_ACCEPT = re.compile(r"(?:^|;)\s*version\s*=\s*([^;,\s]+)", re.IGNORECASE)
Handler = Callable[[Request], Awaitable[Response]]


class MetrotecSim(Reports, Files, Objects, SimCore):
    kind = "metrotec"
    lat_field, time_fields = "Ypos", ("GMTime",)  # bad_positions damages these (SimCore.render_served)
    first_position_id = 700_000_001
    default_interval = 15.0

    def make_model(self, start: datetime, interval: float) -> Fleet:
        return Fleet(self.cfg.devices, self.cfg.seed, start, interval)

    def setup(self) -> None:
        self.regs = [registration(v.plate) for v in self.model.vehicles]
        self.by_reg = {reg: d for d, reg in enumerate(self.regs)}
        self.tokens: dict[str, float] = {}  # JWT -> expiry (real time)
        self.secret = secrets.token_bytes(32)
        self.bad_rows = BadRows(self.faults.knobs, self.fault_stats, ("devices", "drivers", "positions"))
        self.drivers = [
            {"id": 5249 + k, "name": first.upper(), "fname": last.upper(), "card": f"364101202700{k:04d}"}
            for k, (first, last) in enumerate(DRIVERS)
        ]
        self.device_driver = [d % 5 if d % 5 < len(DRIVERS) else None for d in range(len(self.regs))]
        self.setup_objects()
        self.setup_files()

    def ready(self) -> None:
        """Two geozones near the routes (a circle around a depot, a square around a customer) and two POIs."""
        depot, customer, shop = self.model.places[3], self.model.places[11], self.model.places[17]
        circle = {"latlng": {"lat": depot.lat, "lng": depot.lon}, "radius": 250.0, "type": "circle"}
        self.store_geozone({"name": f"Depot {depot.name}", "geometry": orjson.dumps(circle).decode()})
        self.store_geozone({"name": f"Customer {customer.name}", "geometry": orjson.dumps(square(customer)).decode()})
        for place, purpose, radius in ((customer, 1, 100), (shop, 0, 50)):
            body = {"lat": place.lat, "lon": place.lon, "name": place.name[:50], "purpose": purpose}
            self.store_poi(body | {"comment": place.kind, "radius": radius, "rgAddress": "Helsinki"})

    def device_id(self, device: int) -> str:
        return self.regs[device]

    def truth_extra(self) -> dict[str, Any]:
        return {
            "drivers": [self.render_driver(k) for k in range(len(self.drivers))],
            "geozones": [g for g in self.geozones.values() if g["deleted_at"] is None],
            "zone_links": list(self.zone_links.values()),
            "tasks": list(self.tasks.values()),
            "task_audit": self.task_audit,
            "pois": list(self.pois.values()),
            "files": self.truth_files(),
            "fuel_events": self.truth_fuel_events(),
            "bad": self.bad_rows.report(),
        }

    def one_shot(self, name: str) -> None:
        super().one_shot(name)
        if name == "expire_sessions":
            self.tokens.clear()

    # --- rendering ---
    def render_position(self, i: int) -> dict[str, Any]:
        fix, t = self.store.fixes[i], self.store.times[i]
        heading, speed = round(fix.course) % 360, round(fix.speed_kmh)
        ignition = int(fix.ignition)
        gm = vendor_time(t)
        return {
            "ID": self.first_position_id + i,
            "objectID": self.regs[fix.device],
            "Xpos": fix.lon,
            "Ypos": fix.lat,
            "Counter1": round(fix.odometer_m / 1000, 1),
            "Counter2": 0,
            "GMTime": gm,
            "Speed": speed,
            "Heading": f"{heading}°",
            "Input": ignition,
            "LastCommunicationLocalTime": local_time(t + 1),
            "Content": f"{gm},{fix.lon:.7f},{fix.lat:.7f},{heading},{speed},{fix.satellites},0,{ignition}",
            "Power": round(fix.power_v, 1),
            "BatLevel": round(3.6 + 0.6 * fix.battery_level / 100, 1),
            "NoGPSFix": "0" if fix.valid else "1",
            **self.temperatures(fix.device, i),
        }

    def temperatures(self, device: int, i: int) -> dict[str, float]:
        """t1 of a refrigerated vehicle (every third van), 0 where no sensor is fitted."""
        fridge = self.model.vehicles[device].category == "van" and device % 3 == 0
        return {"t1": round(3.0 + (i % 7) * 0.5, 1) if fridge else 0, "t2": 0, "t3": 0, "t4": 0}

    def history_row(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A route history row, from the served position it repeats (damage and all)."""
        fix = self.store.fixes[doc["ID"] - self.first_position_id]
        temps = {k: doc[k] for k in ("t1", "t2", "t3", "t4")}
        return {
            "GMTime": doc["GMTime"],
            "fuel": round(fix.fuel_l),
            "lat": doc["Ypos"],
            "lon": doc["Xpos"],
            "input": doc["Input"],
            **temps,
            "location": ADDRESS,
            "required": None,
        }

    def render_vehicle(self, device: int, now: float, language: str) -> dict[str, Any]:
        vehicle = self.model.vehicles[device]
        category, english, estonian = CATEGORIES[vehicle.category]
        latest = self.store.latest(device, now)
        odometer = self.store.fixes[latest].odometer_m if latest is not None else 0.0
        return {
            "id": self.regs[device],
            "extraDevices": 0,
            "categoryID": category,
            "naviseade": "0",
            "isDDD": int(vehicle.category == "truck"),
            "account_type": 3,
            "Manufacture": 68,
            "calcByM": 0,
            "T1min": 0,
            "T1max": 540 if self.temperatures(device, 0)["t1"] else 0,
            "T2min": 0,
            "T2max": 0,
            "tank_vol": {"car": 50, "van": 80, "truck": 300}[vehicle.category],
            "barrel_type": None,
            "alias": vehicle.name,
            "isPercent": 0,
            "next_maintenance_km": "",
            "isOwn": 1,
            "odometer_day": vendor_time(self.store.times[latest]) if latest is not None else None,
            "odometer": int(odometer / 1000),
            "mode": None,
            "fuel_card_nr": "",
            "categoryName": estonian if language.startswith("et") else english,
            "btime": 1,
            "gps_refresh_interval": None,
            "is_fuel_as_pressure": 0,
        }

    def render_driver(self, k: int) -> dict[str, Any]:
        driver = self.drivers[k]
        devices = [d for d, drv in enumerate(self.device_driver) if drv == k]
        return {
            "id": driver["id"],
            "name": driver["name"],
            "fname": driver["fname"],
            "refreshRate": 25,
            "driverCardId": driver["card"],
            "object_id": self.regs[devices[0]] if devices else None,
            "state_changed_at": vendor_time(self.model.start.timestamp()),
            "id187": "1",
            "id184": "0",
            "driverName": f"{driver['name']} {driver['fname']}",
        }

    # --- trips (route log) and stops: a trip runs from the first ignition-on fix to the first ignition-off one ---
    def trips(self, device: int, t_from: float, t_to: float, now: float) -> list[tuple[int, int, int, float]]:
        """(first fix, last fix, trip number, end of the stop after it) of the device's trips in the window."""
        rows = self.store.window(device, t_from, t_to, now)
        segments = self.store.segments(rows, True)
        times, out = self.store.times, []
        for k, (_run, first, end) in enumerate(segments):
            stop_end = times[segments[k + 1][1]] if k + 1 < len(segments) else times[rows[-1]]
            out.append((first, end, k, stop_end))
        return out

    def route_log_row(self, device: int, first: int, end: int, stop_end: float, previous: float | None) -> dict:
        times, fixes = self.store.times, self.store.fixes
        driving = times[end] - times[first]
        km = round((fixes[end].odometer_m - fixes[first].odometer_m) / 1000, 2)
        rows = self.store.window(device, times[first], times[end], float("inf"))
        return {
            "ID": self.first_position_id + first,
            "objectID": self.regs[device],
            "startTime": vendor_time(times[first]),
            "previousStopTime": vendor_time(previous) if previous is not None else None,
            "stopTime": vendor_time(times[end]),
            "stopEnd": vendor_time(stop_end),
            "routeLengthKM": km,
            "drivingTimeSeconds": int(driving),
            "pauseTimeSeconds": int(stop_end - times[end]),
            "averageSpeed": round(km / driving * 3600, 2) if driving else 0.0,
            "maxSpeed": round(max(fixes[i].speed_kmh for i in rows)),
            "AddressAtStartingPoint": ADDRESS,
            "AddressAtEndPoint": ADDRESS,
            "status": "0",
        }

    def stop_row(self, device: int, first: int, end: int, stop_end: float) -> dict[str, Any]:
        times, fixes = self.store.times, self.store.fixes
        running = int(times[end] - times[first])
        return {
            "ID": self.first_position_id + end,
            "objectID": self.regs[device],
            "startTime": vendor_time(times[first]),
            "stopTime": vendor_time(times[end]),
            "stopEnd": vendor_time(stop_end),
            "runningTime": f"{running // 3600:02d}:{running // 60 % 60:02d}:{running % 60:02d}",
            "input": int(fixes[end].ignition),
            "status": 0,
            "distance": round((fixes[end].odometer_m - fixes[first].odometer_m) / 1000, 2),
            "fuel": -round(fixes[first].fuel_l - fixes[end].fuel_l),
            "required": None,
        }

    # --- HTTP plumbing ---
    def routes(self) -> list[BaseRoute]:
        api = self.api
        return [
            Route("/api/login", api(self.login_view, public=True), methods=["POST"]),
            Route("/api/vehicles", api(self.vehicles_view)),
            Route("/api/positions", api(self.positions_view)),
            Route("/api/positions/{object_id}", api(self.position_view)),
            Route("/api/history", api(self.history_view)),
            Route("/api/routelog", api(self.route_log_view)),
            Route("/api/stops", api(self.stops_view)),
            Route("/api/drivers", api(self.drivers_view)),
            Route("/api/geozones", api(self.geozones_view), methods=["GET", "POST"]),
            Route("/api/geozones/{id:int}", api(self.geozone_view), methods=["PUT", "DELETE"]),
            Route("/api/vehicles/zones", api(self.zone_links_view), methods=["POST", "DELETE"]),
            Route("/api/tasks", api(self.tasks_view), methods=["GET", "POST"]),
            Route("/api/tasks/{id:int}", api(self.task_view), methods=["PUT"]),
            Route("/api/pois", api(self.pois_view), methods=["GET", "POST"]),
            Route("/api/pois/{id:int}", api(self.poi_view), methods=["PUT"]),
            Route("/api/poireports", api(self.poi_reports_view), methods=["GET", "POST"]),
            Route("/api/poireports/{id:int}", api(self.poi_report_view)),
            Route("/api/fuelevents", api(self.fuel_events_view)),
            Route("/api/worktime", api(self.work_time_view)),
            Route("/api/worktime/{id}", api(self.vehicle_work_time_view)),
            Route("/api/waybills", api(self.waybills_view)),
            Route("/api/files", api(self.files_view), methods=["GET", "POST"]),
            Route("/api/files/{id:int}", api(self.file_view), methods=["PUT"]),
        ]

    def api(self, handler: Handler, public: bool = False) -> Handler:
        """The version check, then the Bearer token (unless ``public``), then the handler; errors as JSON."""

        async def endpoint(request: Request) -> Response:
            try:
                self.check_version(request)
                if not public and not self.authorized(request):
                    self.stats["unauthorized"] += 1
                    return json_response({"message": "Unauthenticated."}, 401)
                return await handler(request)
            except ApiError as exc:
                return json_response({"message": exc.message}, exc.status)

        return endpoint

    def check_version(self, request: Request) -> None:
        """``Accept: application/json; version=X.Y.Z``; without a version only the browsable API (text/html)
        answers, unless the require_version knob is off."""
        accept = request.headers.get("accept", "")
        match = VERSION_IN_ACCEPT.search(accept)
        if match:
            if match[1] not in VERSIONS:
                raise ApiError(f"Unsupported API version {match[1]}: use one of {', '.join(VERSIONS)}.")
            return
        if "text/html" in accept or not self.faults.knobs.get("require_version", True):
            return
        self.stats["version_missing"] += 1
        raise ApiError("Specify the API version in the Accept header: application/json; version=X.Y.Z.")

    def authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        if token == self.cfg.token:  # a static API key from the admin panel
            return True
        expires = self.tokens.get(token)
        return expires is not None and time.time() < expires

    def jwt(self, expires: float) -> str:
        header = b64url(b'{"alg":"HS256","typ":"JWT"}')
        claims = {"sub": self.cfg.username, "iat": int(time.time()), "exp": int(expires), "jti": secrets.token_hex(8)}
        body = f"{header}.{b64url(orjson.dumps(claims))}"
        return f"{body}.{b64url(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())}"

    def page(self, request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """limit/offset paging (limit -1: everything from offset). With reorder_pages, a request for a later
        page sees the list's last row moved to its front, as if it changed while the client was paging."""
        limit, offset = int_query(request, "limit", DEFAULT_LIMIT), int_query(request, "offset", 0)
        if limit < -1 or offset < 0:
            raise ApiError("limit must be -1 or more and offset 0 or more.")
        if offset and self.faults.knobs.get("reorder_pages") and len(rows) > 1:
            rows = [rows[-1], *rows[:-1]]
            self.fault_stats["reorder_pages"] += 1
        return rows[offset:] if limit == -1 else rows[offset : offset + limit]

    def listing(self, resource: str, rows: list[dict[str, Any]]) -> Response:
        """The rows, or the body the missing_ids knob serves instead (``null`` or an object)."""
        kind = self.bad_rows.body(resource)
        return json_response(BODIES[kind] if kind else rows)

    def vehicle(self, request: Request, name: str = "vehicle_id") -> int:
        reg = request.path_params.get("object_id") or request.query_params.get(name)
        if not reg:
            raise ApiError(f"The {name} field is required.")
        if reg not in self.by_reg:
            raise ApiError("Vehicle not found.", 404)
        return self.by_reg[reg]

    def period(self, request: Request) -> tuple[float, float]:
        query = request.query_params
        return parse_vendor_time(query.get("period_start"), "period_start"), parse_vendor_time(
            query.get("period_stop"), "period_stop"
        )

    # --- views ---
    async def login_view(self, request: Request) -> Response:
        body = await json_object(request)
        if not body.get("username") or not body.get("password"):
            raise ApiError("The username and password fields are required.")
        if (body["username"], body["password"]) != (self.cfg.username, self.cfg.password):
            self.stats["login_failures"] += 1
            raise ApiError("Invalid credentials.", 401)
        self.stats["logins"] += 1
        expires = time.time() + float(self.faults.knobs.get("jwt_expiry", self.cfg.jwt_expiry))
        token = self.jwt(expires)
        self.tokens[token] = expires
        return json_response({"jwt": token, "expires": int(expires)})

    async def vehicles_view(self, request: Request) -> Response:
        now = self.sync()
        language = request.headers.get("accept-language", "en").lower()
        rows = [self.render_vehicle(d, now, language) for d in range(len(self.regs))]
        return self.listing("devices", self.page(request, rows))

    async def positions_view(self, request: Request) -> Response:
        """The latest position of every vehicle (those that have one)."""
        now = self.sync()
        latest = [i for i in (self.store.latest(d, now) for d in range(len(self.regs))) if i is not None]
        kind = self.bad_rows.body("positions")
        if kind:
            return json_response(BODIES[kind])
        ordered = sorted(latest, key=lambda i: self.regs[self.store.fixes[i].device])
        return json_response(self.serve(self.page_indexes(request, ordered)))

    def page_indexes(self, request: Request, indexes: list[int]) -> list[int]:
        """``page`` over position indexes, so that only the rows of the page count as served."""
        return [row["i"] for row in self.page(request, [{"i": i} for i in indexes])]

    async def position_view(self, request: Request) -> Response:
        now = self.sync()
        latest = self.store.latest(self.vehicle(request), now)
        if latest is None:
            raise ApiError("No position yet.", 404)
        return json_response(self.serve([latest])[0])

    async def history_view(self, request: Request) -> Response:
        """Route history of one vehicle from ``start_from`` (inclusive) to now, oldest first, paged."""
        now = self.sync()
        device = self.vehicle(request)
        since = parse_vendor_time(request.query_params.get("start_from"), "start_from")
        if kind := self.bad_rows.body("positions"):
            return json_response(BODIES[kind])
        indexes = self.page_indexes(request, self.store.window(device, since, now, now))
        return json_response([self.history_row(doc) for doc in self.serve(indexes)])

    async def route_log_view(self, request: Request) -> Response:
        now = self.sync()
        device = self.vehicle(request)
        rows, previous = [], None
        for first, end, _k, stop_end in self.trips(device, *self.period(request), now):
            rows.append(self.route_log_row(device, first, end, stop_end, previous))
            previous = self.store.times[end]
        return json_response(rows)

    async def stops_view(self, request: Request) -> Response:
        now = self.sync()
        device = self.vehicle(request)
        trips = self.trips(device, *self.period(request), now)
        return json_response([self.stop_row(device, first, end, stop_end) for first, end, _k, stop_end in trips])

    async def drivers_view(self, request: Request) -> Response:
        """Pages of ten by ``offset``; ``offset=-1`` returns every driver."""
        offset = int_query(request, "offset", 0)
        rows = [self.render_driver(k) for k in range(len(self.drivers))]
        return self.listing("drivers", rows if offset == -1 else rows[max(offset, 0) : max(offset, 0) + DRIVERS_PAGE])
