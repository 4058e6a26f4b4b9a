"""iTrack (a Navixy platform), driven by the outdoor motion model: ``POST /api/{resource}/{action}`` with the
parameters as a form or JSON body (or a query), a 32-hex session ``hash`` from ``user/auth`` (or the account's API
key), answers in Navixy's envelope (``{"success": true, …}`` or ``{"success": false, "status": {code,
description}}``), times "yyyy-MM-dd HH:mm:ss" in the user's zone (Europe/Helsinki). Its calls, formats and knobs
are in docs/simulators.md (iTrack).
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.itrack.formats import (
    USER_TZ,
    ApiError,
    flag,
    int_list,
    int_param,
    local_time,
    params,
    parse_local,
)
from fleet.simulators.itrack.objects import Objects, bounds
from fleet.simulators.motion import Fleet
from fleet.simulators.server import SimCore, json_response
from fleet.simulators.state import RECORDING

HASH = re.compile(r"^[0-9a-f]{32}$")
SESSION_S = 30 * 86400.0  # a session hash lives this long without the session_expire knob
MAX_SPAN_DAYS = 120.0  # maxReportTimeSpan
MAX_HISTORY = 1000  # maxHistoryLimit
MAX_STATES = 2000  # trackers per tracker/get_states call
OVERSPEED_KMH = 80.0
MODELS = {"car": "telfmb920", "van": "telfmb640", "truck": "telfmb140"}
Handler = Callable[[dict[str, Any]], Any]


def tracker_id(device: int) -> int:
    """The tracker id the simulator lists the model's vehicle ``device`` under."""
    return 311_000 + 17 * device


class ItrackSim(Objects, SimCore):
    kind = "itrack"
    lat_field, time_fields = "lat", ("get_time",)  # bad_positions damages these (SimCore.render_served)
    first_position_id = 1
    default_interval = 10.0

    def make_model(self, start: datetime, interval: float) -> Fleet:
        return Fleet(self.cfg.devices, self.cfg.seed, start, interval)

    def setup(self) -> None:
        self.tracker_ids = [tracker_id(d) for d in range(len(self.model.vehicles))]
        self.by_id = {t: d for d, t in enumerate(self.tracker_ids)}
        self.hashes: dict[str, float] = {}  # session hash -> when it was issued (real time)
        self.api_requests = 0
        self.events_served: dict[int, dict[str, Any]] = {}
        self.setup_objects()

    def ready(self) -> None:
        """A circle round a depot, a polygon round a customer, a sausage along a street, two places, a task."""
        depot, customer, shop = self.model.places[3], self.model.places[11], self.model.places[17]
        self.store_zone({"type": "circle", "label": f"Depot {depot.name}", "radius": 250, "center": _ll(depot)})
        square = [_offset(customer, a, b) for a, b in ((-150, -150), (150, -150), (150, 150), (-150, 150))]
        self.store_zone({"type": "polygon", "label": f"Customer {customer.name}"}, square)
        line = [_ll(shop), _offset(shop, 300, 200), _offset(shop, 600, 250)]
        self.store_zone({"type": "sausage", "label": f"Street by {shop.name}", "radius": 40}, line)
        for place, radius in ((customer, 100), (shop, 50)):
            location = _ll(place) | {"address": "Helsinki", "radius": radius}
            self.store_place({"label": place.name, "description": place.kind, "location": location})
        start = self.model.start.timestamp()
        task = {"label": f"Deliver to {customer.name}", "location": _ll(customer) | {"radius": 150}}
        self.store_task(
            task | {"tracker_id": self.tracker_ids[0], "from": local_time(start), "to": local_time(start + 86400)}
        )

    def device_id(self, device: int) -> int:
        return self.tracker_ids[device]

    def truth_extra(self) -> dict[str, Any]:
        blocked = [t for t in self.tracker_ids if self.blocked_code(t)]
        events = [self.events_served[k] for k in sorted(self.events_served)]
        return {"time_zone": USER_TZ.key, "blocked": blocked, "events": events, **self.objects_truth()}

    def one_shot(self, name: str) -> None:
        super().one_shot(name)
        if name == "expire_sessions":
            self.hashes.clear()

    def blocked_code(self, tracker: int) -> int:
        """208 (blocked) or 204 (not found) for the first ``count`` trackers under the tracker_blocked knob."""
        knob = self.faults.knobs.get("tracker_blocked")
        if not knob or self.by_id.get(tracker, len(self.tracker_ids)) >= knob["count"]:
            return 0
        return knob["code"]

    # --- rendering ---
    def render_position(self, i: int) -> dict[str, Any]:
        """A track point (``point_info``)."""
        fix, t = self.store.fixes[i], self.store.times[i]
        return {
            "lat": fix.lat,
            "lng": fix.lon,
            "alt": round(fix.altitude),
            "satellites": fix.satellites,
            "mileage": round(fix.odometer_m / 1000, 2),
            "get_time": local_time(t),
            "address": "",
            "heading": round(fix.course) % 360,
            "speed": round(fix.speed_kmh),
            "precision": max(1, round(fix.accuracy)),
            "gsm_lbs": False,
            "parking": not fix.ignition,
            "buffered": False,
        }

    def render_state(self, i: int, doc: dict[str, Any]) -> dict[str, Any]:
        """A tracker's state (``tracker/get_state``) around its latest point ``doc``, as served."""
        fix, updated = self.store.fixes[i], doc["get_time"]
        moving = fix.speed_kmh > 3
        location = {"lat": doc["lat"], "lng": doc["lng"]}
        gps = {"updated": updated, "signal_level": min(100, fix.satellites * 8), "location": location}
        gps |= {"heading": doc["heading"], "speed": doc["speed"], "alt": doc["alt"]}
        return {
            "source_id": 227_000 + fix.device,
            "gps": gps,
            "connection_status": "active",
            "movement_status": "moving" if moving else ("stopped" if fix.ignition else "parked"),
            "movement_status_update": updated,
            "ignition": fix.ignition,
            "ignition_update": updated,
            "last_update": updated,
            "gsm": {"updated": updated, "signal_level": 35 + fix.device % 50, "network_name": "Elisa", "roaming": None},
            "battery_level": round(fix.battery_level),
            "battery_update": updated,
            "inputs": [fix.ignition, False],
            "inputs_update": updated,
            "outputs": [False],
            "outputs_update": updated,
            "additional": {},
            "actual_track_update": updated,
        }

    def render_tracker(self, device: int) -> dict[str, Any]:
        vehicle, tracker = self.model.vehicles[device], self.tracker_ids[device]
        source = {"id": 227_000 + device, "device_id": vehicle.unique_id, "model": MODELS[vehicle.category]}
        source |= {"blocked": self.blocked_code(tracker) == 208, "tariff_id": 345678, "status_listing_id": None}
        source |= {"creation_date": "2024-03-01", "tariff_end_date": "2027-03-01", "phone": vehicle.phone}
        return {
            "id": tracker,
            "label": vehicle.name,
            "clone": False,
            "group_id": {"car": 167, "van": 168, "truck": 169}[vehicle.category],
            "avatar_file_name": None,
            "source": source,
            "tag_bindings": [],
        }

    def render_track(self, device: int, first: int, end: int) -> dict[str, Any]:
        times, fixes = self.store.times, self.store.fixes
        rows = self.store.window(device, times[first], times[end], math.inf)
        km = (fixes[end].odometer_m - fixes[first].odometer_m) / 1000
        hours = (times[end] - times[first]) / 3600
        points = [{"lat": fixes[i].lat, "lng": fixes[i].lon} for i in rows]
        return {
            "id": self.first_position_id + first,
            "start_date": local_time(times[first]),
            "start_address": "Helsinki",
            "max_speed": round(max(fixes[i].speed_kmh for i in rows)),
            "end_date": local_time(times[end]),
            "end_address": "Helsinki",
            "length": round(km, 2),
            "points": len(rows),
            "avg_speed": round(km / hours) if hours else 0,
            "type": "regular",
            "gsm_lbs": False,
            "bounds": bounds(points),
        }

    def events(self, device: int, t_from: float, t_to: float, now: float) -> list[dict[str, Any]]:
        """The device's history entries in the window: a trip's start and end (ignition on and off), parking
        after a trip's end, overspeed when the speed first goes above 80 km/h."""
        out = []
        for i in self.store.window(device, t_from, t_to, now):
            before = self.store.previous(i)
            if before is None:
                continue
            fix, prev = self.store.fixes[i], self.store.fixes[before]
            kinds = []
            if fix.ignition != prev.ignition:
                kinds += [(0, "track_start")] if fix.ignition else [(1, "track_end"), (2, "parking")]
            if fix.speed_kmh > OVERSPEED_KMH >= prev.speed_kmh:
                kinds.append((3, "speedup"))
            out += [self.render_event(i, k, name) for k, name in kinds]
        return out

    def render_event(self, i: int, k: int, name: str) -> dict[str, Any]:
        fix, tracker = self.store.fixes[i], self.tracker_ids[self.store.fixes[i].device]
        label = self.model.vehicles[fix.device].name
        extra = {"task_id": None, "parent_task_id": None, "counter_id": None, "service_task_id": None}
        extra |= {"checkin_id": None, "place_ids": None, "last_known_location": False, "tracker_label": label}
        extra |= {"emergency": False, "employee_id": None}
        message = {"track_start": "Trip started", "track_end": "Trip ended", "parking": "Parking"}
        return {
            "id": 4 * i + k + 1,
            "type": "tracker",
            "is_read": False,
            "message": f"{message.get(name, 'Speeding')} ({label})",
            "time": local_time(self.store.times[i]),
            "event": name,
            "tracker_id": tracker,
            "rule_id": None,
            "track_id": None,
            "location": {"lat": fix.lat, "lng": fix.lon, "precision": max(1, round(fix.accuracy))},
            "address": "",
            "extra": extra,
        }

    # --- HTTP plumbing ---
    def routes(self) -> list[BaseRoute]:
        return [Route("/api/{call:path}", self.endpoint, methods=["GET", "POST"])]

    def calls(self) -> dict[str, Handler]:
        return {
            "user/auth": self.auth_call,
            "user/get_info": self.get_info_call,
            "tracker/list": self.tracker_list_call,
            "tracker/get_states": self.get_states_call,
            "track/list": self.track_list_call,
            "track/read": self.track_read_call,
            "history/tracker/list": self.history_call,
            "employee/list": lambda p: {"list": self.employees},
            **self.object_calls(),
        }

    async def endpoint(self, request: Request) -> Response:
        call = request.path_params["call"].strip("/")
        try:
            handler = self.calls().get(call)
            if handler is None:
                raise ApiError(112, "Wrong method")
            p = await params(request)
            self.throttle()
            if call != "user/auth":
                self.check_hash(p, request)
            self.sync()
            return json_response({"success": True, **handler(p)})
        except ApiError as exc:
            headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.code == 15 else None
            return json_response(exc.body(), exc.status, headers)

    def throttle(self) -> None:
        knob = self.faults.knobs.get("too_many_requests")
        if knob:
            self.api_requests += 1
            if self.api_requests % knob["every"] == 0:
                self.fault_stats["too_many_requests"] += 1
                error = ApiError(15)
                error.retry_after = knob["retry_after"]
                raise error

    def check_hash(self, p: dict[str, Any], request: Request) -> None:
        """The hash of the body or query, or ``Authorization: NVX <hash>``: a live session or the API key."""
        scheme, _, header = request.headers.get("authorization", "").partition(" ")
        value = p.get("hash") or (header.strip() if scheme == "NVX" else "")
        if value and value == self.cfg.token:
            return
        issued = self.hashes.get(value)
        lifetime = self.faults.knobs.get("session_expire", SESSION_S)
        if issued is not None and time.time() - issued < lifetime:
            return
        self.stats["unauthorized"] += 1
        raise ApiError(4 if not value or HASH.match(str(value)) else 3)

    def tracker(self, p: dict[str, Any]) -> int:
        tracker = int_param(p, "tracker_id")
        if tracker not in self.by_id:
            raise ApiError(201)
        if code := self.blocked_code(tracker):
            raise ApiError(code)
        return self.by_id[tracker]

    def span(self, p: dict[str, Any]) -> tuple[float, float]:
        """``from`` and ``to``: 211 when the span is above the limit (120 days, or the span_limit_days knob)."""
        start, end = parse_local(p.get("from"), "from"), parse_local(p.get("to"), "to")
        if end <= start:
            raise ApiError(7, "Invalid parameters: to must be after from")
        if end - start > self.faults.knobs.get("span_limit_days", MAX_SPAN_DAYS) * 86400:
            raise ApiError(211)
        return start, end

    # --- calls ---
    def auth_call(self, p: dict[str, Any]) -> dict[str, Any]:
        if (p.get("login"), p.get("password")) != (self.cfg.username, self.cfg.password):
            self.stats["login_failures"] += 1
            raise ApiError(102)
        if p.get("dealer_id") not in (None, "", 1, "1"):
            raise ApiError(12, "Dealer not found")
        self.stats["logins"] += 1
        session = secrets.token_hex(16)
        self.hashes[session] = time.time()
        return {"hash": session}

    def get_info_call(self, p: dict[str, Any]) -> dict[str, Any]:
        info = {"id": 43568, "login": self.cfg.username, "title": "Demo dispatcher", "locale": "en_US"}
        info |= {"demo": True, "time_zone": USER_TZ.key, "measurement_system": "metric", "date_format": "ddMMyyyy_dots"}
        return {"paas_id": 7, "user_info": info, "tariff_restrictions": {"allowed_maps": ["osm"]}}

    def tracker_list_call(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"list": [self.render_tracker(d) for d in range(len(self.tracker_ids))]}

    def get_states_call(self, p: dict[str, Any]) -> dict[str, Any]:
        """Latest states of up to 2,000 trackers; blocked and unknown ones listed when asked, else 217."""
        wanted = int_list(p, "trackers")
        if len(wanted) > MAX_STATES:
            raise ApiError(7, "Invalid parameters: at most 2000 trackers")
        missing = [t for t in wanted if t not in self.by_id]
        blocked = [t for t in wanted if t in self.by_id and self.blocked_code(t)]
        if (missing and not flag(p, "allow_not_exist")) or (blocked and not flag(p, "list_blocked")):
            raise ApiError(217)
        now, states = self.clock.now(), {}
        for tracker in (t for t in wanted if t in self.by_id and t not in blocked):
            latest = self.store.latest(self.by_id[tracker], now)
            if latest is not None:
                states[str(tracker)] = self.render_state(latest, self.serve([latest])[0])
        out = {"user_time": local_time(now), "states": states}
        return (
            out
            | ({"blocked": blocked} if flag(p, "list_blocked") else {})
            | ({"not_exist": missing} if flag(p, "allow_not_exist") else {})
        )

    def track_list_call(self, p: dict[str, Any]) -> dict[str, Any]:
        """Trips (ignition on) in the window, as ``regular`` tracks."""
        device, (start, end) = self.tracker(p), self.span(p)
        rows = self.store.window(device, start, end, self.clock.now())
        tracks = [self.render_track(device, first, last) for _run, first, last in self.store.segments(rows, True)]
        return {"limit_exceeded": False, "list": tracks}

    def track_read_call(self, p: dict[str, Any]) -> dict[str, Any]:
        """Points in [from, to], oldest first; under the history_limit knob only the first n, ``limit_exceeded``;
        under storage_days, none and ``limit_exceeded`` when ``from`` is older than that."""
        device, (start, end) = self.tracker(p), self.span(p)
        now = self.clock.now()
        rows = self.store.window(device, start, end, now)
        oldest = now - self.faults.knobs.get("storage_days", math.inf) * 86400
        beyond = start < oldest
        if beyond:  # from before the tariff's storage period: no points (as Navixy's track docs show)
            rows = []
            self.fault_stats["storage_days"] += 1
        limit = self.faults.knobs.get("history_limit")
        cut = bool(limit) and len(rows) > limit
        if cut:
            self.fault_stats["history_limit"] += 1
        return {"limit_exceeded": cut or beyond, "list": self.serve(rows[:limit] if cut else rows)}

    def history_call(self, p: dict[str, Any]) -> dict[str, Any]:
        """History entries of the trackers in [from, to] by time; ``limit`` above the history limit is 212, more
        entries than ``limit`` give the first ``limit`` and ``limit_exceeded``."""
        trackers, (start, end) = int_list(p, "trackers"), self.span(p)
        most = self.faults.knobs.get("history_limit", MAX_HISTORY)
        limit = int_param(p, "limit", most)
        if limit > most:
            raise ApiError(212)
        if any(t not in self.by_id or self.blocked_code(t) for t in trackers):
            raise ApiError(217)
        now = self.clock.now()
        rows = [e for t in trackers for e in self.events(self.by_id[t], start, end, now)]
        rows.sort(key=lambda e: (parse_local(e["time"], "time"), e["id"]), reverse=not flag(p, "ascending", True))
        out = rows[:limit]
        if RECORDING.get():
            self.events_served.update((e["id"], {k: e[k] for k in ("id", "tracker_id", "event", "time")}) for e in out)
        return {"list": out, "limit_exceeded": len(rows) > limit, "total": len(rows), "total_unread": len(rows)}

    def object_calls(self) -> dict[str, Handler]:
        return {
            "zone/list": lambda p: {"list": [self.zone_row(z, flag(p, "with_points")) for z in sorted(self.zones)]},
            "zone/read": lambda p: {"value": self.zone_row(self.zone_id(p), True)},
            "zone/create": lambda p: {"id": self.store_zone(p.get("zone"), p.get("points"))},
            "zone/update": self.zone_update_call,
            "zone/delete": self.zone_delete_call,
            "zone/point/list": self.zone_points_call,
            "zone/point/update": self.zone_points_update_call,
            "place/list": lambda p: {"list": [self.places[k] for k in sorted(self.places)]},
            "place/create": lambda p: {"id": self.store_place(p.get("place"))},
            "place/update": self.place_update_call,
            "place/delete": lambda p: self.delete_from(self.places, "place_id", p),
            "task/list": lambda p: {"list": [self.tasks[k] for k in sorted(self.tasks)]},
            "task/create": lambda p: {"id": self.store_task(p.get("task"))},
            "task/update": self.task_update_call,
            "task/assign": lambda p: self.assign_task(int_param(p, "task_id"), p.get("tracker_id")) or {},
            "task/delete": lambda p: self.delete_from(self.tasks, "task_id", p),
        }

    def zone_update_call(self, p: dict[str, Any]) -> dict[str, Any]:
        zone = p.get("zone")
        zone_id = zone.get("id") if isinstance(zone, dict) else None
        if zone_id not in self.zones:
            raise ApiError(201)
        self.store_zone(zone, None, zone_id)
        return {}

    def zone_delete_call(self, p: dict[str, Any]) -> dict[str, Any]:
        ids = int_list(p, "zone_ids") if "zone_ids" in p else [self.zone_id(p)]
        if any(z not in self.zones for z in ids):
            raise ApiError(201)
        for zone_id in ids:
            self.zones.pop(zone_id)
            self.zone_points.pop(zone_id, None)
        return {}

    def zone_points_call(self, p: dict[str, Any]) -> dict[str, Any]:
        zone_id = self.zone_id(p)
        if zone_id not in self.zone_points:
            raise ApiError(230)
        return {"list": self.zone_points[zone_id]}

    def zone_points_update_call(self, p: dict[str, Any]) -> dict[str, Any]:
        zone_id = self.zone_id(p)
        zone = self.zones[zone_id]
        if zone["type"] == "circle":
            raise ApiError(230)
        self.store_zone(zone, p.get("points"), zone_id)
        return {}

    def place_update_call(self, p: dict[str, Any]) -> dict[str, Any]:
        place = p.get("place")
        place_id = place.get("id") if isinstance(place, dict) else None
        if place_id not in self.places:
            raise ApiError(201)
        self.store_place(place, place_id)
        return {}

    def task_update_call(self, p: dict[str, Any]) -> dict[str, Any]:
        task = p.get("task")
        task_id = task.get("id") if isinstance(task, dict) else None
        if task_id not in self.tasks:
            raise ApiError(201)
        self.store_task(task, task_id)
        return {}

    @staticmethod
    def delete_from(table: dict[int, Any], name: str, p: dict[str, Any]) -> dict[str, Any]:
        key = int_param(p, name)
        if table.pop(key, None) is None:
            raise ApiError(201)
        return {}


def _ll(place: Any) -> dict[str, float]:
    return {"lat": place.lat, "lng": place.lon}


def _offset(place: Any, north_m: float, east_m: float) -> dict[str, float]:
    return {
        "lat": place.lat + north_m / 111_320,
        "lng": place.lon + east_m / (111_320 * math.cos(math.radians(place.lat))),
    }
