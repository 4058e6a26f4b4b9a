"""What a live socket sends on connect and resync: `config` and `snapshot` (docs/live-protocol.md), built
with one query for the organisations and three for the devices (devices with their joins as plain values,
current tasks, current driver assignments), and
sent as `snapshot.part` frames and a final `snapshot` so no frame outgrows the server's message limit."""

import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from django.db import connection
from django.db.models import F, FloatField, Func, OuterRef, Subquery, TextField
from django.db.models.functions import Cast

from fleet.core.gcpause import gc_paused
from fleet.core.models import Organization
from fleet.core.scoping import User, org_ids_for_user
from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task
from fleet.tracking import drivers
from fleet.tracking.models import Device, Position
from fleet.tracking.state import DEFAULT_RULES, STATES, Rules, device_state, rules_from
from fleet.vendors.registry import CONNECTORS

ATTRS = ("battery_level", "fuel_l", "temperatures", "rssi", "floor", "address", "power_v")
CURRENT_TASK = lifecycle.OPEN
PART_DEVICES = 500  # devices in one snapshot frame at most
PART_BYTES = 256 * 1024  # and at most this many bytes (a quarter of Daphne's default message limit)


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
    # A big fleet's build allocates ~20 objects a device that live until it ends and makes no cycles: with the
    # collector's full passes over the web process meanwhile, 50,000 devices took 580-660 ms, paused 430-460 ms.
    with gc_paused():
        now = datetime.now(UTC)
        tasks, assigned = current_tasks(org_ids), drivers.assigned_at(org_ids, now)
        return Snapshot.of(now.timestamp(), columns(devices_of(org_ids), tasks, assigned, rules, now.timestamp()))


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
FIELDS = DENSE + CODED + SPARSE


@dataclass(slots=True)
class Snapshot:
    """Every device of a snapshot as columns, ready to be cut into frames (docs/live-protocol.md): coded columns
    are indices into `strings` (numbered in order of first use), sparse ones the (row, value) pairs of the rows
    whose value is set."""

    server_time: float
    cols: dict[str, Sequence]
    codes: dict[str, list[int]]
    strings: list[str | None]
    sparse: dict[str, list[tuple[int, object]]]
    sparse_rows: dict[str, list[int]]

    @classmethod
    def of(cls, server_time: float, columns: dict[str, Sequence]) -> "Snapshot":
        index: dict[str | None, int] = {}
        for f in CODED:
            for s in dict.fromkeys(columns[f]):  # each distinct value once, in order of first use
                index.setdefault(s, len(index))
        codes = {f: list(map(index.__getitem__, columns[f])) for f in CODED}
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


# What the snapshot reads of a device, by the name the code uses: plain values, no model instances (50,000
# devices with their account, group and driver would be 200,000 model objects), handled a column at a time.
DEVICE_VALUES = {
    "pk": "pk",
    "organization_id": "organization_id",
    "name": "name",
    "unique_id": "unique_id",
    "plate": "plate",
    "category": "category",
    "status": "status",
    "last_fix_time": "last_fix_time",
    "last_latitude": "last_latitude",
    "last_longitude": "last_longitude",
    "last_speed": "last_speed",
    "last_course": "last_course",
    "last_attributes": "last_attributes_json",  # as text, parsed by orjson: faster than the JSONField's json
    "battery_health": "attributes__battery_health",  # the one key of the device's attributes it shows
    "account_kind": "account__kind",
    "account_name": "account__name",
    "group_id": "group_id",
    "group_name": "group__name",
    "driver_name": "driver__name",  # the fixed driver's
    "valid": "valid",  # of the newest fix
}


# On PostgreSQL the newest fix's time as epoch seconds, computed by the database: Django's timestamptz loader
# parses each value in Python (~6 us a row: 0.3 s of a 50,000-device snapshot). Both this cast and
# datetime.timestamp() round the exact microseconds once, so the float is the one the live pushes carry.
FIX_EPOCH = Func(
    F("last_fix_time"), template="EXTRACT(EPOCH FROM %(expressions)s)::double precision", output_field=FloatField()
)


def devices_of(org_ids: list[int]) -> dict[str, tuple]:
    """DEVICE_VALUES of the organisations' devices in the snapshot's order, as one tuple per value (the newest
    fix's time as a datetime, or on PostgreSQL as epoch seconds: ``columns`` takes either)."""
    last_valid = Position.objects.filter(device_id=OuterRef("pk"), fix_time=OuterRef("last_fix_time"))
    last_valid = last_valid.order_by().values("valid")  # no default ordering: it would join Device
    devices = Device.objects.filter(organization_id__in=org_ids, retired__isnull=True).annotate(
        valid=Subquery(last_valid[:1]), last_attributes_json=Cast("last_attributes", TextField())
    )
    fields = dict(DEVICE_VALUES)
    if connection.vendor == "postgresql":
        devices = devices.annotate(last_fix_epoch=FIX_EPOCH)
        fields["last_fix_time"] = "last_fix_epoch"
    rows = devices.order_by("name", "pk").values_list(*fields.values())
    values = list(zip(*rows, strict=True)) or [()] * len(fields)
    return dict(zip(fields, values, strict=True))


def columns(v: dict[str, tuple], tasks: dict, assigned: dict[int, str], rules: dict[int, Rules], now: float) -> dict:
    """The snapshot's FIELDS, one sequence each, from the devices' values."""
    has_fix = [t is not None for t in v["last_fix_time"]]
    attrs = [(orjson.loads(a) if a else None) or {} for a in v["last_attributes"]]
    fix = [t.timestamp() if isinstance(t, datetime) else t for t in v["last_fix_time"]]
    ignition = [a.get("ignition") for a in attrs]
    limits = {o: (r.speed_threshold_kmh, r.stale_after_s) for o, r in rules.items()}
    default = (DEFAULT_RULES.speed_threshold_kmh, DEFAULT_RULES.stale_after_s)
    per_device = zip(fix, v["valid"], v["last_speed"], ignition, v["organization_id"], strict=True)
    labels = {kind: connector[0] for kind, connector in CONNECTORS.items()}
    return {
        "id": v["pk"],
        "org": v["organization_id"],
        "name": v["name"],
        "unique_id": v["unique_id"],
        "group": v["group_id"],
        "fix": fix,
        "lat": if_fixed(v["last_latitude"], has_fix),
        "lon": if_fixed(v["last_longitude"], has_fix),
        "speed": if_fixed(v["last_speed"], has_fix),
        "course": if_fixed(v["last_course"], has_fix),
        "valid": if_fixed([ok is not False for ok in v["valid"]], has_fix),  # no stored position: valid
        "ignition": if_fixed(ignition, has_fix),
        "category": v["category"],
        "vendor": v["account_kind"],
        "vendor_label": [labels.get(kind) for kind in v["account_kind"]],
        "account": v["account_name"],
        "group_name": v["group_name"],
        "state": [device_state(t, ok, speed, on, now, *limits.get(o, default)) for t, ok, speed, on, o in per_device],
        "status": v["status"],
        "plate": v["plate"],
        "driver": [assigned.get(pk, name) for pk, name in zip(v["pk"], v["driver_name"], strict=True)],
        "attrs": [{k: a[k] for k in ATTRS if k in a} for a in attrs],
        "task": [tasks.get(pk) for pk in v["pk"]],
        "battery_health": [battery_health(health) for health in v["battery_health"]],
    }


def if_fixed(values: Sequence, has_fix: list[bool]) -> list:
    """The values of the devices that have a fix, None for the others."""
    return [x if fixed else None for x, fixed in zip(values, has_fix, strict=True)]


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
