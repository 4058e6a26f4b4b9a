"""Bad vendor rows on demand: the damage each row knob does (the kinds are listed in docs/simulators.md, Bad
rows), which rows it picks (when a row is first served, then for good), and the ledger of the bad rows served
that the truth reports."""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fleet.simulators.state import INFINITY, MINUS_INFINITY, NAN, RECORDING

Doc = dict[str, Any]
Fmt = Callable[[float], str | None]

BODY_RESOURCES = ("devices", "groups", "drivers", "geofences", "beacons", "positions", "events")
# missing_ids: whole bodies served instead of a resource's list
BODIES: dict[str, Any] = {"null": None, "object": {"message": "Service temporarily unavailable"}}


def _attributes(**values: Any) -> Callable[[Doc], None]:
    def damage(doc: Doc) -> None:
        attrs = doc.get("attributes")
        doc["attributes"] = {**(attrs if isinstance(attrs, dict) else {}), **values}

    return damage


def _set(**values: Any) -> Callable[[Doc], None]:
    return lambda doc: doc.update(values)


def _drop(key: str) -> Callable[[Doc], None]:
    return lambda doc: doc.pop(key, None)


# nan_attributes: positions whose values are not finite, or absurd
VALUE_FAULTS: dict[str, Callable[[Doc], None]] = {
    "attributes: non-finite text": _attributes(fuel="NaN", power="Infinity", batteryLevel="-Infinity", odometer="NaN"),
    "attributes: non-finite numbers": _attributes(fuel=NAN, power=INFINITY, batteryLevel=MINUS_INFINITY, odometer=NAN),
    "course: NaN": _set(course=NAN),
    "speed: negative": _set(speed=-3.5),
    "speed: 50000 knots": _set(speed=50_000.0),
    "course: 400": _set(course=400.0),
    "course: -10": _set(course=-10.0),
    "altitude: 84916000 m": _set(altitude=84_916_000.0),
    "accuracy: negative": _set(accuracy=-7.0),
    "null island": _set(latitude=0.0, longitude=0.0),
}

_Y1999 = datetime(1999, 6, 15, tzinfo=UTC).timestamp()

# naive_times: (text served, its time, the vendor's formatter) -> the text served instead
TIME_FAULTS: dict[str, Callable[[str, float, Fmt], str | None]] = {
    "time: naive": lambda text, ts, fmt: text[:23],  # 2026-11-20T08:00:00.000, UTC by Traccar's convention
    "time: unreadable": lambda text, ts, fmt: "yesterday",
    "time: empty": lambda text, ts, fmt: "",
    "time: 1999": lambda text, ts, fmt: fmt(_Y1999 + ts % 86_400),
    "time: a day ahead": lambda text, ts, fmt: fmt(ts + 86_400),
}

_ATTRIBUTE_FAULTS = {
    "attributes: text": _set(attributes="ignition=true; fuel=20"),
    "attributes: list": _set(attributes=[{"fuel": 20}]),
    "attributes: null": _set(attributes=None),
}
# missing_ids: position and event rows, and extra rows of the lists
ROW_FAULTS = {"no deviceId": _drop("deviceId"), "deviceId: null": _set(deviceId=None), **_ATTRIBUTE_FAULTS}
LIST_FAULTS = {"no id": _drop("id"), "id: null": _set(id=None), **_ATTRIBUTE_FAULTS}
MISSING_KINDS = tuple(dict.fromkeys([*LIST_FAULTS, *ROW_FAULTS]))

# bad_geofences: lat-first areas near Helsinki that Traccar's WKT reader does not turn into a geofence
AREA_FAULTS: dict[str, str | None] = {
    "area: plain text": "Depot by the harbour",
    "area: point": "POINT (60.1699 24.9384)",
    "area: unclosed ring": "POLYGON ((60.16 24.93, 60.17 24.93, 60.17 24.95, 60.16 24.95))",
    "area: self-intersecting": "POLYGON ((60.16 24.93, 60.17 24.95, 60.17 24.93, 60.16 24.95, 60.16 24.93))",
    "area: out of range": "POLYGON ((794 -195, 795 -195, 795 -194, 794 -195))",
    "area: negative radius": "CIRCLE (60.1699 24.9384, -29)",
    "area: null": None,
}

BAD_POSITION_MODES = {1: "latitude: 91", 2: "latitude: NaN text", 3: "time: 2099"}  # the bad_positions knob
UNKNOWN_DEVICE = "unknown device"

# the knobs that damage served position and event rows, with the kinds that apply to each
ROW_KNOBS: dict[str, dict[str, dict[str, Any]]] = {
    "positions": {"nan_attributes": VALUE_FAULTS, "naive_times": TIME_FAULTS, "missing_ids": ROW_FAULTS},
    "events": {"naive_times": TIME_FAULTS, "missing_ids": ROW_FAULTS},
}
_MASK = 2**64 - 1
_SALTS = {"nan_attributes": 17, "naive_times": 19, "missing_ids": 23}
_TIME_FIELDS = {"positions": ("fixTime", "deviceTime"), "events": ("serverTime", "eventTime")}

BAD_GEOFENCE_ID = 900_001  # bad_geofences rows: ids from here
EXTRA_ID = 910_001  # extra list rows of missing_ids that have an id: ids from here
PHANTOM_ROW = 1_000_000_000  # a position or event of an unknown device: the id of the row it copies + this
PHANTOM_DEVICE = 9_000_000  # an unknown device: the id of the device it shadows + this


def _chance(key: int, salt: int) -> float:
    """A number in [0, 1) fixed by (key, salt), independent across salts (splitmix64's finaliser)."""
    x = (key * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return ((x ^ (x >> 31)) >> 11) / 2**53


def damage(doc: Doc, resource: str, kind: str, ts: float, fmt: Fmt) -> None:
    """Damage a rendered position or event row in place."""
    if kind in VALUE_FAULTS:
        VALUE_FAULTS[kind](doc)
    elif kind in TIME_FAULTS:
        naive_server = resource == "positions" and kind == "time: naive"
        for field in _TIME_FIELDS[resource] + (("serverTime",) if naive_server else ()):
            if doc.get(field):
                doc[field] = TIME_FAULTS[kind](doc[field], ts, fmt)
    else:
        ROW_FAULTS[kind](doc)


class BadRows:
    """Which position and event rows went bad, the extra bad rows of the lists, and the ledger of what was
    served (each bad row once, in serving order)."""

    def __init__(self, knobs: dict[str, Any], stats: Counter[str], resources: tuple[str, ...]) -> None:
        self.knobs = knobs  # the simulator's live fault knobs
        self.stats = stats
        self.kinds: dict[str, dict[int, str]] = {"positions": {}, "events": {}}
        self.ledger: dict[str, dict[Any, Doc]] = {r: {} for r in resources}
        self.bodies: dict[str, Counter[str]] = {kind: Counter() for kind in BODIES}
        self.extra_device_ids: set[int] = set()
        self.turns: Counter[tuple[str, str]] = Counter()

    def pick(self, resource: str, key: int, fresh: bool) -> str | None:
        """The fault of position or event row `key`; a row never served before may go bad now, for good."""
        decided = self.kinds[resource]
        if key in decided or not fresh:
            return decided.get(key)
        for name, catalogue in ROW_KNOBS[resource].items():
            knob = self.knobs.get(name)
            kinds = [k for k in knob["kinds"] if k in catalogue] if knob else []
            if kinds and _chance(key, _SALTS[name]) < knob["fraction"]:
                decided[key] = kinds[self.turns[name, resource] % len(kinds)]
                self.turns[name, resource] += 1
                self.stats[name] += 1
                return decided[key]
        return None

    def record(self, resource: str, key: Any, entry: Doc, knob: str | None = None) -> None:
        """Note a bad row served (each once); count it under `knob` in the fault stats if given."""
        if RECORDING.get() and key not in self.ledger[resource]:
            self.ledger[resource][key] = entry
            if knob:
                self.stats[knob] += 1

    def body(self, resource: str) -> str | None:
        """The kind of body ("null", "object") the resource answers instead of its list, if any."""
        knob = self.knobs.get("missing_ids")
        for kind in BODIES:
            if knob and resource in knob[f"{kind}_body"]:
                if RECORDING.get():
                    self.bodies[kind][resource] += 1
                return kind
        return None

    def extras(self, resource: str, rows: list[Doc]) -> list[Doc]:
        """The bad rows served after the good `rows` of a list resource."""
        out = self.bad_areas() if resource == "geofences" else []
        knob = self.knobs.get("missing_ids")
        kinds = [k for k in knob["kinds"] if k in LIST_FAULTS] if knob else []
        rounds = math.ceil(knob["fraction"] * len(rows)) if kinds else 0
        for n in range(rounds * len(kinds)):
            kind = kinds[n % len(kinds)]
            doc = _extra_copy(resource, rows[n // len(kinds) % len(rows)], n)
            LIST_FAULTS[kind](doc)
            if resource == "devices" and isinstance(doc.get("id"), int):
                self.extra_device_ids.add(doc["id"])
            entry = {"id": doc.get("id"), "kind": kind, "name": doc["name"]}
            self.record(resource, ("missing_ids", n), entry, "missing_ids")
            out.append(doc)
        return out

    def bad_areas(self) -> list[Doc]:
        knob = self.knobs.get("bad_geofences")
        out = []
        for n in range(knob["count"] if knob else 0):
            kind = knob["kinds"][n % len(knob["kinds"])]
            doc = {
                "id": BAD_GEOFENCE_ID + n,
                "attributes": {},
                "name": f"Broken area {n + 1}",
                "description": None,
                "area": AREA_FAULTS[kind],
                "calendarId": 0,
            }
            entry = {"id": doc["id"], "kind": kind, "name": doc["name"], "area": doc["area"]}
            self.record("geofences", ("bad_geofences", n), entry, "bad_geofences")
            out.append(doc)
        return out

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {resource: list(rows.values()) for resource, rows in self.ledger.items()}
        out.update({f"{kind}_bodies": dict(counts) for kind, counts in self.bodies.items()})
        return out


def _extra_copy(resource: str, row: Doc, n: int) -> Doc:
    """A copy of a good row under a new id and name (unique fields made unique too)."""
    doc = copy.deepcopy(row)
    doc["id"] = EXTRA_ID + n
    doc["name"] = f"{doc.get('name') or resource} (extra {n + 1})"
    if "uniqueId" in doc:
        doc["uniqueId"] = f"{doc['uniqueId']}-X{n + 1}"
    if resource == "beacons":
        doc["minor"] = 60_000 + n
    return doc
