"""An indoor fleet for the Safectory (BLE beacon) simulator: a warehouse in Bamberg. Trackables move along
its corridors between beacons and dwell at them; a tracker sometimes hears two beacons at once (two rows with
the same time). Same determinism and ``advance``/``latest`` contract as ``motion.Fleet``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import repeat

import numpy as np

from fleet.simulators.motion import (
    PARKED_EVERY,
    Clock,
    Fix,
    SimVehicle,
    Stream,
    Track,
    fix_offsets,
    make_identities,
    to_utc,
)

ORIGIN_LAT, ORIGIN_LON = 49.8976, 10.8788  # south-west corner of the hall
GROUND_ALTITUDE_M, FLOOR_HEIGHT_M = 262.0, 4.5
BEACON_UUID = "f7826da64fa24e988024bc5b71e0893e"
CORRIDOR_Y = {0: 10.0, 1: 30.0}  # every floor has one east-west corridor
LIFT_XY = (88.0, 10.0)
RSSI_AT_1M, PATH_LOSS = -59.0, 2.0
SECOND_BEACON_M, SECOND_BEACON_P = 15.0, 0.2  # a second beacon heard when this close, this often
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(ORIGIN_LAT))


@dataclass(frozen=True, slots=True)
class IndoorFix(Fix):
    beacon_id: int
    rssi: int  # dBm
    floor: int


@dataclass(frozen=True, slots=True)
class Beacon:
    id: int
    name: str
    uuid: str
    major: int
    minor: int
    lat: float
    lon: float
    floor: int
    battery_level: float


@dataclass(frozen=True, slots=True)
class Kind:
    weight: float
    name: str
    speed_kmh: tuple[float, float]
    dwell_s: tuple[int, int]
    floors: tuple[int, ...]
    models: tuple[str, ...]


KINDS = {
    "forklift": Kind(
        0.3, "Forklift", (8.0, 12.0), (20, 300), (0,), ("Linde E20", "Jungheinrich EFG 216", "Still RX20")
    ),
    "pallet": Kind(0.4, "Pallet", (5.0, 10.0), (300, 3600), (0,), ("Safectory Asset Tag",)),
    "person": Kind(0.3, "Worker", (3.0, 6.0), (60, 900), (0, 1), ("Safectory Badge",)),
}
DESTINATIONS = {  # name prefixes each kind travels to
    "forklift": ("Dock", "Aisle", "Packing", "Goods In", "Charging"),
    "pallet": ("Dock", "Aisle", "Packing", "Goods In"),
    "person": ("Dock", "Aisle", "Packing", "Goods In", "Operation", "Office", "Canteen", "Mezzanine", "Meeting"),
}


@lru_cache(maxsize=1)
def _layout() -> tuple[tuple[str, int, float, float], ...]:
    """(name, floor, x east m, y north m) of every beacon, relative to the origin."""
    ground = [(f"Dock {i + 1}", 0, 10.0 + 20.0 * i, 2.0) for i in range(4)]
    ground += [
        (f"Aisle {a}{k + 1}", 0, 15.0 + 20.0 * i, 18.0 + 12.0 * k) for i, a in enumerate("ABCD") for k in range(3)
    ]
    ground += [
        ("Goods In", 0, 3.0, 30.0),
        ("Packing Station", 0, 88.0, 25.0),
        ("Charging Station", 0, 88.0, 42.0),
        ("Lift (ground floor)", 0, *LIFT_XY),
    ]
    upper = [
        ("Operation Management", 1, 82.0, 42.0),
        ("Office 1", 1, 72.0, 42.0),
        ("Office 2", 1, 62.0, 42.0),
        ("Meeting Room", 1, 52.0, 42.0),
        ("Canteen", 1, 52.0, 24.0),
    ]
    upper += [(f"Mezzanine M{k + 1}", 1, 62.0 + 8.0 * k, 20.0) for k in range(4)]
    upper += [("Lift (first floor)", 1, *LIFT_XY)]
    return tuple(ground + upper)


def to_latlon(x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray | float, np.ndarray | float]:
    return ORIGIN_LAT + y / M_PER_DEG_LAT, ORIGIN_LON + x / M_PER_DEG_LON


@lru_cache(maxsize=1)
def floor_plan() -> tuple[Beacon, ...]:
    """The warehouse's beacons, ids 1..30; major 100 + floor, minor = id."""
    batteries = random.Random("safectory-beacons")
    beacons = []
    for i, (name, floor, x, y) in enumerate(_layout(), start=1):
        lat, lon = to_latlon(x, y)
        beacons.append(
            Beacon(
                i,
                name,
                BEACON_UUID,
                100 + floor,
                i,
                round(lat, 7),
                round(lon, 7),
                floor,
                round(batteries.uniform(35.0, 100.0), 1),
            )
        )
    return tuple(beacons)


@lru_cache(maxsize=1)
def _beacon_xy() -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per floor: beacon ids, x and y."""
    layout = _layout()
    out = {}
    for floor in CORRIDOR_Y:
        ids = [i for i, row in enumerate(layout, start=1) if row[1] == floor]
        out[floor] = (
            np.array(ids),
            np.array([layout[i - 1][2] for i in ids]),
            np.array([layout[i - 1][3] for i in ids]),
        )
    return out


@lru_cache(maxsize=8)
def destinations(category: str) -> tuple[int, ...]:
    """Ids of the beacons a category of trackable travels between."""
    prefixes = DESTINATIONS[category]
    return tuple(i for i, row in enumerate(_layout(), start=1) if row[0].startswith(prefixes))


def beacon_by_name(name: str) -> Beacon:
    return next(b for b in floor_plan() if b.name == name)


def corridor_path(a: tuple[float, float], b: tuple[float, float], floor: int) -> np.ndarray:
    """Waypoints from a to b: out to the floor's corridor, along it, and in again."""
    cy = CORRIDOR_Y[floor]
    points = [a, (a[0], cy), (b[0], cy), b]
    path = [points[0]]
    for p in points[1:]:
        if p != path[-1]:
            path.append(p)
    return np.array(path, dtype=float)


class IndoorTrack(Track):
    __slots__ = (
        "device",
        "kind",
        "category",
        "rng",
        "np",
        "clock",
        "interval",
        "beacon",
        "x",
        "y",
        "floor",
        "odometer",
        "battery",
        "queue",
        "first",
    )

    def __init__(self, vehicle: SimVehicle, seed: int, t0: int, interval: float, clock: Clock) -> None:
        super().__init__(t0 + 1)
        self.device, self.category, self.kind, self.clock = (
            vehicle.index,
            vehicle.category,
            KINDS[vehicle.category],
            clock,
        )
        self.rng, self.interval = random.Random(seed * 100003 + vehicle.index), interval
        self.np: np.random.Generator | None = None
        self.beacon = self.rng.choice(destinations(self.category))
        self.floor, self.x, self.y = _layout()[self.beacon - 1][1:]
        self.odometer = self.rng.uniform(0.0, 2e6)
        self.battery = self.rng.uniform(40.0, 100.0)
        self.queue: deque[tuple] = deque([("dwell", self.beacon)])
        self.first = True

    def plan(self) -> tuple[list[int], list[IndoorFix], int]:
        if self.np is None:
            self.np = np.random.default_rng((self.rng.getrandbits(63), self.device))
        if not self.queue:
            self._new_trip()
        kind, arg = self.queue.popleft()
        floor, battery = self.floor, self.battery  # as at the start of the leg
        if kind == "dwell":
            cols, duration = self._dwell(arg)
        elif kind == "move":
            cols, duration = self._move(arg)
        else:
            cols, duration = self._ride(arg)
        ignition = self.category == "forklift" and not (kind == "dwell" and self._at_charger())
        start = self.next_start
        times, fixes = self._fixes(start, cols, floor, ignition, battery)
        return times, fixes, start + duration

    def _new_trip(self) -> None:
        if self.category == "forklift" and self.battery < 30.0:
            dest = beacon_by_name("Charging Station").id
        else:
            dest = self.rng.choice([b for b in destinations(self.category) if b != self.beacon])
        dest_floor = _layout()[dest - 1][1]
        if dest_floor != self.floor:
            self.queue.extend([("move", LIFT_XY), ("ride", dest_floor)])
        self.queue.extend([("move", tuple(_layout()[dest - 1][2:])), ("dwell", dest)])
        self.beacon = dest

    def _still(self, offset: np.ndarray) -> dict[str, np.ndarray]:
        n = len(offset)
        return {
            "offset": offset,
            "x": np.full(n, self.x),
            "y": np.full(n, self.y),
            "speed": np.zeros(n),
            "course": np.zeros(n),
            "odometer": np.full(n, self.odometer),
        }

    def _dwell(self, beacon: int) -> tuple[dict[str, np.ndarray], int]:
        name = _layout()[beacon - 1][0]
        low, high = (600, 1800) if name == "Charging Station" else self.kind.dwell_s
        duration = self.rng.randint(low, high)
        every = self.interval * PARKED_EVERY
        first = self.rng.randrange(max(1, round(every))) if self.first else 0
        self.first = False
        # Stop a couple of metres beside the beacon rather than on it.
        self.x += self.rng.uniform(-2.0, 2.0)
        self.y += self.rng.uniform(-2.0, 2.0)
        cols = self._still(fix_offsets(first, duration, every, self.np))
        if name == "Charging Station":
            self.battery = min(100.0, self.battery + duration / 30.0)
        elif self.category != "forklift":
            self.battery = max(5.0, self.battery - duration / 36_000)
        return cols, duration

    def _move(self, target: tuple[float, float]) -> tuple[dict[str, np.ndarray], int]:
        path = corridor_path((self.x, self.y), target, self.floor)
        step = np.diff(path, axis=0)
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(step[:, 0], step[:, 1]))])
        speed = self.rng.uniform(*self.kind.speed_kmh) / 3.6
        duration = max(1, math.ceil(cum[-1] / speed))
        offset = fix_offsets(0, duration, self.interval, self.np)
        s = np.minimum(offset * speed, cum[-1])
        edge = np.clip(np.searchsorted(cum, s, "right") - 1, 0, max(len(step) - 1, 0))
        heading = np.degrees(np.arctan2(step[:, 0], step[:, 1])) % 360.0 if len(step) else np.zeros(1)
        reported = speed * 3.6 * (1.0 + 0.05 * self.np.standard_normal(len(s)))
        cols = {
            "offset": offset,
            "x": np.interp(s, cum, path[:, 0]),
            "y": np.interp(s, cum, path[:, 1]),
            "speed": np.where(s < cum[-1], reported, 0.0),
            "course": heading[edge],
            "odometer": self.odometer + s,
        }
        self.x, self.y = target
        self.odometer += float(cum[-1])
        if self.category == "forklift":
            self.battery = max(5.0, self.battery - cum[-1] / 400.0)
        return cols, duration

    def _ride(self, floor: int) -> tuple[dict[str, np.ndarray], int]:
        duration = self.rng.randint(15, 40)
        cols = self._still(fix_offsets(0, duration, self.interval, self.np))
        self.floor = floor  # reports during the ride still hear the departure floor's lift
        return cols, duration

    def _fixes(
        self, start: int, cols: dict[str, np.ndarray], floor: int, ignition: bool, battery: float
    ) -> tuple[list[int], list[IndoorFix]]:
        """One row per heard beacon: the nearest, and sometimes also the second nearest."""
        g, n = self.np, len(cols["offset"])
        x, y = cols["x"] + g.normal(0.0, 1.0, n), cols["y"] + g.normal(0.0, 1.0, n)
        ids, bx, by = _beacon_xy()[floor]
        dist = np.hypot(x[:, None] - bx[None, :], y[:, None] - by[None, :])
        nearest = np.argsort(dist, axis=1)[:, :2]
        rows = np.arange(n)
        second = (dist[rows, nearest[:, 1]] <= SECOND_BEACON_M) & (g.random(n) < SECOND_BEACON_P)
        row = np.concatenate([rows, rows[second]])
        pick = np.concatenate([nearest[:, 0], nearest[second, 1]])
        loss = 10 * PATH_LOSS * np.log10(np.maximum(dist[row, pick], 0.5))
        rssi = np.clip(np.rint(RSSI_AT_1M - loss + g.normal(0, 2.0, len(row))), -95, -40).astype(np.int64)
        order = np.lexsort((ids[pick], row))
        row, beacon, rssi = row[order], ids[pick][order], rssi[order]
        lat, lon = to_latlon(x[row], y[row])
        times = (cols["offset"][row] + start).tolist()
        k = len(times)
        power = 48.0 + battery / 50.0 if self.category == "forklift" else 3.0
        fixed = (repeat(True, k), repeat(ignition, k))  # BLE reports are always "valid"
        return times, list(
            map(
                IndoorFix,
                repeat(self.device, k),
                self.clock.stamps(times),
                np.round(lat, 7).tolist(),
                np.round(lon, 7).tolist(),
                repeat(GROUND_ALTITUDE_M + FLOOR_HEIGHT_M * floor, k),
                np.round(cols["speed"][row], 1).tolist(),
                np.round(cols["course"][row], 1).tolist(),
                *fixed,
                np.round(cols["odometer"][row], 1).tolist(),
                repeat(round(battery, 1), k),
                repeat(round(power, 2), k),
                repeat(0.0, k),
                np.round(1.5 + 2.5 * g.random(k), 1).tolist(),
                repeat(0, k),
                beacon.tolist(),
                rssi.tolist(),
                repeat(floor, k),
            )
        )

    def _at_charger(self) -> bool:
        return _layout()[self.beacon - 1][0] == "Charging Station"


class IndoorFleet(Stream):
    """n trackables in the Bamberg warehouse from start on."""

    def __init__(self, n: int, seed: int, start: datetime, report_interval: float = 5.0) -> None:
        self.start = self.now = to_utc(start)
        self.report_interval = max(1.0, float(report_interval))
        vehicles = make_identities(
            n,
            seed,
            {c: k.name for c, k in KINDS.items()},
            {c: k.weight for c, k in KINDS.items()},
            {c: k.models for c, k in KINDS.items()},
            salt="indoor",
        )
        self.vehicles = [dataclasses.replace(v, plate=f"WH-{v.index + 1:04d}") for v in vehicles]
        self.beacons: list[Beacon] = list(floor_plan())
        t0, clock = math.floor(self.start.timestamp()), Clock()
        self._set_tracks([IndoorTrack(v, seed, t0, self.report_interval, clock) for v in self.vehicles])
