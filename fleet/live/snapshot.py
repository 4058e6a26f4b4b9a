"""What a live socket sends on connect and resync: `config` and `snapshot` (docs/live-protocol.md), built
with one query for the organisations and three for the devices (devices with their joins as plain values,
current tasks, current driver assignments), and
sent as `snapshot.part` frames and a final `snapshot` so no frame outgrows the server's message limit."""

import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import orjson
from django.db.models import OuterRef, Subquery

from fleet.core.models import Organization
from fleet.core.scoping import User, org_ids_for_user
from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task
from fleet.tracking import drivers
from fleet.tracking.models import Device, Position
from fleet.tracking.state import DEFAULT_RULES, STATES, Rules, rules_from, state_of_device
from fleet.vendors.registry import CONNECTORS

ATTRS = ("battery_level", "fuel_l", "temperatures", "rssi", "floor", "address", "power_v")
CURRENT_TASK = lifecycle.OPEN
PART_DEVICES = 500  # devices in one snapshot frame at most
PART_BYTES = 256 * 1024  # and about this many bytes (a quarter of Daphne's default message limit)


def visible_org_ids(user: User) -> list[int]:
    """The organisations whose groups a socket joins: the user's, or every one for a superuser."""
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    return sorted(org_ids_for_user(user))


def config(org_ids: list[int]) -> tuple[dict, dict[int, Rules]]:
    orgs = list(Organization.objects.filter(pk__in=org_ids).order_by("name", "pk"))
    frame = {
        "type": "config",
        "server_time": time.time(),
        "orgs": [
            {
                "id": o.pk,
                "name": o.name,
                "timezone": o.timezone,
                "speed_unit": o.speed_unit,
                "distance_unit": o.distance_unit,
                "speed_threshold_kmh": o.speed_threshold_kmh,
                "stale_after_s": o.stale_after_minutes * 60,
            }
            for o in orgs
        ],
        "states": STATES,
    }
    return frame, {o.pk: rules_from(o) for o in orgs}


def snapshot(org_ids: list[int], rules: dict[int, Rules]) -> dict:
    now = datetime.now(UTC)
    tasks = current_tasks(org_ids)
    devices, rows = [], devices_of(org_ids)
    timelines = drivers.timelines(rows, now, now, org_ids=org_ids)
    for d in rows:
        state = state_of_device(d, now, rules.get(d.organization_id, DEFAULT_RULES), d.valid)
        devices.append(device_entry(d, tasks.get(d.pk), state, timelines[d.pk].at(now)))
    return {"type": "snapshot", "server_time": now.timestamp(), "devices": devices}


def encode(frame: dict) -> list[bytes]:
    """A snapshot as JSON frames: `snapshot.part`s of at most PART_DEVICES devices and about PART_BYTES,
    then `snapshot` with the rest; a small fleet's snapshot is the one `snapshot` frame."""
    frames, chunk, size = [], [], 0
    for device in frame["devices"]:
        raw = orjson.dumps(device)
        if chunk and (len(chunk) >= PART_DEVICES or size + len(raw) > PART_BYTES):
            frames.append(b'{"type":"snapshot.part","devices":[' + b",".join(chunk) + b"]}")
            chunk, size = [], 0
        chunk.append(raw)
        size += len(raw) + 1
    head = orjson.dumps({"type": "snapshot", "server_time": frame["server_time"]})[:-1]
    frames.append(head + b',"devices":[' + b",".join(chunk) + b"]}")
    return frames


@dataclass(slots=True)
class Named:
    """A joined row's name (a driver's): what ``Timeline`` and the entry read of it."""

    name: str


@dataclass(slots=True)
class Row:
    """One device as the snapshot reads it: plain values, no model instances (50,000 devices with their account,
    group and driver are 200,000 model objects: most of a big fleet's snapshot time)."""

    pk: int
    organization_id: int
    name: str
    unique_id: str
    plate: str
    category: str
    status: str
    last_fix_time: datetime | None
    last_latitude: float | None
    last_longitude: float | None
    last_speed: float | None
    last_course: float | None
    last_attributes: dict | None
    attributes: dict | None
    account_kind: str | None
    account_name: str | None
    group_id: int | None
    group_name: str | None
    driver_id: int | None
    driver_name: str | None
    valid: bool | None
    driver: Named | None = None

    def __post_init__(self) -> None:
        self.driver = Named(self.driver_name) if self.driver_id is not None else None


DEVICE_VALUES = [f.name for f in fields(Row) if f.name != "driver"]
_LOOKUPS = {
    "account_kind": "account__kind",
    "account_name": "account__name",
    "group_name": "group__name",
    "driver_name": "driver__name",
}


def devices_of(org_ids: list[int]) -> list[Row]:
    last_valid = Position.objects.filter(device_id=OuterRef("pk"), fix_time=OuterRef("last_fix_time"))
    last_valid = last_valid.order_by().values("valid")  # no default ordering: it would join Device
    rows = (
        Device.objects.filter(organization_id__in=org_ids, retired__isnull=True)
        .annotate(valid=Subquery(last_valid[:1]))
        .order_by("name", "pk")
        .values_list(*(_LOOKUPS.get(name, name) for name in DEVICE_VALUES))
    )
    return [Row(*values) for values in rows]


def current_tasks(org_ids: list[int]) -> dict[int, dict]:
    """Device pk -> its newest task that is created or in progress."""
    rows = (
        Task.objects.filter(organization_id__in=org_ids, device__isnull=False, status__in=CURRENT_TASK)
        .order_by("device_id", "-created", "-pk")
        .values_list("device_id", "pk", "order_ref", "status", "destination")
    )
    out: dict[int, dict] = {}
    for device_id, pk, ref, status, point in rows:
        if device_id not in out:
            out[device_id] = {"id": pk, "order_ref": ref, "status": status, "lat": point.y, "lon": point.x}
    return out


def device_entry(d: Row, task: dict | None, state: str, driver) -> dict:
    attrs = d.last_attributes or {}
    has_fix = d.last_fix_time is not None
    kind = d.account_kind
    return {
        "id": d.pk,
        "org": d.organization_id,
        "name": d.name,
        "unique_id": d.unique_id,
        "plate": d.plate,
        "category": d.category,
        "vendor": kind,
        "vendor_label": CONNECTORS[kind][0] if kind in CONNECTORS else None,
        "account": d.account_name,
        "group": d.group_id,
        "group_name": d.group_name,
        "driver": driver.name if driver else None,
        "fix": d.last_fix_time.timestamp() if has_fix else None,
        "lat": d.last_latitude if has_fix else None,
        "lon": d.last_longitude if has_fix else None,
        "speed": d.last_speed if has_fix else None,
        "course": d.last_course if has_fix else None,
        "valid": (d.valid if d.valid is not None else True) if has_fix else None,
        "ignition": attrs.get("ignition") if has_fix else None,
        "state": state,
        "status": d.status,
        "attrs": {k: attrs[k] for k in ATTRS if k in attrs},
        "task": task,
        "battery_health": battery_health(d.attributes),
    }


def battery_health(attributes: dict | None) -> str | None:
    """A vendor's battery health of the device (fleet-v2), in a few words: "Check · 12.31 V · score 58"."""
    health = (attributes or {}).get("battery_health")
    if not isinstance(health, dict):
        return None
    parts = [str(health["prediction"])] if health.get("prediction") else []
    if isinstance(health.get("voltage"), int | float):
        parts.append(f"{health['voltage']:.2f} V")
    if isinstance(health.get("score"), int | float):
        parts.append(f"score {health['score']:.0f}")
    return " · ".join(parts) or None
