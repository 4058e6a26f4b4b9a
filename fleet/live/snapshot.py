"""What a live socket sends on connect and resync: `config` and `snapshot` (docs/live-protocol.md), built
with one query for the organisations and three for the devices (devices with their joins as plain values,
current tasks, current driver assignments), and
sent as `snapshot.part` frames and a final `snapshot` so no frame outgrows the server's message limit."""

import time
from bisect import bisect_left
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
PART_BYTES = 256 * 1024  # and at most this many bytes (a quarter of Daphne's default message limit)
NO_FIX = (None,) * 7  # fix, lat, lon, speed, course, valid, ignition of a device that never reported


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


def snapshot(org_ids: list[int], rules: dict[int, Rules]) -> "Snapshot":
    now = datetime.now(UTC)
    tasks = current_tasks(org_ids)
    rows = devices_of(org_ids)
    assigned = drivers.assigned_at(org_ids, now)
    entries = [
        device_entry(
            d,
            tasks.get(d.pk),
            state_of_device(d, now, rules.get(d.organization_id, DEFAULT_RULES), d.valid),
            assigned.get(d.pk, d.driver_name),
        )
        for d in rows
    ]
    columns = zip(*entries, strict=True) if entries else ([] for _ in FIELDS)
    return Snapshot.of(now.timestamp(), dict(zip(FIELDS, map(list, columns), strict=True)))


def encode(snap: "Snapshot") -> list[bytes]:
    """A snapshot as JSON frames: `snapshot.part`s of at most PART_DEVICES devices and at most PART_BYTES (a part
    over it is halved until it fits), then `snapshot` with the rest; a small fleet's is the one `snapshot`."""
    frames, start, sent = [], 0, 0
    while not frames or start < len(snap):
        end = min(len(snap), start + PART_DEVICES)
        raw, top = snap.frame(start, end, sent)
        while len(raw) > PART_BYTES and end - start > 1:
            end = start + (end - start) // 2
            raw, top = snap.frame(start, end, sent)
        frames.append(raw)
        start, sent = end, top
    return frames


DENSE = ("id", "org", "name", "unique_id", "group", "fix", "lat", "lon", "speed", "course", "valid", "ignition")
CODED = ("category", "vendor", "vendor_label", "account", "group_name", "state", "status")  # few distinct values
SPARSE = ("plate", "driver", "attrs", "task", "battery_health")  # mostly empty
FIELDS = DENSE + CODED + SPARSE  # the order of device_entry's tuple


@dataclass(slots=True)
class Snapshot:
    """Every device of a snapshot as columns, ready to be cut into frames (docs/live-protocol.md): coded columns
    are indices into `strings` (numbered in order of first use), sparse ones the (row, value) pairs of the rows
    whose value is set."""

    server_time: float
    cols: dict[str, list]
    codes: dict[str, list[int]]
    strings: list[str | None]
    sparse: dict[str, list[tuple[int, object]]]
    sparse_rows: dict[str, list[int]]

    @classmethod
    def of(cls, server_time: float, columns: dict[str, list]) -> "Snapshot":
        index: dict[str | None, int] = {}
        codes = {f: [index.setdefault(s, len(index)) for s in columns[f]] for f in CODED}
        sparse = {f: [(i, v) for i, v in enumerate(columns[f]) if v] for f in SPARSE}
        rows = {f: [i for i, _ in pairs] for f, pairs in sparse.items()}
        return cls(server_time, {f: columns[f] for f in DENSE}, codes, list(index), sparse, rows)

    def __len__(self) -> int:
        return len(self.cols["id"])

    def fixes(self) -> dict[int, float]:
        """Device id -> the fix the snapshot gives it."""
        return {i: fix for i, fix in zip(self.cols["id"], self.cols["fix"], strict=True) if fix is not None}

    def frame(self, start: int, end: int, sent: int) -> tuple[bytes, int]:
        """Devices [start, end) as one frame, with the strings they use that the frames before (which sent
        strings[:sent]) did not; and how many strings the browser has after it."""
        codes = {f: c[start:end] for f, c in self.codes.items()}
        top = max([sent, *(max(c) + 1 for c in codes.values() if c)])
        head = {"type": "snapshot", "server_time": self.server_time} if end == len(self) else {"type": "snapshot.part"}
        sparse = {}
        for f, pairs in self.sparse.items():
            lo, hi = bisect_left(self.sparse_rows[f], start), bisect_left(self.sparse_rows[f], end)
            if lo < hi:
                sparse[f] = [(i - start, v) for i, v in pairs[lo:hi]]
        body = {
            **head,
            "strings": self.strings[sent:top],
            "cols": {f: c[start:end] for f, c in self.cols.items()},
            "codes": codes,
            "sparse": sparse,
        }
        return orjson.dumps(body), top


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
    battery_health: dict | None  # the one key of the device's attributes the snapshot shows
    account_kind: str | None
    account_name: str | None
    group_id: int | None
    group_name: str | None
    driver_name: str | None  # the fixed driver's
    valid: bool | None


DEVICE_VALUES = [f.name for f in fields(Row)]
_LOOKUPS = {
    "battery_health": "attributes__battery_health",
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


def device_entry(d: Row, task: dict | None, state: str, driver: str | None) -> tuple:
    """One device's values in FIELDS order."""
    attrs = d.last_attributes or {}
    kind = d.account_kind
    if d.last_fix_time is None:
        fix = NO_FIX
    else:
        valid = d.valid if d.valid is not None else True
        position = (d.last_latitude, d.last_longitude, d.last_speed, d.last_course)
        fix = (d.last_fix_time.timestamp(), *position, valid, attrs.get("ignition"))
    return (
        d.pk,
        d.organization_id,
        d.name,
        d.unique_id,
        d.group_id,
        *fix,
        d.category,
        kind,
        CONNECTORS[kind][0] if kind in CONNECTORS else None,
        d.account_name,
        d.group_name,
        state,
        d.status,
        d.plate,
        driver,
        {k: attrs[k] for k in ATTRS if k in attrs},
        task,
        battery_health(d.battery_health),
    )


def battery_health(health: object) -> str | None:
    """A vendor's battery health of the device (fleet-v2, its `battery_health` attribute), in a few words:
    "Check · 12.31 V · score 58"."""
    if not isinstance(health, dict):
        return None
    parts = [str(health["prediction"])] if health.get("prediction") else []
    if isinstance(health.get("voltage"), int | float):
        parts.append(f"{health['voltage']:.2f} V")
    if isinstance(health.get("score"), int | float):
        parts.append(f"score {health['score']:.0f}")
    return " · ".join(parts) or None
