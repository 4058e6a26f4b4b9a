"""Data Trak Tracking = a Traccar 4.2 server, driven by the outdoor motion model. Its paths and formats are in
docs/simulators.md (Data Trak). Trips and stops follow ignition: a trip runs from the first ignition-on fix
to the first ignition-off fix after it, a stop the other way round.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from array import array
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.motion import Fleet
from fleet.simulators.server import SocketConn, json_response
from fleet.simulators.state import iso_z
from fleet.simulators.traccar import KMH_PER_KNOT, MOVING_KMH, ApiError, TraccarSim, int_param, json_body

M_PER_DEG = 111_320.0
GROUPS = [(1, "All vehicles", 0), (2, "North depot", 1), (3, "South depot", 1), (4, "Heavy trucks", 2)]
DRIVERS = ["Aino Virtanen", "Mikko Korhonen", "Liisa Nieminen", "Janne Mäkinen"]
# Command types by the device's protocol (Traccar answers /api/commands/types?deviceId= from the protocol's
# support); device d speaks PROTOCOLS[d % 3]. osmand (a phone app) takes no commands.
PROTOCOLS = ["teltonika", "gt06", "osmand"]
COMMAND_TYPES = {
    "teltonika": [
        "custom",
        "positionSingle",
        "engineStop",
        "engineResume",
        "alarmArm",
        "alarmDisarm",
        "rebootDevice",
        "outputControl",
        "setOdometer",
    ],
    "gt06": ["custom", "engineStop", "engineResume", "positionPeriodic", "message"],
    "osmand": [],
}
ALL_COMMAND_TYPES = sorted({t for types in COMMAND_TYPES.values() for t in types} | {"positionStop"})
# The attributes a protocol's encoder reads for a type: a number the server reads as an int (a text that is no
# number fails as Traccar's NumberFormatException does), or a text it writes into the command (missing: refused).
COMMAND_ATTRIBUTES = {
    "custom": {"data": str},
    "positionPeriodic": {"frequency": int},
    "outputControl": {"index": int, "data": str},
    "setOdometer": {"data": str},
    "message": {"message": str},
}
_WKT = re.compile(r"^\s*(CIRCLE|POLYGON|LINESTRING)\s*\(+([^()]*)\)+\s*$", re.IGNORECASE)


def check_attributes(command_type: str, attributes: dict[str, Any]) -> None:
    """Refuse (400) a command whose encoder would fail on its attributes: a text missing or blank, a number
    that is no whole number of Java's int range."""
    for key, kind in COMMAND_ATTRIBUTES.get(command_type, {}).items():
        value = attributes.get(key)
        if kind is str and not str(value or "").strip():
            raise ApiError(f"IllegalArgumentException: a {command_type} command needs its {key} attribute")
        if kind is int:
            text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else str(value)
            if not re.fullmatch(r"-?[0-9]{1,10}", text) or not -(2**31) <= int(text) < 2**31:
                raise ApiError(f'NumberFormatException: For input string: "{text}"')


# --- lat-first WKT, as Traccar stores geofence areas ------------------------------------------------


def parse_area(area: str) -> tuple[str, list[tuple[float, float]], float]:
    """Return (kind, [(lat, lon)...], radius) or raise ApiError like Traccar's WKT reader."""
    match = _WKT.match(area or "")
    if not match:
        raise ApiError("ParseException: Unknown geometry type")
    kind, body = match.group(1).upper(), match.group(2)
    radius = 0.0
    if kind == "CIRCLE":
        body, _, radius_text = body.rpartition(",")
        radius = float(radius_text)
    try:
        points = [(float(a), float(b)) for a, b in (p.split() for p in body.split(","))]
    except ValueError as exc:
        raise ApiError(f"ParseException: {exc}") from exc
    if any(abs(lat) > 90 or abs(lon) > 180 for lat, lon in points):
        raise ApiError("ParseException: coordinates out of range (WKT is latitude first)")
    return kind, points, radius


def _metres(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    return (lon - lon0) * M_PER_DEG * math.cos(math.radians(lat0)), (lat - lat0) * M_PER_DEG


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    (bx, by), (px, py) = _metres(*b, *a), _metres(*p, *a)
    length2 = bx * bx + by * by
    k = max(0.0, min(1.0, (px * bx + py * by) / length2)) if length2 else 0.0
    return math.hypot(px - k * bx, py - k * by)


def area_contains(geofence: dict[str, Any], lat: float, lon: float) -> bool:
    kind, points, radius = parse_area(geofence["area"])
    if kind == "CIRCLE":
        return math.hypot(*_metres(lat, lon, *points[0])) <= radius
    if kind == "LINESTRING":
        width = float(geofence["attributes"].get("polylineDistance", 25))
        return any(_segment_distance((lat, lon), a, b) <= width for a, b in zip(points, points[1:], strict=False))
    inside = False
    for (y1, x1), (y2, x2) in zip(points, points[1:] + points[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def circle(lat: float, lon: float, radius: float) -> str:
    return f"CIRCLE ({lat:.6f} {lon:.6f}, {radius:.1f})"


def polygon(lat: float, lon: float, half_m: float) -> str:
    dlat, dlon = half_m / M_PER_DEG, half_m / (M_PER_DEG * math.cos(math.radians(lat)))
    corners = [(lat - dlat, lon - dlon), (lat + dlat, lon - dlon), (lat + dlat, lon + dlon), (lat - dlat, lon + dlon)]
    return "POLYGON ((" + ", ".join(f"{a:.6f} {b:.6f}" for a, b in [*corners, corners[0]]) + "))"


# --- the simulator --------------------------------------------------------------------------------


class DatatrakSim(TraccarSim):
    kind = "datatrak"
    first_position_id = 1_000_001
    default_interval = 10.0
    resources = ("devices", "groups", "drivers", "geofences", "positions", "events")

    def make_model(self, start: datetime, interval: float) -> Fleet:
        return Fleet(self.cfg.devices, self.cfg.seed, start, interval)

    def setup(self) -> None:
        super().setup()
        rng = random.Random(f"datatrak-{self.cfg.seed}")
        self.hours = array("d")  # engine hours (ms) per position index
        self.last_fix: dict[int, int] = {}
        self.drivers = [
            {"id": k + 1, "attributes": {}, "name": name, "uniqueId": f"{rng.getrandbits(40):010X}"}
            for k, name in enumerate(DRIVERS)
        ]
        self.device_group = [self._group_for(v.index, v.category) for v in self.model.vehicles]
        self.device_driver = [d % 5 if d % 5 < len(DRIVERS) else None for d in range(len(self.model.vehicles))]
        self.geofences: dict[int, dict[str, Any]] = {}
        self.permissions: set[tuple[tuple[str, int], ...]] = set()
        self.next_geofence_id = 1
        self.saved_commands: dict[int, dict[str, Any]] = {}  # /api/commands
        self.commands_received: list[dict[str, Any]] = []  # what /api/commands/send was asked, in order

    @staticmethod
    def _group_for(index: int, category: str) -> int:
        if index % 9 == 8:
            return 0
        return 4 if category == "truck" else 2 + index % 2

    def ready(self) -> None:
        super().ready()
        places = self.model.places
        rng = random.Random(f"datatrak-geofences-{self.cfg.seed}")
        depot, customer, area, *_ = rng.sample(places, 4)
        road = [places[k] for k in rng.sample(range(len(places)), 3)]
        line = "LINESTRING (" + ", ".join(f"{p.lat:.6f} {p.lon:.6f}" for p in road) + ")"
        for name, wkt, attrs in [
            (f"Depot {depot.name}", circle(depot.lat, depot.lon, 250), {}),
            (f"Customer {customer.name}", circle(customer.lat, customer.lon, 120), {}),
            (f"Zone {area.name}", polygon(area.lat, area.lon, 300), {}),
            ("Corridor", line, {"polylineDistance": 30}),
        ]:
            self.store_geofence({"name": name, "description": None, "area": wkt, "attributes": attrs})

    def on_fix(self, i: int) -> None:
        super().on_fix(i)
        fix = self.store.fixes[i]
        prev = self.last_fix.get(fix.device)
        hours = 0.0
        if prev is not None:
            before = self.store.fixes[prev]
            hours = self.hours[prev] + (self.store.times[i] - self.store.times[prev]) * 1000 * before.ignition
        self.hours.append(hours)
        self.last_fix[fix.device] = i

    # --- rendering ---
    def render_position(self, i: int) -> dict[str, Any]:
        fix, t = self.store.fixes[i], self.store.times[i]
        vehicle = self.model.vehicles[fix.device]
        return {
            "id": self.first_position_id + i,
            "attributes": self.attributes(i, fix, vehicle.category),
            "deviceId": self.device_id(fix.device),
            "type": None,
            "protocol": "osmand" if vehicle.category == "car" else "teltonika",
            "serverTime": self.fmt(self.server_ts(i)),
            "deviceTime": self.fmt(t),
            "fixTime": self.fmt(t),
            "outdated": False,
            "valid": fix.valid,
            "latitude": fix.lat,
            "longitude": fix.lon,
            "altitude": fix.altitude,
            "speed": fix.speed_kmh / KMH_PER_KNOT,
            "course": fix.course,
            "address": None,
            "accuracy": fix.accuracy,
            "network": None,
        }

    def attributes(self, i: int, fix: Any, category: str) -> dict[str, Any]:
        prev = self.store.previous(i)
        distance = round(fix.odometer_m - self.store.fixes[prev].odometer_m, 2) if prev is not None else 0.0
        moving = fix.speed_kmh > MOVING_KMH
        if category == "car":  # a phone running the OsmAnd/Traccar Client protocol
            return {
                "batteryLevel": fix.battery_level,
                "ignition": fix.ignition,
                "distance": distance,
                "totalDistance": fix.odometer_m,
                "motion": moving,
            }
        attrs = {
            "priority": 0,
            "sat": fix.satellites,
            "event": 0,
            "ignition": fix.ignition,
            "motion": moving,
            "hdop": round(fix.accuracy / 2.5, 1),
            "rssi": 4,
            "power": fix.power_v,
            "battery": 4.1,
            "batteryLevel": fix.battery_level,
            "fuel": fix.fuel_l,
            "odometer": int(fix.odometer_m),
            "distance": distance,
            "totalDistance": fix.odometer_m,
            "hours": int(self.hours[i]),
        }
        driver = self.device_driver[fix.device]
        if driver is not None and fix.ignition:
            attrs["driverUniqueId"] = self.drivers[driver]["uniqueId"]
        return attrs

    def render_device(self, device: int, now: float) -> dict[str, Any]:
        vehicle = self.model.vehicles[device]
        latest = self.store.latest(device, now)
        fix = self.store.fixes[latest] if latest is not None else None
        inside = [g for g in self.geofences.values() if fix is not None and area_contains(g, fix.lat, fix.lon)]
        return {
            "id": self.device_id(device),
            "attributes": {"plate": vehicle.plate},
            "groupId": self.device_group[device],
            "name": vehicle.name,
            "uniqueId": vehicle.unique_id,
            "status": self.status(device, now),
            "lastUpdate": self.fmt(self.server_ts(latest)) if latest is not None else None,
            "positionId": self.first_position_id + latest if latest is not None else 0,
            "geofenceIds": [g["id"] for g in inside] or None,
            "phone": vehicle.phone,
            "model": vehicle.model,
            "contact": None,
            "category": vehicle.category,
            "disabled": False,
        }

    def truth_extra(self) -> dict[str, Any]:
        links = [dict(link) for link in sorted(self.permissions)]
        commands = [dict(c) for c in self.commands_received]
        return {"geofences": list(self.geofences.values()), "permissions": links, "commands": commands}

    def group_devices(self, group_id: int) -> list[int]:
        groups = {group_id}
        for gid, _name, parent in GROUPS:  # parents come first, so one pass finds every descendant
            if parent in groups:
                groups.add(gid)
        return [d for d, g in enumerate(self.device_group) if g in groups]

    # --- routes ---
    def vendor_routes(self) -> list[BaseRoute]:
        p = self.protected
        return [
            Route("/api/server", self.server_view),
            Route("/api/devices", p(self.devices_view)),
            Route("/api/groups", p(self.groups_view)),
            Route("/api/drivers", p(self.drivers_view)),
            Route("/api/geofences", p(self.geofences_view), methods=["GET", "POST"]),
            Route("/api/geofences/{id:int}", p(self.geofence_view), methods=["PUT", "DELETE"]),
            Route("/api/permissions", p(self.permissions_view), methods=["POST", "DELETE"]),
            Route("/api/commands", p(self.commands_view), methods=["GET", "POST"]),
            Route("/api/commands/send", p(self.command_send_view), methods=["GET", "POST"]),
            Route("/api/commands/types", p(self.command_types_view)),
            Route("/api/reports/trips", p(self.trips_view)),
            Route("/api/reports/stops", p(self.stops_view)),
            Route("/api/reports/summary", p(self.summary_view)),
        ]

    async def server_view(self, request: Request) -> Response:
        place = self.model.places[0]
        return self.json(
            {
                "id": 1,
                "attributes": {},
                "registration": False,
                "readonly": False,
                "deviceReadonly": False,
                "map": None,
                "bingKey": None,
                "mapUrl": None,
                "poiLayer": None,
                "latitude": place.lat,
                "longitude": place.lon,
                "zoom": 13,
                "twelveHourFormat": False,
                "version": "4.2",
                "forceSettings": False,
                "coordinateFormat": None,
                "limitCommands": False,
            }
        )

    async def devices_view(self, request: Request) -> Response:
        now = self.sync()
        devices = list(range(len(self.model.vehicles)))
        ids, unique = request.query_params.getlist("id"), set(request.query_params.getlist("uniqueId"))
        if ids:
            devices = [d for d in devices if self.device_id(d) in {int_param(x, "id") for x in ids}]
        if unique:
            devices = [d for d in devices if self.model.vehicles[d].unique_id in unique]
        rows = [self.render_device(d, now) for d in devices]
        return self.json(rows) if ids or unique else self.listing("devices", rows)

    async def groups_view(self, request: Request) -> Response:
        return self.listing("groups", [{"id": g, "attributes": {}, "name": n, "groupId": p} for g, n, p in GROUPS])

    async def drivers_view(self, request: Request) -> Response:
        return self.listing("drivers", self.drivers)

    # --- geofences and permissions ---
    def store_geofence(self, body: dict[str, Any], gid: int | None = None) -> dict[str, Any]:
        parse_area(body.get("area", ""))
        if gid is None:
            gid, self.next_geofence_id = self.next_geofence_id, self.next_geofence_id + 1
        geofence = {
            "id": gid,
            "attributes": body.get("attributes") or {},
            "name": body.get("name"),
            "description": body.get("description"),
            "area": body["area"],
            "calendarId": body.get("calendarId") or 0,
        }
        self.geofences[gid] = geofence
        return geofence

    async def geofences_view(self, request: Request) -> Response:
        if request.method == "POST":
            return self.json(self.store_geofence(await json_body(request)))
        rows = list(self.geofences.values())
        if device := request.query_params.get("deviceId"):
            linked = {dict(link).get("geofenceId") for link in self.permissions if ("deviceId", int(device)) in link}
            return self.json([g for g in rows if g["id"] in linked])
        return self.listing("geofences", rows)

    async def geofence_view(self, request: Request) -> Response:
        gid = request.path_params["id"]
        if gid not in self.geofences:
            raise ApiError("IllegalArgumentException: geofence not found")
        if request.method == "DELETE":
            del self.geofences[gid]
            self.permissions = {link for link in self.permissions if ("geofenceId", gid) not in link}
            return Response(status_code=204)
        return self.json(self.store_geofence(await json_body(request), gid))

    async def permissions_view(self, request: Request) -> Response:
        body = await json_body(request)
        if len(body) != 2 or not all(isinstance(v, int) for v in body.values()):
            raise ApiError("IllegalArgumentException: a permission links exactly two ids")
        if "deviceId" in body:
            self.device_index(body["deviceId"])
        if "geofenceId" in body and body["geofenceId"] not in self.geofences:
            raise ApiError("SecurityException: Geofence access denied")
        link = tuple(sorted(body.items()))
        if request.method == "POST":
            self.permissions.add(link)
        else:
            self.permissions.discard(link)
        return Response(status_code=204)

    # --- trips, stops, summary ---
    # --- commands ---
    def command_types(self, device: int | None) -> list[str]:
        return COMMAND_TYPES[PROTOCOLS[device % len(PROTOCOLS)]] if device is not None else []

    async def command_types_view(self, request: Request) -> Response:
        """The types the device's protocol takes, or every type the server knows without ``deviceId``."""
        value = request.query_params.get("deviceId")
        types = ALL_COMMAND_TYPES if not value else self.command_types(self.device_index(value))
        return self.json([{"type": t} for t in types])

    async def commands_view(self, request: Request) -> Response:
        """Saved commands: listed (of one device with ``deviceId``) and created."""
        if request.method == "GET":
            rows = list(self.saved_commands.values())
            if value := request.query_params.get("deviceId"):
                rows = [c for c in rows if c["deviceId"] in (0, int_param(value, "deviceId"))]
            return self.json(rows)
        body = await json_body(request)
        if not isinstance(body.get("type"), str) or body["type"] not in ALL_COMMAND_TYPES:
            raise ApiError(f"IllegalArgumentException: unknown command type {body.get('type')!r}")
        cid = len(self.saved_commands) + 1
        self.saved_commands[cid] = self.command_json(body, cid)
        return self.json(self.saved_commands[cid])

    @staticmethod
    def command_json(body: dict[str, Any], cid: int = 0) -> dict[str, Any]:
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ApiError("MismatchedInputException: attributes must be an object")
        device_id = body.get("deviceId") or 0
        if not isinstance(device_id, int):
            raise ApiError("MismatchedInputException: deviceId must be a number")
        return {
            "id": cid,
            "attributes": attributes,
            "deviceId": device_id,
            "description": body.get("description"),
            "type": body.get("type"),
            "textChannel": bool(body.get("textChannel")),
        }

    async def command_send_view(self, request: Request) -> Response:
        """GET: the saved commands the device's protocol takes. POST: send one (a saved one with ``id``) to the
        device: 200 with the command when the device is online, 202 when it is queued until it connects; 400
        for a device the user may not see, a type its protocol does not take, a custom command without data."""
        if request.method == "GET":
            types = self.command_types(self.device_index(request.query_params.get("deviceId")))
            return self.json([c for c in self.saved_commands.values() if c["type"] in types])
        body = await json_body(request)
        if body.get("id"):
            saved = self.saved_commands.get(body["id"]) if isinstance(body["id"], int) else None
            if saved is None:
                raise ApiError("SecurityException: Command access denied")
            body = {**saved, "deviceId": body.get("deviceId") or saved["deviceId"]}
        command = self.command_json(body)
        device = self.device_index(command["deviceId"])
        protocol = PROTOCOLS[device % len(PROTOCOLS)] if device is not None else "unknown"
        if command["type"] not in self.command_types(device):
            raise ApiError(f"RuntimeException: Command {command['type']} is not supported in protocol {protocol}")
        check_attributes(command["type"], command["attributes"])
        now = self.sync()
        online = device is not None and self.status(device, now) == "online"
        self.commands_received.append(
            {
                "deviceId": command["deviceId"],
                "type": command["type"],
                "attributes": command["attributes"],
                "status": "sent" if online else "queued",
                "time": iso_z(now),
            }
        )
        return json_response(command, status=200 if online else 202)

    async def report_rows(self, request: Request) -> tuple[list[tuple[int, list[int]]], float]:
        now = self.sync()
        devices, t_from, t_to = self.report_window(await self.report_params(request))
        return [(d, self.store.window(d, t_from, t_to, now)) for d in devices], now

    def base_report(self, d: int, first: int, last: int) -> dict[str, Any]:
        a, b = self.store.fixes[first], self.store.fixes[last]
        return {
            "deviceId": self.device_id(d),
            "deviceName": self.model.vehicles[d].name,
            "distance": round(b.odometer_m - a.odometer_m, 2),
            "averageSpeed": 0.0,
            "maxSpeed": 0.0,
            "spentFuel": round(a.fuel_l - b.fuel_l, 2),
            "startOdometer": a.odometer_m,
            "endOdometer": b.odometer_m,
        }

    def trip(self, d: int, rows: list[int], first: int, last: int) -> dict[str, Any]:
        a, b, store = self.store.fixes[first], self.store.fixes[last], self.store
        duration = store.times[last] - store.times[first]
        report = self.base_report(d, first, last)
        speed_kmh = report["distance"] / duration * 3.6 if duration else 0.0
        driver = self.device_driver[d]
        report.update(
            averageSpeed=speed_kmh / KMH_PER_KNOT,
            maxSpeed=max(store.fixes[i].speed_kmh for i in rows) / KMH_PER_KNOT,
            duration=int(duration * 1000),
            startTime=self.fmt(store.times[first]),
            endTime=self.fmt(store.times[last]),
            startPositionId=self.first_position_id + first,
            endPositionId=self.first_position_id + last,
            startLat=a.lat,
            startLon=a.lon,
            endLat=b.lat,
            endLon=b.lon,
            startAddress=None,
            endAddress=None,
            driverUniqueId=self.drivers[driver]["uniqueId"] if driver is not None else None,
            driverName=self.drivers[driver]["name"] if driver is not None else None,
        )
        return report

    def stop(self, d: int, first: int, last: int) -> dict[str, Any]:
        a, times = self.store.fixes[first], self.store.times
        report = self.base_report(d, first, last)
        report.update(
            positionId=self.first_position_id + first,
            latitude=a.lat,
            longitude=a.lon,
            startTime=self.fmt(times[first]),
            endTime=self.fmt(times[last]),
            address=None,
            duration=int((times[last] - times[first]) * 1000),
            engineHours=int(self.hours[last] - self.hours[first]),
        )
        return report

    async def trips_view(self, request: Request) -> Response:
        per_device, _ = await self.report_rows(request)
        trips = [self.trip(d, run, a, b) for d, rows in per_device for run, a, b in self.store.segments(rows, True)]
        return self.json(trips)

    async def stops_view(self, request: Request) -> Response:
        per_device, _ = await self.report_rows(request)
        stops = [self.stop(d, a, b) for d, rows in per_device for _run, a, b in self.store.segments(rows, False)]
        return self.json(stops)

    async def summary_view(self, request: Request) -> Response:
        per_device, _ = await self.report_rows(request)
        out = []
        for d, rows in per_device:
            if not rows:
                out.append(
                    {
                        "deviceId": self.device_id(d),
                        "deviceName": self.model.vehicles[d].name,
                        "distance": 0.0,
                        "averageSpeed": 0.0,
                        "maxSpeed": 0.0,
                        "spentFuel": 0.0,
                        "startOdometer": 0.0,
                        "endOdometer": 0.0,
                        "engineHours": 0,
                    }
                )
                continue
            speeds = [self.store.fixes[i].speed_kmh / KMH_PER_KNOT for i in rows]
            report = self.base_report(d, rows[0], rows[-1])
            report.update(
                averageSpeed=sum(speeds) / len(speeds),
                maxSpeed=max(speeds),
                engineHours=int(self.hours[rows[-1]] - self.hours[rows[0]]),
            )
            out.append(report)
        return self.json(out)

    # --- socket: 4.2 sends no keepalives; Jetty closes an idle socket ---
    def socket_watchers(self, conn: SocketConn) -> list[Coroutine[Any, Any, None]]:
        return [self.idle_watch(conn)]

    async def idle_watch(self, conn: SocketConn) -> None:
        while not conn.closed:
            timeout = self.faults.knobs.get("socket_idle_timeout", self.cfg.socket_idle_timeout)
            idle = time.monotonic() - conn.last_traffic
            if idle >= timeout:
                self.stats["sockets_idle_closed"] += 1
                conn.close(1001, "Idle Timeout")
                return
            await asyncio.sleep(min(timeout - idle, 0.5))
