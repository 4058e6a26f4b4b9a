"""fleet-v2 (Telemax Telematics, Australia), driven by the outdoor motion model: tokens bought with an API key
or a user and password (form-encoded), V2 routes with rate limits as the vendor enforces them (a sliding
window per client plus per-endpoint windows, the ``X-RateLimit-*`` headers on every V2 response, 429 with
``Retry-After``), the page envelope with its inconsistent ``lastResultIndex``, alert records derived from the
motion (overspeed, ignition, a depot geofence), battery health that drifts, and the legacy V1 routes with
their PascalCase shapes and a ``Sunset`` header. Paths and knobs: docs/simulators.md (fleet-v2)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from fleet.core.geodesy import haversine_m
from fleet.simulators.fleetv2 import formats as fmt
from fleet.simulators.fleetv2.limits import SlidingWindows
from fleet.simulators.metrotec.formats import b64url
from fleet.simulators.motion import Fleet
from fleet.simulators.server import SimCore
from fleet.simulators.state import iso_z

COMPANY_ID, COMPANY_NAME = 1201, "Demo Haulage Pty Ltd"
VEHICLE_BASE = 70_000
OVERSPEED_KMH = 80.0
DEPOT_RADIUS_M = 400.0
TANKS_L = {"car": 50, "van": 80, "truck": 300}
NETWORK = ((-60, "Excellent"), (-75, "Good"), (-90, "Fair"), (-200, "Poor"))
SUNSET = "Wed, 30 Jun 2027 00:00:00 GMT"
V2_EXPIRY, V1_EXPIRY = 86399, 3600
ALERT_CONFIGS = [
    {"id": 301, "name": "Speeding", "alertType": "Overspeed", "threshold": OVERSPEED_KMH, "enabled": True},
    {"id": 302, "name": "Ignition", "alertType": "Ignition On", "enabled": True},
    {"id": 303, "name": "Ignition off", "alertType": "Ignition Off", "enabled": True},
    {"id": 304, "name": "Depot", "alertType": "Geofence Enter", "enabled": True},
    {"id": 305, "name": "Depot exit", "alertType": "Geofence Exit", "enabled": False},
]
Handler = Callable[[Request], Awaitable[Response]]


class FleetV2Sim(SimCore):
    kind = "fleetv2"
    lat_field, time_fields = "lat", ("utcTime",)  # bad_positions damages these (SimCore.render_served)
    default_interval = 30.0

    def make_model(self, start: datetime, interval: float) -> Fleet:
        return Fleet(self.cfg.devices, self.cfg.seed, start, interval)

    def setup(self) -> None:
        self.limits = SlidingWindows(self.cfg.rate_window)
        self.stats["rate_limited"] = 0
        self.tokens: dict[str, tuple[float, str]] = {}  # access token -> (expiry, the client it was issued to)
        self.secret = secrets.token_bytes(32)
        self.by_imei = {v.unique_id: v.index for v in self.model.vehicles}
        self.alerts: list[dict[str, Any]] = []
        self.alerts_per_day: dict[str, int] = {}
        self.read: dict[tuple[int, str], bool] = {}
        self.last: dict[int, dict[str, Any]] = {}  # per device: ignition since, engine seconds, state flags
        self.engine_s: list[float] = []
        self.ignition_at: list[float | None] = []
        depot = self.model.places[3]
        self.depot = (depot.lat, depot.lon)

    def device_id(self, device: int) -> int:
        return VEHICLE_BASE + device

    def vehicle_index(self, vehicle_id: Any) -> int:
        try:
            device = int(vehicle_id) - VEHICLE_BASE
        except (TypeError, ValueError):
            raise fmt.ApiError(422, "INVALID_ID", "The vehicle id is not a number.") from None
        if not 0 <= device < len(self.model.vehicles):
            raise fmt.ApiError(404, "VEHICLE_NOT_FOUND", f"Vehicle {vehicle_id} was not found.")
        return device

    # --- the motion, as the vendor's derived state and alerts ---
    def on_fix(self, i: int) -> None:
        fix, t = self.store.fixes[i], self.store.times[i]
        first = fix.device not in self.last
        state = self.last.setdefault(fix.device, {"on": None, "engine": 0.0, "t": t, "fast": False, "in": None})
        if state["on"] is not None:
            state["engine"] += t - state["t"]
        self.engine_s.append(state["engine"])
        if fix.ignition != (state["on"] is not None):
            if not first:
                self.add_alert(18 if fix.ignition else 19, i)
            state["on"] = t if fix.ignition else None
        self.ignition_at.append(state["on"])
        fast = fix.valid and fix.speed_kmh > OVERSPEED_KMH
        if fast and not state["fast"]:
            self.add_alert(7, i)
        inside = haversine_m(fix.lat, fix.lon, *self.depot) <= DEPOT_RADIUS_M if fix.valid else state["in"]
        if state["in"] is not None and inside != state["in"]:
            self.add_alert(24 if inside else 25, i)
        state.update(t=t, fast=fast, **{"in": inside})

    def add_alert(self, code: int, i: int) -> None:
        """Alert ids count from 1 each UTC day: a record is addressed by (id, utcTime), never by id alone."""
        t = self.store.times[i]
        day = fmt.utc_time(t)[:10]
        self.alerts_per_day[day] = self.alerts_per_day.get(day, 0) + 1
        self.alerts.append({"id": self.alerts_per_day[day], "code": code, "i": i, "t": t, "key": len(self.alerts)})

    def battery_voltage(self, device: int, now: float) -> float:
        """Drifts down over the hours; every fifth vehicle's battery is failing fast."""
        hours = max(0.0, now - self.model.start.timestamp()) / 3600
        fade = 0.25 if device % 5 == 0 else 0.01
        return round(12.72 - 0.03 * (device % 4) - fade * hours, 2)

    @staticmethod
    def prediction(voltage: float) -> str:
        return "Healthy" if voltage >= 12.4 else "Check" if voltage >= 12.0 else "Failing"

    # --- rendering ---
    def render_position(self, i: int) -> dict[str, Any]:
        fix, t = self.store.fixes[i], self.store.times[i]
        vehicle = self.model.vehicles[fix.device]
        vid = self.device_id(fix.device)
        since = self.ignition_at[i]
        rssi = -50 - (i * 7 + fix.device * 13) % 50
        tank = TANKS_L[vehicle.category]
        return {
            "id": int(f"{int(t)}{vid}"),  # synthetic: time and vehicle
            "utcTime": fmt.utc_time(t),
            "userTime": fmt.user_time(t),
            "userTimeFormatted": fmt.user_formatted(t),
            "lat": fix.lat,
            "lng": fix.lon,
            "speed": round(fix.speed_kmh, 1),
            "course": round(fix.course) % 360,
            "ignition": fix.ignition,
            "odometer": round(fix.odometer_m / 1000, 3),
            "voltage": round(fix.power_v, 2),
            "fatigue": fmt.timespan(t - since if since is not None else 0, iso=i % 5 == 0),
            "engineHours": round(self.engine_s[i] / 3600, 3),
            "satelliteCoverage": fix.satellites,
            "satelliteCoverageRawValue": fix.satellites,
            "networkCoverage": next(label for floor, label in NETWORK if rssi >= floor),
            "networkCoverageRawValue": rssi,
            "deviceId": vid,
            "ignitionTime": fmt.utc_time(since) if since is not None else None,
            "deviceName": vehicle.name,
            "imei": vehicle.unique_id,
            "vin": None,
            "drivingTime": fmt.timespan(t - since if since is not None else 0),
            "fuelLevel": round(100 * fix.fuel_l / tank, 1),
            "fuelVolume": round(fix.fuel_l, 1),
            "address": None,
            "engineEnabled": True,
        }

    @staticmethod
    def v1_position(doc: dict[str, Any], online: bool | None = None) -> dict[str, Any]:
        """The legacy PascalCase shape of a served V2 position (its misspellings included)."""
        utc = str(doc["utcTime"])
        out = {
            "UtcTime": utc + "Z",
            "UserTime": doc["userTime"] + "+10:00",
            "UserTimeFormated": doc["userTimeFormatted"],
            "Lat": doc["lat"],
            "Lng": doc["lng"],
            "Speed": doc["speed"],
            "Course": doc["course"],
            "Ignition": doc["ignition"],
            "Odometer": doc["odometer"],
            "Voltage": doc["voltage"],
            "Fatigue": doc["drivingTime"],
            "EngineHours": doc["engineHours"],
            "SatSignal": doc["satelliteCoverageRawValue"] * 4,
            "Satellites": doc["satelliteCoverage"],
            "ConnectionStrengh": doc["networkCoverage"],
            "DeviceId": doc["deviceId"],
            "IgnitionTime": doc["ignitionTime"],
            "DeviceName": doc["deviceName"],
            "Address": None,
            "LastMovementTimeUserFormated": doc["userTimeFormatted"],
        }
        if online is not None:
            out["isOnline"] = online
        return out

    def render_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        fix, t = self.store.fixes[alert["i"]], alert["t"]
        return {
            "id": alert["id"],
            "utcTime": fmt.utc_time(t),
            "userTime": fmt.user_time(t),
            "userTimeFormatted": fmt.user_formatted(t),
            "alertType": fmt.alert_type(alert["code"], alert["key"]),
            "description": fmt.ALERT_TYPES[alert["code"]],
            "vehicleId": self.device_id(fix.device),
            "vehicleName": self.model.vehicles[fix.device].name,
            "address": None,
            "lat": fix.lat,
            "lng": fix.lon,
            "isRead": self.read.get((alert["id"], fmt.utc_time(t)), False),
        }

    def battery_v2(self, device: int, now: float) -> dict[str, Any]:
        volts = self.battery_voltage(device, now)
        history = {
            f"{d}day": {
                "peak": round(volts + 0.4, 2),
                "average": round(volts + 0.1, 2),
                "lowest": round(volts - 0.3, 2),
            }
            for d in (7, 30, 60, 90)
        }
        score = max(0, min(100, round((volts - 11.6) / 1.2 * 100)))
        latest = self.store.latest(device, now)
        return {
            "vehicleId": self.device_id(device),
            "vehicleName": self.model.vehicles[device].name,
            "imei": self.model.vehicles[device].unique_id,
            "currentVoltage": volts,
            "isEngineOn": bool(latest is not None and self.store.fixes[latest].ignition),
            "voltageHistory": history,
            "forecast": {"score": score, "comment": self.prediction(volts)},
            "statuses": [] if volts >= 12.4 else ["LowVoltage"],
            "healthScore": {"score": score, "label": self.prediction(volts)},
        }

    def battery_v1(self, device: int, now: float) -> dict[str, Any]:
        volts = self.battery_voltage(device, now)
        day = fmt.utc_time(now)[:10] + "T00:00:00"
        return {
            "vehicleId": self.device_id(device),
            "vehicleName": self.model.vehicles[device].name,
            "currentVoltage": volts,
            "predictionResults": [
                {
                    "batteryPredictionValue": self.prediction(volts),
                    "predictionConfidence": 0.87,
                    "predictionForDay": day,
                }
            ],
        }

    def last_online(self, now: float) -> list[dict[str, Any]]:
        """Each vehicle's last time online (its latest fix by ``now``), None when it has sent none yet."""
        items = []
        for d, vehicle in enumerate(self.model.vehicles):
            latest = self.store.latest(d, now)
            t = self.store.times[latest] if latest is not None else None
            items.append(
                {
                    "vehicleId": self.device_id(d),
                    "imei": vehicle.unique_id,
                    "lastTimeOnlineUtc": fmt.utc_time(t) if t is not None else None,
                    "secondsAgo": int(now - t) if t is not None else None,
                }
            )
        return items

    # --- ground truth ---
    def truth_extra(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "imeis": {v.unique_id: self.device_id(v.index) for v in self.model.vehicles},
            "last_online": {
                str(row["vehicleId"]): (row["lastTimeOnlineUtc"] + "Z") if row["lastTimeOnlineUtc"] else None
                for row in self.last_online(now)
            },
            "alert_configs": ALERT_CONFIGS,
            "alerts": [
                {
                    "id": a["id"],
                    "utcTime": iso_z(a["t"]),
                    "deviceId": self.device_id(self.store.fixes[a["i"]].device),
                    "code": a["code"],
                    "isRead": self.read.get((a["id"], fmt.utc_time(a["t"])), False),
                }
                for a in self.alerts
                if a["t"] <= now
            ],
            "battery": {
                str(self.device_id(d)): {"voltage": v, "prediction": self.prediction(v)}
                for d, v in ((d, self.battery_voltage(d, now)) for d in range(len(self.model.vehicles)))
            },
            "limits": {"window": self.limits.window, "busiest": self.limits.busiest()},
        }

    def one_shot(self, name: str) -> None:
        super().one_shot(name)
        if name == "expire_sessions":
            self.tokens.clear()

    # --- HTTP plumbing ---
    def routes(self) -> list[BaseRoute]:
        from fleet.simulators.fleetv2 import views

        return views.routes(self)

    def issue_token(self, client: str, lifetime: float) -> str:
        header = b64url(b'{"alg":"HS256","typ":"JWT"}')
        claims = {"UserId": 5501, "CompanyId": COMPANY_ID, "TimeZone": "AUS Eastern Standard Time"}
        claims |= {"exp": int(time.time() + lifetime), "jti": secrets.token_hex(8)}
        body = f"{header}.{b64url(orjson.dumps(claims))}"
        token = f"{body}.{b64url(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())}"
        self.tokens[token] = (time.time() + lifetime, client)
        self.stats["logins"] += 1
        return token

    def client_of(self, request: Request) -> str | None:
        """The client behind the request's Bearer token, None when it has none that is alive."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        entry = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if entry is None or time.time() >= entry[0]:
            return None
        return entry[1]


def client_key(secret: str) -> str:
    """How the limiter names a client (the API key or user), never the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


__all__ = ["FleetV2Sim", "client_key"]
