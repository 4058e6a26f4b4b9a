"""The objects Metrotec's users edit, stored and editable in the simulator: geozones (and their vehicle alarm
links), tasks and POIs; and the asynchronous POI visit reports."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fleet.simulators.metrotec.formats import ApiError, json_object, parse_vendor_time, vendor_time
from fleet.simulators.server import json_response

TASK_FIELDS = {  # field -> the type a value sent for it must have (float: any number)
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
MAC = re.compile(r"^[0-9A-Fa-f]{2}([-:][0-9A-Fa-f]{2}){5}$")
POI_TEXT = {"name": 50, "comment": 255, "rgAddress": 300, "phone_nr": 50, "country_code": 10, "contact_name": 100}


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


class Objects:
    """Geozones and tasks of a Metrotec simulator (a mixin of MetrotecSim: it uses its vehicles and clock)."""

    def setup_objects(self) -> None:
        self.geozones: dict[int, dict[str, Any]] = {}
        self.zone_links: dict[int, dict[str, Any]] = {}  # link id -> {id, geozoneID, object_id, events}
        self.next_zone_id, self.next_link_id = 48207, 1367
        self.tasks: dict[int, dict[str, Any]] = {}
        self.task_audit: list[dict[str, Any]] = []  # the edits sent with "edit": true
        self.next_task_id = 12346
        self.pois: dict[int, dict[str, Any]] = {}
        self.next_poi_id = 72228
        self.poi_reports: dict[int, dict[str, Any]] = {}  # id -> the report, plus "_asked" (real time)
        self.next_poi_report_id = 11880

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
            if not isinstance(body["order_ref"], str) or not body["order_ref"]:
                raise ApiError("The order_ref field must be a non-empty string.")
            if body["order_ref"] in taken:
                raise ApiError("The order ref has already been taken.")
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

    # --- POIs ---
    def store_poi(self, body: dict[str, Any], poi_id: int | None = None) -> dict[str, Any]:
        """Check a POI body (lat, lon, purpose 0-3 and comment required; a Wi-Fi router's or a beacon's comment
        is its MAC address; type 1-9, default 1; radius in m, default 50) and store it."""
        poi = dict(self.pois[poi_id]) if poi_id is not None else {"type": 1, "radius": 50}
        if poi_id is None:
            missing = [k for k in ("lat", "lon", "purpose", "comment") if body.get(k) is None]
            if missing:
                raise ApiError(f"The {missing[0]} field is required.")
        for key in ("lat", "lon"):
            if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int | float)):
                raise ApiError(f"The {key} field must be a number.")
        poi |= {k: body[k] for k in ("lat", "lon") if k in body}
        if not (-90 <= poi["lat"] <= 90 and -180 <= poi["lon"] <= 180):
            raise ApiError("The lat and lon fields must be a latitude and a longitude.")
        for key, limit in (("purpose", (0, 3)), ("type", (1, 9)), ("radius", (1, 100_000))):
            if key in body:
                if (
                    not isinstance(body[key], int)
                    or isinstance(body[key], bool)
                    or not limit[0] <= body[key] <= limit[1]
                ):
                    raise ApiError(f"The {key} field must be an integer from {limit[0]} to {limit[1]}.")
                poi[key] = body[key]
        for key, size in POI_TEXT.items():
            if body.get(key) is not None:
                if not isinstance(body[key], str) or len(body[key]) > size:
                    raise ApiError(f"The {key} field must be text of at most {size} characters.")
                poi[key] = body[key]
        if poi["purpose"] in (2, 3) and not MAC.match(poi.get("comment") or ""):
            raise ApiError("The comment field must be a MAC address for a Wi-Fi router or a Bluetooth beacon.")
        if poi_id is None:
            poi_id, self.next_poi_id = self.next_poi_id, self.next_poi_id + 1
        self.pois[poi_id] = {"id": poi_id, **{k: poi.get(k) for k in ("lat", "lon", "name", "purpose")}, **poi}
        return self.pois[poi_id]

    async def pois_view(self, request: Request) -> Response:
        if request.method == "POST":
            return json_response(self.store_poi(await json_object(request)))
        return json_response(list(self.pois.values()))

    async def poi_view(self, request: Request) -> Response:
        poi_id = request.path_params["id"]
        if poi_id not in self.pois:
            raise ApiError("POI not found.", 404)
        return json_response(self.store_poi(await json_object(request), poi_id))

    # --- POI reports: created, then "processed" in the background (status 0, 1, 2), then fetched ---
    def poi_report_status(self, report: dict[str, Any]) -> int:
        """0 until a third of the report delay has passed, 1 until all of it has (for good with stuck_reports),
        then 2."""
        delay = float(self.faults.knobs.get("poi_report_delay", 2.0))
        waited = time.time() - report["_asked"]
        if self.faults.knobs.get("stuck_reports"):
            return 0 if waited < delay / 3 else 1
        return 0 if waited < delay / 3 else 1 if waited < delay else 2

    def public_report(self, report: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in report.items() if not k.startswith("_")} | {"status": self.poi_report_status(report)}

    async def poi_reports_view(self, request: Request) -> Response:
        """GET: every report with its status; POST creates one (``datetime``: [start, stop], ``type`` "poi",
        ``group`` "vehicle")."""
        if request.method == "GET":
            return json_response([self.public_report(r) for r in self.poi_reports.values()])
        body = await json_object(request)
        period = body.get("datetime")
        if not isinstance(period, list) or len(period) != 2:
            raise ApiError("The datetime field must be two times: the period's start and stop.")
        start, stop = (parse_vendor_time(t, "datetime") for t in period)
        if body.get("type") not in ("poi", "geo", "country", "rtasks") or body.get("group") not in (
            "vehicle",
            "category",
        ):
            raise ApiError("The type field must be poi, geo, country or rtasks and the group vehicle or category.")
        report = {"id": self.next_poi_report_id, "status": 0, "type": body["type"], "group": body["group"]}
        report |= {"type_id": body.get("type_id"), "group_id": body.get("group_id"), "group_name": None}
        report |= {"type_name": None, "start_time": period[0], "stop_time": period[1]}
        report |= {"repStatus": vendor_time(self.clock.now()), "_asked": time.time(), "_period": (start, stop)}
        self.poi_reports[report["id"]] = report
        self.next_poi_report_id += 1
        return json_response(self.public_report(report))

    async def poi_report_view(self, request: Request) -> Response:
        """The visit rows of a finished report (400 while it is not done)."""
        report = self.poi_reports.get(request.path_params["id"])
        if report is None:
            raise ApiError("Report not found.", 404)
        if self.poi_report_status(report) != 2:
            raise ApiError("The report is not ready yet.")
        return json_response(self.poi_visits(*report["_period"]))

    def poi_visits(self, start: float, stop: float) -> list[dict[str, Any]]:
        """Each stay of a vehicle within a POI's radius in the period: in and out times, seconds inside, km."""
        rows, now = [], self.clock.now()
        for poi in self.pois.values():
            for device in range(len(self.regs)):
                inside: list[int] = []
                for i in [*self.store.window(device, start, stop, now), None]:
                    fix = self.store.fixes[i] if i is not None else None
                    if fix is not None and metres(fix.lat, fix.lon, poi["lat"], poi["lon"]) <= poi["radius"]:
                        inside.append(i)
                    elif inside:
                        rows.append(self.visit_row(len(rows), poi, device, inside))
                        inside = []
        return rows

    def visit_row(self, n: int, poi: dict[str, Any], device: int, inside: list[int]) -> dict[str, Any]:
        first, last = inside[0], inside[-1]
        seconds = int(self.store.times[last] - self.store.times[first])
        km = (self.store.fixes[last].odometer_m - self.store.fixes[first].odometer_m) / 1000
        return {
            "id": 4176215 + n,
            "type_name": poi.get("name"),
            "radius": poi["radius"],
            "object_id": self.regs[device],
            "in_poi_time": seconds,
            "in_time": vendor_time(self.store.times[first]),
            "out_time": vendor_time(self.store.times[last]),
            "distance": round(km, 2),
            "moto_hrs": seconds if self.store.fixes[first].ignition else 0,
            "order_details": None,
            "work_finished_at": None,
            "order_ref": None,
            "task_description": None,
            "arrived_at": None,
            "alias": self.model.vehicles[device].name,
        }


def metres(lat: float, lon: float, lat0: float, lon0: float) -> float:
    dx = (lon - lon0) * 111_320 * math.cos(math.radians(lat0))
    return math.hypot(dx, (lat - lat0) * 111_320)
