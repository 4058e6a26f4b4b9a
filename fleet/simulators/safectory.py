"""Safectory Track: a Traccar-derived indoor (BLE beacon) tracking server, driven by the indoor model.
Its paths, date format, rows per scan and socket pings are in docs/simulators.md (Safectory Track).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.indoor import IndoorFleet
from fleet.simulators.server import SocketConn
from fleet.simulators.state import frac
from fleet.simulators.traccar import KMH_PER_KNOT, MOVING_KMH, TraccarSim, json_body

DEVICE_BASE = 44_969_282
BEACON_BASE = 3_900
ROLE_GROUP_ID = 794_314_697
TAG_UUID = "d87b32bdcc0e437a81b3383833bc5ff8"
APP_ID = "com.safectory.blegateway.push.12345_bz12345"
FLAP_S = 60.0  # an A-B-A flip faster than this is flapping
WEB_SESSION_TIMEOUT = 86_400


def flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


class SafectorySim(TraccarSim):
    kind = "safectory"
    first_position_id = 67_532_839
    default_interval = 5.0
    time_colon = True
    cookie_path = "/api"
    resources = ("devices", "beacons", "positions", "events")

    def make_model(self, start: datetime, interval: float) -> IndoorFleet:
        return IndoorFleet(self.cfg.devices, self.cfg.seed, start, interval)

    def device_id(self, device: int) -> int:
        return DEVICE_BASE + device * 7

    def setup(self) -> None:
        super().setup()
        self.beacons = {BEACON_BASE + b.id: self.beacon_json(b) for b in self.model.beacons}
        self.first_data: dict[int, float] = {}

    @staticmethod
    def beacon_json(b: Any) -> dict[str, Any]:
        return {
            "id": BEACON_BASE + b.id,
            "name": b.name,
            "attributes": {"floor": str(b.floor)},
            "deviceId": None,
            "uuid": str(b.uuid).replace("-", "").lower(),
            "major": b.major,
            "roleGroupId": ROLE_GROUP_ID,
            "minor": b.minor,
            "latitude": b.lat,
            "longitude": b.lon,
            "lastSeen": None,
            "batteryLevel": b.battery_level,
            "relative": False,
        }

    def on_fix(self, i: int) -> None:
        super().on_fix(i)
        fix = self.store.fixes[i]
        self.first_data.setdefault(fix.device, self.store.times[i])
        self.beacons[BEACON_BASE + fix.beacon_id]["lastSeen"] = self.fmt(self.server_ts(i))

    def server_ts(self, i: int) -> float:
        """One serverTime per scan: rows of one device and fixTime share it."""
        t = self.store.times[i]
        device = self.store.fixes[i].device
        return self.store.visible_at.get(i, t) + 0.2 + (int(t) * 31 + device * 17) % 700 / 1000

    # --- rendering ---
    def render_position(self, i: int) -> dict[str, Any]:
        fix, t = self.store.fixes[i], self.store.times[i]
        beacon = self.beacons[BEACON_BASE + fix.beacon_id]
        scan_rssi = float(fix.rssi - 4)
        return {
            "id": self.first_position_id + i,
            "name": None,
            "attributes": {
                "floor": str(fix.floor),
                "batteryLevel": fix.battery_level,
                "scanRssi": scan_rssi,
                "appid": APP_ID,
                "distance": 0.0,
                "totalDistance": fix.odometer_m,
                "motion": fix.speed_kmh > MOVING_KMH,
            },
            "protocol": "osmand",
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
            "networkId": 0,
            "eventId": None,
            "deviceId": self.device_id(fix.device),
            "scanRssi": scan_rssi,
            "rssi": None if frac(i, 13) < 0.08 else fix.rssi,
            "beaconId": beacon["id"],
            "beaconName": beacon["name"],
            "beaconMajor": beacon["major"],
            "beaconMinor": beacon["minor"],
            "beaconUuid": beacon["uuid"],
            "sourceDeviceId": None,
            "deviceName": self.model.vehicles[fix.device].name,
        }

    def render_device(self, device: int, now: float) -> dict[str, Any]:
        vehicle = self.model.vehicles[device]
        latest = self.store.latest(device, now)
        fix = self.store.fixes[latest] if latest is not None else None
        first = self.first_data.get(device)
        return {
            "id": self.device_id(device),
            "name": vehicle.name,
            "attributes": {"uuid": TAG_UUID, "major": "4242", "minor": str(device + 1)},
            "uniqueId": vehicle.unique_id,
            "status": self.status(device, now),
            "lastUpdate": self.fmt(self.server_ts(latest)) if latest is not None else None,
            "geofences": [],
            "activeGeofences": [],
            "notifications": [],
            "positionId": self.first_position_id + latest if latest is not None else None,
            "phone": vehicle.phone or "",
            "model": vehicle.model or "",
            "contact": "",
            "category": vehicle.category,
            "disabled": False,
            "allgeofencesenabled": False,
            "lastSuccessfulAsnJob": None,
            "lastOneTimeJob": None,
            "lastIncompleteAsnJob": None,
            "firstDataTime": self.fmt(first) if first is not None and latest is not None else None,
            "lastAttempt": None,
            "lastAsnFail": None,
            "lastAsnCookie": None,
            "asnConfigs": [],
            "firmwareVersion": "4.6.1712.0-38546f5-sBISD-hMZ-gGUCH-lFEW-wEB-bOD-oES",
            "batteryLevel": fix.battery_level if fix is not None else None,
            "leafGroupName": f"{vehicle.category}s",
        }

    def render_event(self, e: int) -> dict[str, Any]:
        event = super().render_event(e)
        _kind, i = self.events[e]
        beacon = self.beacons[BEACON_BASE + self.store.fixes[i].beacon_id]
        event.update(
            trackableId=None,
            message=None,
            userId=None,
            beaconId=beacon["id"],
            beaconName=beacon["name"],
            beaconMajor=beacon["major"],
            beaconMinor=beacon["minor"],
            beaconUuid=beacon["uuid"],
        )
        return event

    def truth_row(self, i: int) -> dict[str, Any]:
        row = super().truth_row(i)
        row["beaconId"] = BEACON_BASE + self.store.fixes[i].beacon_id
        return row

    def truth_extra(self) -> dict[str, Any]:
        keys = ("id", "name", "uuid", "major", "minor", "latitude", "longitude", "batteryLevel")
        beacons = [
            {**{k: b[k] for k in keys}, "floor": int(b["attributes"].get("floor", 0))} for b in self.beacons.values()
        ]
        return {"beacons": beacons}

    # --- routes ---
    def vendor_routes(self) -> list[BaseRoute]:
        p = self.protected
        return [
            Route("/api/devices", p(self.devices_view)),
            Route("/api/beacons", p(self.beacons_view)),
            Route("/api/beacons/{id:int}", p(self.beacon_view), methods=["GET", "PUT"]),
            Route("/api/reports/summary", p(self.summary_view), methods=["GET", "POST"]),
        ]

    async def devices_view(self, request: Request) -> Response:
        now = self.sync()
        return self.listing("devices", [self.render_device(d, now) for d in range(len(self.model.vehicles))])

    async def beacons_view(self, request: Request) -> Response:
        self.sync()
        return self.listing("beacons", list(self.beacons.values()))

    async def beacon_view(self, request: Request) -> Response:
        beacon = self.beacons.get(request.path_params["id"])
        if beacon is None:
            return PlainTextResponse("HTTP 404 Not Found", 404)
        if request.method == "PUT":
            body = await json_body(request)
            for key in ("name", "attributes", "deviceId", "latitude", "longitude", "batteryLevel", "relative"):
                if key in body:
                    beacon[key] = body[key]
        return self.json(beacon)

    async def route_view(self, request: Request) -> Response:
        now = self.sync()
        params = await self.report_params(request)
        devices, t_from, t_to = self.report_window(params)
        if body := self.other_body("positions"):
            return body
        rows = []
        for d in devices:
            rows += self.filtered(self.store.window(d, t_from, t_to, now), params)
        return self.json(self.serve(rows))

    def filtered(self, rows: list[int], params: dict[str, Any]) -> list[int]:
        fixes, times = self.store.fixes, self.store.times
        if flag(params.get("filterFlapping")):
            kept: list[int] = []
            for i in rows:
                kept.append(i)
                while len(kept) >= 3 and times[kept[-1]] - times[kept[-3]] <= FLAP_S:
                    a, b, c = (fixes[k].beacon_id for k in kept[-3:])
                    if not (a == c != b):
                        break
                    del kept[-2]
            rows = kept
        if flag(params.get("filterSameLocation")):
            rows = [i for k, i in enumerate(rows) if k == 0 or fixes[i].beacon_id != fixes[rows[k - 1]].beacon_id]
        return rows

    async def summary_view(self, request: Request) -> Response:
        now = self.sync()
        devices, t_from, t_to = self.report_window(await self.report_params(request))
        return self.json([self.summary(d, self.store.window(d, t_from, t_to, now)) for d in devices])

    def summary(self, d: int, rows: list[int]) -> dict[str, Any]:
        fixes = [self.store.fixes[i] for i in rows]
        speeds = [f.speed_kmh / KMH_PER_KNOT for f in fixes] or [0.0]
        start, end = (fixes[0].odometer_m, fixes[-1].odometer_m) if fixes else (0.0, 0.0)
        return {
            "deviceId": self.device_id(d),
            "deviceName": self.model.vehicles[d].name,
            "distance": round(end - start, 2),
            "averageSpeed": sum(speeds) / len(speeds),
            "maxSpeed": max(speeds),
            "spentFuel": 0.0,
            "startOdometer": start,
            "endOdometer": end,
            "engineHours": 0,
            "beaconCount": len({f.beacon_id for f in fixes}),
            "positionCount": len(rows),
        }

    # --- socket ---
    def socket_greeting(self, conn: SocketConn, now: float) -> None:
        devices = [self.render_device(d, now) for d in range(len(self.model.vehicles))]
        conn.push({"devices": devices + self.bad_rows.extras("devices", devices)})
        beacons = list(self.beacons.values())
        conn.push({"beacons": beacons + self.bad_rows.extras("beacons", beacons)})
        conn.push({"positions": self.serve(self.latest_all(now))})
        conn.push({"webSessionTimeout": [WEB_SESSION_TIMEOUT]})

    def socket_watchers(self, conn: SocketConn) -> list[Coroutine[Any, Any, None]]:
        return [self.pinger(conn)]

    async def pinger(self, conn: SocketConn) -> None:
        while not conn.closed:
            await asyncio.sleep(self.faults.knobs.get("ping_interval", self.cfg.ping_interval))
            if conn.state.get("awaiting"):
                self.stats["sockets_pong_timeout"] += 1
                conn.close(1008, "missing pong")
                return
            token = str(uuid.uuid4())
            conn.state["awaiting"] = token
            conn.push({"status": [{"message": token, "type": "PING", "localeKey": None, "localeValues": None}]})
            self.stats["pings_sent"] += 1

    def on_socket_text(self, conn: SocketConn, text: str) -> None:
        if not text.startswith("pong "):
            return
        self.stats["pongs_received"] += 1
        if text[5:].strip() == conn.state.get("awaiting") and not self.faults.knobs.get("ignore_pongs"):
            conn.state["awaiting"] = None
