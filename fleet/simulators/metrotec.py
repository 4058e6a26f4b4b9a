"""Metrotec (Estonia), driven by the outdoor motion model: a username/password login that returns a short-lived
JWT, or a static API key, as the Bearer token; the API version in the Accept header; the vendor's formats
(``Xpos``/``Ypos``, ``GMTime`` "YYYY-MM-DD HH:MM:SS" UTC, headings like ``"357°"``) and limit/offset paging
where ``limit=-1`` is everything. Its paths, formats and knobs are in docs/simulators.md (Metrotec).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.badrows import BODIES, BadRows
from fleet.simulators.motion import Fleet
from fleet.simulators.server import SimCore, json_response

VERSIONS = ("1.0.0", "1.1.0")
DEFAULT_LIMIT = 100  # rows of a paged list when the client names no limit
DRIVERS_PAGE = 10  # /drivers pages by offset only
LOCAL_TZ = ZoneInfo("Europe/Tallinn")  # the account's timezone, for the "local" fields
ADDRESS = "FI, Uusimaa, Helsinki"
CATEGORIES = {  # category -> (id, English label, Estonian label)
    "car": (1, "Car", "Sõiduauto"),
    "van": (2, "Van", "Kaubik"),
    "truck": (3, "Truck", "Veok"),
}
DRIVERS = [("Jaan", "Tamm"), ("Mari", "Kask"), ("Agur", "Kukke"), ("Liis", "Saar")]
VERSION_IN_ACCEPT = re.compile(r"(?:^|;)\s*version\s*=\s*([^;,\s]+)", re.IGNORECASE)
VENDOR_TIME = re.compile(r"^\s*(\d{4}-\d\d-\d\d)[ T]?(\d\d:\d\d:\d\d)\s*$")
Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """Rendered as the vendor does: ``{"message": ...}`` with the status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def vendor_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def parse_vendor_time(text: str | None, name: str) -> float:
    """ "YYYY-MM-DD HH:MM:SS" UTC (the excerpt's examples also lost the space: accepted without it)."""
    match = VENDOR_TIME.match(text or "")
    if not match:
        raise ApiError(f"The {name} field must be a date in the format YYYY-MM-DD HH:MM:SS.")
    return datetime.fromisoformat(f"{match[1]} {match[2]}").replace(tzinfo=UTC).timestamp()


def int_query(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(f"The {name} field must be an integer.") from None


def registration(plate: str) -> str:
    """An Estonian-style registration number ("123ABC") from the model's plate ("ABC-123")."""
    letters, _, number = plate.partition("-")
    return f"{int(number):03d}{letters}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def square(place: Any, half_m: float = 150.0) -> dict[str, Any]:
    """A polygon geometry (Leaflet's ``latlngs``) of a square around a place."""
    dlat, dlon = half_m / 111_320, half_m / (111_320 * math.cos(math.radians(place.lat)))
    corners = [(-dlat, -dlon), (dlat, -dlon), (dlat, dlon), (-dlat, dlon)]
    return {"latlngs": [{"lat": place.lat + a, "lng": place.lon + b} for a, b in corners], "type": "polygon"}


def parse_geometry(text: object) -> dict[str, Any]:
    """A geozone's geometry, sent as a JSON string: a circle (``latlng``, ``radius``) or a polygon (``latlngs``,
    three points or more)."""
    if not isinstance(text, str):
        raise ApiError("The geometry field must be a string (JSON).")
    try:
        geometry = orjson.loads(text)
        if geometry["type"] == "circle":
            lat, lng, radius = geometry["latlng"]["lat"], geometry["latlng"]["lng"], geometry["radius"]
            points = [(lat, lng)]
            if not radius > 0:
                raise ValueError("radius")
        elif geometry["type"] == "polygon":
            points = [(p["lat"], p["lng"]) for p in geometry["latlngs"]]
            if len(points) < 3:
                raise ValueError("points")
        else:
            raise ValueError("type")
        if not all(-90 <= lat <= 90 and -180 <= lng <= 180 for lat, lng in points):
            raise ValueError("range")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ApiError(f"The geometry field is not a circle or polygon ({exc}).") from None
    return geometry


class MetrotecSim(SimCore):
    kind = "metrotec"
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
        self.geozones: dict[int, dict[str, Any]] = {}
        self.zone_links: dict[int, dict[str, Any]] = {}  # link id -> {id, geozoneID, object_id, events}
        self.next_zone_id, self.next_link_id = 48207, 1367
        self.tasks: dict[int, dict[str, Any]] = {}
        self.task_audit: list[dict[str, Any]] = []  # the edits sent with "edit": true
        self.next_task_id = 12346

    def ready(self) -> None:
        """Two geozones near the routes: a circle around a depot and a square around a customer."""
        depot, customer = self.model.places[3], self.model.places[11]
        circle = {"latlng": {"lat": depot.lat, "lng": depot.lon}, "radius": 250.0, "type": "circle"}
        self.store_geozone({"name": f"Depot {depot.name}", "geometry": orjson.dumps(circle).decode()})
        self.store_geozone({"name": f"Customer {customer.name}", "geometry": orjson.dumps(square(customer)).decode()})

    def device_id(self, device: int) -> str:
        return self.regs[device]

    def truth_extra(self) -> dict[str, Any]:
        return {
            "drivers": [self.render_driver(k) for k in range(len(self.drivers))],
            "geozones": [g for g in self.geozones.values() if g["deleted_at"] is None],
            "zone_links": list(self.zone_links.values()),
            "tasks": list(self.tasks.values()),
            "task_audit": self.task_audit,
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

    def render_served(self, i: int) -> dict[str, Any]:
        """The bad_positions knob, in the vendor's field names."""
        doc = self.render_position(i)
        mode = self.bad_mode(i)
        if mode == 1:
            doc["Ypos"] = 91.0
        elif mode == 2:
            doc["Ypos"] = "NaN"
        elif mode == 3:
            doc["GMTime"] = "2099" + doc["GMTime"][4:]
        return doc

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

    # --- geozones and their vehicle links ---
    def store_geozone(self, body: dict[str, Any], zone_id: int | None = None) -> dict[str, Any]:
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError("The name field is required.")
        geometry = parse_geometry(body.get("geometry"))
        if zone_id is None:
            zone_id, self.next_zone_id = self.next_zone_id, self.next_zone_id + 1
        zone = {
            "id": zone_id,
            "name": body["name"],
            "geometry": geometry,
            "auto": "0",
            "deleted_at": None,
            "cAlarmState": bool(body.get("cAlarmState", False)),
            "countAlarm": int(body.get("countAlarm", 4)),
            "zObjects": [r for r in body.get("zObjects") or [] if r in self.by_reg],
        }
        self.geozones[zone_id] = zone
        return zone

    async def geozones_view(self, request: Request) -> Response:
        """Every geozone, the deleted ones too (with ``deleted_at``); POST creates one."""
        if request.method == "POST":
            return json_response(self.store_geozone(await json_object(request)))
        return json_response(list(self.geozones.values()))

    async def geozone_view(self, request: Request) -> Response:
        zone_id = request.path_params["id"]
        zone = self.geozones.get(zone_id)
        if zone is None or zone["deleted_at"] is not None:
            raise ApiError("Geozone not found.", 404)
        if request.method == "DELETE":
            zone["deleted_at"] = vendor_time(self.clock.now())
            self.zone_links = {k: v for k, v in self.zone_links.items() if v["geozoneID"] != zone_id}
            return json_response({"message": "Deleted."})
        return json_response(self.store_geozone(await json_object(request), zone_id))

    async def zone_links_view(self, request: Request) -> Response:
        """POST links a vehicle to a geozone for alarms (enter 1, exit 2); DELETE with the same body unlinks."""
        body = await json_object(request)
        reg, zone_id = body.get("object_id"), body.get("zoneId")
        if reg not in self.by_reg:
            raise ApiError("Vehicle not found.", 404)
        if zone_id not in self.geozones or self.geozones[zone_id]["deleted_at"] is not None:
            raise ApiError("Geozone not found.", 404)
        existing = [k for k, v in self.zone_links.items() if (v["object_id"], v["geozoneID"]) == (reg, zone_id)]
        if request.method == "DELETE":
            for k in existing:
                del self.zone_links[k]
            return json_response({"message": "Deleted."})
        events = body.get("events")
        if not isinstance(events, list) or not events or not set(events) <= {1, 2}:
            raise ApiError("The events field must list 1 (enter) and/or 2 (exit).")
        link_id = existing[0] if existing else self.next_link_id
        self.next_link_id += 0 if existing else 1
        self.zone_links[link_id] = {"id": link_id, "geozoneID": zone_id, "object_id": reg, "events": sorted(events)}
        return json_response({"id": link_id, "geozoneID": zone_id, "object_id": reg, "geo_id": 1})

    # --- tasks ---
    def apply_task(self, task: dict[str, Any], body: dict[str, Any]) -> None:
        """Check and copy the fields of a create or update body onto ``task``."""
        for name, kind in TASK_FIELDS.items():
            if name in body and body[name] is not None:
                value = body[name]
                if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise ApiError(f"The {name} field must be a number.")
                if kind is not float and not isinstance(value, kind):
                    raise ApiError(f"The {name} field must be a {kind.__name__}.")
                task[name] = value
        for name in ("start_time", "stop_time"):
            if body.get(name) is not None:
                parse_vendor_time(body[name], name)
                task[name] = body[name]
        if "object_id" in body:
            if body["object_id"] not in self.by_reg:
                raise ApiError("Vehicle not found.", 404)
            task["object_id"] = body["object_id"]
            task["alias"] = self.model.vehicles[self.by_reg[body["object_id"]]].name
        if "status" in body:
            if body["status"] not in (1, 2, 3, 4, 5):
                raise ApiError("The status field must be 1, 2, 3, 4 or 5.")
            task["status"] = body["status"]
        if "order_ref" in body:
            taken = {t["order_ref"] for t in self.tasks.values() if t["id"] != task["id"]}
            if not isinstance(body["order_ref"], str) or not body["order_ref"] or body["order_ref"] in taken:
                raise ApiError("The order ref has already been taken." if body["order_ref"] in taken else "order_ref?")
            task["order_ref"] = body["order_ref"]
        if not (-90 <= task["lat"] <= 90 and -180 <= task["lon"] <= 180):
            raise ApiError("The lat and lon fields must be a latitude and a longitude.")

    async def tasks_view(self, request: Request) -> Response:
        """GET: the active, unfinished tasks (``all=1``: every task), paged; POST creates one."""
        if request.method == "GET":
            rows = list(self.tasks.values())
            if request.query_params.get("all") != "1":
                rows = [t for t in rows if t["active"] and t["status"] not in FINISHED]
            return json_response(self.page(request, rows))
        body = await json_object(request)
        missing = [k for k in ("object_id", "lat", "lon", "start_time", "stop_time", "order_ref") if k not in body]
        if missing:
            raise ApiError(f"The {missing[0]} field is required.")
        now = vendor_time(self.clock.now())
        task = {"id": self.next_task_id, "oid": "metrotec", "status": 1, "active": True, "is_not_own_vehicle": False}
        task |= dict.fromkeys(("start_lat", "start_lon", "start_address", "order_details", "task_address"))
        task |= dict.fromkeys(("task_description", "cancel_reason", "work_started_at", "work_finished_at"))
        task |= dict.fromkeys(("invoice_nr", "user_km", "distance", "geozone_entered_at", "geozone_left_at"))
        task |= dict.fromkeys(("closeType", "planned_km", "task_notes", "group_id"))
        task |= {"created_at": now, "updated_at": now, "sender": "API", "order_ref": None}
        self.apply_task(task, body)
        task["ut"] = int(parse_vendor_time(task["start_time"], "start_time"))
        self.tasks[task["id"]] = task
        self.next_task_id += 1
        return json_response(task)

    async def task_view(self, request: Request) -> Response:
        """PUT: update the fields sent; ``edit: true`` records the change in the audit log."""
        task = self.tasks.get(request.path_params["id"])
        if task is None:
            raise ApiError("Task not found.", 404)
        body = await json_object(request)
        changed = dict(task)
        self.apply_task(changed, body)
        changed["updated_at"] = vendor_time(self.clock.now())
        if body.get("edit"):
            fields = sorted(k for k in changed if changed[k] != task[k] and k != "updated_at")
            self.task_audit.append({"id": task["id"], "fields": fields, "at": changed["updated_at"]})
        task.update(changed)
        return json_response(task)


TASK_FIELDS = {  # field -> the check of a value sent for it (None: sent as it is)
    "start_lat": float,
    "start_lon": float,
    "start_address": str,
    "lat": float,
    "lon": float,
    "order_details": str,
    "task_address": str,
    "task_description": str,
    "planned_km": float,
    "task_notes": str,
    "is_not_own_vehicle": bool,
    "active": bool,
    "group_id": int,
    "sender": str,
}
FINISHED = (3, 4, 5)  # completed, rejected, cancelled


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ApiError("The body must be a JSON object.")
    return body
