"""The objects iTrack's users edit, stored and editable in the simulator: zones (circle, polygon, sausage) and
their points, places (POIs), tasks and employees."""

from __future__ import annotations

import math
from typing import Any

from fleet.simulators.itrack.formats import ApiError, int_param, local_time, parse_local

ZONE_TYPES = ("circle", "polygon", "sausage")
MIN_POINTS = {"polygon": 3, "sausage": 2}
MAX_POINTS = {"polygon": 500, "sausage": 1024}
TASK_STATUSES = ("unassigned", "assigned", "done", "failed", "delayed", "arrived", "faulty")
EMPLOYEES = [("Aino", "Virtanen"), ("Eero", "Korhonen"), ("Helmi", "Mäkinen"), ("Onni", "Nieminen")]


def _location(value: object, name: str, radius: bool = False) -> dict[str, Any]:
    """A ``{lat, lng}`` (with ``radius`` 1..300000 m and ``address`` when asked) checked like Navixy does."""
    if not isinstance(value, dict):
        raise ApiError(7, f"Invalid parameters: {name}")
    lat, lng = value.get("lat"), value.get("lng")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lng)):
        raise ApiError(7, f"Invalid parameters: {name}")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ApiError(7, f"Invalid parameters: {name}")
    out: dict[str, Any] = {"lat": float(lat), "lng": float(lng)}
    if radius:
        r = value.get("radius")
        if not isinstance(r, int | float) or isinstance(r, bool) or not 1 <= r <= 300_000:
            raise ApiError(7, f"Invalid parameters: {name}.radius")
        out |= {"address": str(value.get("address") or ""), "radius": int(r)}
    return out


def bounds(points: list[dict[str, float]], pad_m: float = 0.0) -> dict[str, Any]:
    dlat = pad_m / 111_320
    dlng = pad_m / (111_320 * max(0.01, math.cos(math.radians(points[0]["lat"]))))
    lats, lngs = [p["lat"] for p in points], [p["lng"] for p in points]
    return {
        "nw": {"lat": max(lats) + dlat, "lng": min(lngs) - dlng},
        "se": {"lat": min(lats) - dlat, "lng": max(lngs) + dlng},
    }


class Objects:
    """Zones, places, tasks and employees of an iTrack simulator (a mixin of ItrackSim: it uses its trackers)."""

    def setup_objects(self) -> None:
        self.zones: dict[int, dict[str, Any]] = {}
        self.zone_points: dict[int, list[dict[str, Any]]] = {}
        self.places: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.next_ids = {"zone": 985_470, "place": 51_200, "task": 23_140}
        self.employees = [
            {
                "id": 4563 + k,
                "tracker_id": self.tracker_ids[k] if k < len(self.tracker_ids) else None,
                "first_name": first,
                "middle_name": None,
                "last_name": last,
                "email": f"{first.lower()}@example.fi",
                "phone": f"35840{1234567 + k}",
                "driver_license_number": f"FI-{900100 + k}",
                "driver_license_cats": "B,C",
                "driver_license_valid_till": None,
                "hardware_key": None,
                "personnel_number": f"{k + 1:04d}",
                "department_id": None,
                "location": None,
                "tags": [],
            }
            for k, (first, last) in enumerate(EMPLOYEES)
        ]

    def new_id(self, kind: str) -> int:
        self.next_ids[kind] += 1
        return self.next_ids[kind]

    # --- zones ---
    def store_zone(self, zone: object, points: object = None, zone_id: int | None = None) -> int:
        if not isinstance(zone, dict) or zone.get("type") not in ZONE_TYPES:
            raise ApiError(7, "Invalid parameters: zone.type")
        kind = zone["type"]
        if zone_id is not None and self.zones[zone_id]["type"] != kind:
            raise ApiError(231, "Entity type mismatch")
        out: dict[str, Any] = {
            "id": zone_id,
            "type": kind,
            "label": str(zone.get("label") or ""),
            "address": str(zone.get("address") or ""),
            "color": str(zone.get("color") or "27A9E3"),
            "tags": list(zone.get("tags") or []),
        }
        if not out["label"]:
            raise ApiError(7, "Invalid parameters: zone.label")
        points = zone.get("points") if points is None else points
        if kind == "circle":
            if points:
                raise ApiError(230)
            out["center"] = _location(zone.get("center"), "zone.center")
            out |= {"radius": self._radius(zone), "bounds": bounds([out["center"]], zone.get("radius") or 0)}
        else:
            if kind == "sausage":
                out["radius"] = self._radius(zone)
            if points is None and zone_id is not None:
                points = self.zone_points[zone_id]
            checked = self._points(kind, points)
            out["bounds"] = bounds(checked, out.get("radius", 0))
        zone_id = zone_id if zone_id is not None else self.new_id("zone")
        out["id"] = zone_id
        self.zones[zone_id] = out
        if kind != "circle":
            self.zone_points[zone_id] = checked
        return zone_id

    @staticmethod
    def _radius(zone: dict[str, Any]) -> int:
        radius = zone.get("radius")
        if not isinstance(radius, int | float) or isinstance(radius, bool) or not radius > 0:
            raise ApiError(7, "Invalid parameters: zone.radius")
        return round(radius)

    @staticmethod
    def _points(kind: str, points: object) -> list[dict[str, Any]]:
        if not isinstance(points, list) or len(points) < MIN_POINTS[kind]:
            raise ApiError(284, "Not enough points for the zone")
        if len(points) > MAX_POINTS[kind]:
            raise ApiError(202, "Too many points in zone")
        return [_location(p, "points") | {"node": True} for p in points]

    def zone_row(self, zone_id: int, with_points: bool) -> dict[str, Any]:
        zone = dict(self.zones[zone_id])
        if with_points and zone_id in self.zone_points:
            zone["points"] = self.zone_points[zone_id]
        return zone

    def zone_id(self, p: dict[str, Any]) -> int:
        zone_id = int_param(p, "zone_id")
        if zone_id not in self.zones:
            raise ApiError(201)
        return zone_id

    # --- places ---
    def store_place(self, place: object, place_id: int | None = None) -> int:
        if not isinstance(place, dict) or not str(place.get("label") or "").strip():
            raise ApiError(7, "Invalid parameters: place.label")
        place_id = place_id if place_id is not None else self.new_id("place")
        self.places[place_id] = {
            "id": place_id,
            "icon_id": place.get("icon_id"),
            "avatar_file_name": None,
            "location": _location(place.get("location"), "place.location", radius=True),
            "fields": {},
            "label": str(place["label"]),
            "description": place.get("description"),
            "tags": list(place.get("tags") or []),
            "external_id": place.get("external_id"),
        }
        return place_id

    # --- tasks ---
    def store_task(self, task: object, task_id: int | None = None) -> int:
        """Create (``task_id`` None) or update a task; ``tracker_id`` is ignored on update (task/assign)."""
        if not isinstance(task, dict) or not str(task.get("label") or "").strip():
            raise ApiError(7, "Invalid parameters: task.label")
        start, end = parse_local(task.get("from"), "task.from"), parse_local(task.get("to"), "task.to")
        if end <= start:
            raise ApiError(7, "Invalid parameters: task.to must be after task.from")
        now = local_time(self.clock.now())
        old = self.tasks.get(task_id) if task_id is not None else None
        tracker = old["tracker_id"] if old else self.check_tracker(task.get("tracker_id"))
        row = {
            "id": task_id if task_id is not None else self.new_id("task"),
            "user_id": 43568,
            "tracker_id": tracker,
            "location": _location(task.get("location"), "task.location", radius=True),
            "label": str(task["label"]),
            "description": task.get("description"),
            "creation_date": old["creation_date"] if old else now,
            "from": local_time(start),
            "to": local_time(end),
            "external_id": task.get("external_id"),
            "status": old["status"] if old else ("assigned" if tracker else "unassigned"),
            "status_change_date": old["status_change_date"] if old else now,
            "max_delay": int(task.get("max_delay") or 0),
            "min_stay_duration": int(task.get("min_stay_duration") or 0),
            "arrival_date": old["arrival_date"] if old else None,
            "stay_duration": old["stay_duration"] if old else 0,
            "origin": "api",
            "tags": list(task.get("tags") or []),
            "type": "task",
        }
        self.tasks[row["id"]] = row
        return row["id"]

    def check_tracker(self, value: object) -> int | None:
        """A tracker id a task may be assigned to (None: unassigned); 204 unknown, 208 blocked."""
        if value is None:
            return None
        if not isinstance(value, int) or value not in self.by_id:
            raise ApiError(204)
        if self.blocked_code(value):
            raise ApiError(208)
        return value

    def assign_task(self, task_id: int, tracker: object) -> None:
        task = self.tasks.get(task_id)
        if task is None:
            raise ApiError(201)
        if task["status"] not in ("unassigned", "assigned"):
            raise ApiError(255, "Invalid task state")
        task["tracker_id"] = self.check_tracker(tracker)
        task["status"] = "assigned" if task["tracker_id"] else "unassigned"
        task["status_change_date"] = local_time(self.clock.now())

    def set_task_status(self, task_id: int, status: str) -> None:
        """The simulator's own hand on a task (the vendor decides statuses: an arrival, a form): for tests."""
        if status not in TASK_STATUSES:
            raise ValueError(status)
        self.tasks[task_id]["status"] = status
        self.tasks[task_id]["status_change_date"] = local_time(self.clock.now())

    # --- the truth ---
    def objects_truth(self) -> dict[str, Any]:
        return {
            "zones": [self.zone_row(z, True) for z in sorted(self.zones)],
            "places": [self.places[k] for k in sorted(self.places)],
            "tasks": [self.tasks[k] for k in sorted(self.tasks)],
            "employees": self.employees,
        }
