"""Deterministic vehicles on real streets: the truth every vendor simulator renders.

Each vehicle alternates parking (ignition off) at a place and driving to another along the fastest path of
``roads``, planning one whole leg at a time from its own random generators, so the fixes depend only on
(n, seed, start, report_interval), never on how ``advance`` calls are chunked.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np

from fleet.simulators import roads

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PARKED_EVERY = 6  # parked trackers report report_interval * 6
PARK_S = (120, 1800)
INVALID_SHARE = 0.005
GAP_SHARE, GAP_S = 0.01, (60, 300)  # share of drive time without fixes, gap length
STOP_S = (10.0, 60.0)  # traffic stop length
STOP_P_SIGNAL, STOP_P_JUNCTION, STOP_SPACING_M = 0.1, 0.03, 100.0
IDLE_BEFORE_S, IDLE_AFTER_S = (3.0, 25.0), (2.0, 12.0)
DRIVE_SIGMA_M, PARKED_SIGMA_M = 2.0, 2.5  # GPS noise


@dataclass(frozen=True, slots=True)
class Fix:
    device: int
    time: datetime
    lat: float
    lon: float
    altitude: float
    speed_kmh: float
    course: float
    valid: bool
    ignition: bool
    odometer_m: float
    battery_level: float
    power_v: float
    fuel_l: float
    accuracy: float
    satellites: int


@dataclass(frozen=True, slots=True)
class SimVehicle:
    index: int
    unique_id: str
    name: str
    plate: str
    category: str
    phone: str
    model: str


@dataclass(frozen=True, slots=True)
class Spec:
    weight: float  # share of the fleet
    accel: tuple[float, float]  # m/s²
    brake: tuple[float, float]
    cruise: tuple[float, float]  # share of the speed limit
    tank_l: float
    l_per_km: float
    idle_l_per_s: float
    models: tuple[str, ...]


CAR_MODELS = ("Toyota Corolla", "Skoda Octavia", "Volkswagen Golf", "Kia Ceed")
VAN_MODELS = ("Ford Transit", "Mercedes-Benz Sprinter", "Volkswagen Crafter", "Renault Master")
TRUCK_MODELS = ("Volvo FH", "Scania R450", "MAN TGX", "Mercedes-Benz Actros")
SPECS = {
    "car": Spec(0.45, (2.0, 2.5), (2.2, 3.0), (0.90, 1.05), 50, 0.075, 0.8 / 3600, CAR_MODELS),
    "van": Spec(0.40, (1.7, 2.2), (2.0, 2.8), (0.87, 1.02), 80, 0.105, 1.0 / 3600, VAN_MODELS),
    "truck": Spec(0.15, (1.5, 1.8), (1.8, 2.4), (0.85, 0.97), 300, 0.28, 2.5 / 3600, TRUCK_MODELS),
}


def to_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def make_identities(
    n: int,
    seed: int,
    names: dict[str, str],
    weights: dict[str, float],
    models: dict[str, tuple[str, ...]],
    salt: str = "road",
) -> list[SimVehicle]:
    """Give n devices unique IMEIs, names, plates and phones, all derived from seed (and salt)."""
    if not 0 <= n <= 1_000_000:
        raise ValueError("n must be between 0 and 1,000,000")
    rng = random.Random(f"fleet-identities-{salt}-{seed}")
    tac = "35" + "".join(rng.choice("0123456789") for _ in range(6))
    serial0, plate0, phone0 = rng.randrange(10**6), rng.randrange(17_558_424), rng.randrange(10**7)
    counts = dict.fromkeys(weights, 0)
    vehicles = []
    for i in range(n):
        category = rng.choices(list(weights), list(weights.values()))[0]
        counts[category] += 1
        body = tac + f"{(serial0 + i * 7919) % 10**6:06d}"
        vehicles.append(
            SimVehicle(
                index=i,
                unique_id=body + luhn_digit(body),
                name=f"{names[category]} {counts[category]:02d}",
                plate=plate(plate0 + i * 1_000_003),
                category=category,
                phone=f"+358 40 {(phone0 + i * 7_654_321) % 10**7:07d}",
                model=rng.choice(models[category]),
            )
        )
    return vehicles


def plate(k: int) -> str:
    letters, number = divmod(k % 17_558_424, 999)
    a, rest = divmod(letters, 676)
    b, c = divmod(rest, 26)
    return f"{chr(65 + a)}{chr(65 + b)}{chr(65 + c)}-{number + 1}"


class Clock:
    """Share one datetime object per whole second."""

    def __init__(self) -> None:
        self._cache: dict[int, datetime] = {}

    def stamps(self, times: list[int]) -> list[datetime]:
        cache = self._cache
        out = list(map(cache.get, times))
        if None in out:
            if len(cache) > 200_000:
                cache.clear()
            for i, t in enumerate(times):
                if out[i] is None:
                    out[i] = cache[t] = EPOCH + timedelta(seconds=t)
        return out


class Track:
    """One device's buffer of planned fixes; subclasses plan the next leg."""

    __slots__ = ("times", "fixes", "cursor", "last", "next_start")

    def __init__(self, first_leg_start: int) -> None:
        self.times: list[int] = []
        self.fixes: list[Any] = []
        self.cursor = 0
        self.last: Any = None
        self.next_start = first_leg_start

    def plan(self) -> tuple[list[int], list[Any], int]:
        """Return the next leg's fix times, fixes and end (the following leg's start)."""
        raise NotImplementedError

    def due(self) -> int:
        """Time of the next fix, or of the next leg's start when the buffer is empty."""
        return self.times[self.cursor] if self.cursor < len(self.times) else self.next_start

    def take(self, limit: int, fixes: list[Any], times: list[int]) -> None:
        while True:
            cur, ts = self.cursor, self.times
            if cur < len(ts):
                if ts[cur] > limit:
                    return
                cut = len(ts) if ts[-1] <= limit else bisect_right(ts, limit, cur)
                fixes.extend(self.fixes[cur:cut])
                times.extend(ts[cur:cut])
                self.cursor = cut
                self.last = self.fixes[cut - 1]
                if cut < len(ts):
                    return
            if self.next_start > limit:
                return
            self.times, self.fixes, self.next_start = self.plan()
            self.cursor = 0


class Stream:
    """The advance/latest contract shared by outdoor and indoor fleets."""

    vehicles: list[SimVehicle]
    now: datetime
    _tracks: list[Track]
    _due: np.ndarray  # per track: the earliest time it has something to report

    def _set_tracks(self, tracks: list[Track]) -> None:
        self._tracks = tracks
        self._due = np.array([track.due() for track in tracks], dtype=np.int64)

    def advance(self, until: datetime) -> list[Any]:
        """Generate every fix with start < time <= until not yet generated, sorted by (time, device)."""
        until = to_utc(until)
        if until <= self.now:
            return []
        limit = math.floor(until.timestamp())
        fixes: list[Any] = []
        times: list[int] = []
        due, tracks = self._due, self._tracks
        for i in np.flatnonzero(due <= limit).tolist():
            tracks[i].take(limit, fixes, times)
            due[i] = tracks[i].due()
        self.now = until
        # Tracks are visited in device order, so a stable sort by time gives (time, device, ...).
        order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
        return [fixes[i] for i in order.tolist()]

    def latest(self) -> list[Any]:
        return [track.last for track in self._tracks]


def fix_offsets(first: int, duration: int, every: float, rng: np.random.Generator) -> np.ndarray:
    """Whole-second offsets first, first+every, ... below duration, jittered by ±1 s.

    Flooring keeps them strictly increasing for every >= 1; jitter needs every >= 3 to keep that.
    """
    offsets = np.floor(np.arange(first, duration, every)).astype(np.int64)
    if every >= 3 and len(offsets) > 1:
        offsets[1:] += (rng.random(len(offsets) - 1) * 3.0).astype(np.int64) - 1
        if offsets[-1] >= duration:
            offsets = offsets[:-1]
    return offsets


# Rows of a leg's float matrix, and the decimals each is reported with.
LAT, LON, ALT, SPEED, COURSE, ODO, BATTERY, POWER, FUEL, ACCURACY = range(10)
SCALE = np.array([1e7, 1e7, 10, 10, 10, 10, 10, 100, 100, 10])[:, None]


def gps_quality(u: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy (m) and satellites from one uniform draw: more satellites, better accuracy."""
    accuracy = np.where(valid, 2.5 + 6.0 * (1.0 - u) ** 2, 99.9)
    satellites = np.where(valid, 6 + u * 9, u * 4).astype(np.int64)
    return accuracy, satellites


class VehicleTrack(Track):
    __slots__ = (
        "device",
        "spec",
        "rng",
        "np",
        "clock",
        "interval",
        "node",
        "odometer",
        "fuel",
        "battery",
        "reported",
        "park_next",
        "first_park",
    )

    def __init__(self, vehicle: SimVehicle, seed: int, t0: int, interval: float, clock: Clock) -> None:
        rng = random.Random(seed * 100003 + vehicle.index)
        super().__init__(t0 + 1)
        self.device, self.spec, self.rng, self.clock = vehicle.index, SPECS[vehicle.category], rng, clock
        self.interval = interval
        self.np: np.random.Generator | None = None  # created on first use: keeps construction cheap
        self.node = rng.choice(roads.places()).node
        self.odometer = rng.uniform(5e6, 2.5e8)
        self.fuel = self.spec.tank_l * rng.uniform(0.2, 1.0)
        self.battery = rng.uniform(60.0, 100.0)
        g = roads.load_graph()
        # last reported lat, lon, altitude, course: what an invalid fix repeats
        self.reported = np.array([g.lat[self.node], g.lon[self.node], g.altitude[self.node], rng.uniform(0, 360)])
        self.park_next, self.first_park = True, True

    def plan(self) -> tuple[list[int], list[Fix], int]:
        if self.np is None:
            self.np = np.random.default_rng((self.rng.getrandbits(63), self.device))
        start = self.next_start
        if self.park_next:
            offset, m, valid, satellites, duration = self._park()
        else:
            offset, m, valid, satellites, duration = self._drive()
        ignition = not self.park_next
        self.park_next = not self.park_next
        times = (offset + start).tolist()
        n = len(times)
        floats = (np.rint(m * SCALE) / SCALE).tolist()  # rows LAT..ACCURACY, see SCALE
        stamps, flags = self.clock.stamps(times), (valid.tolist(), repeat(ignition, n))
        fixes = list(
            map(Fix, repeat(self.device, n), stamps, *floats[: COURSE + 1], *flags, *floats[ODO:], satellites.tolist())
        )
        return times, fixes, start + duration

    def _park(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        g, rng = self.np, self.rng
        duration = self._park_duration()
        every = self._parked_every(duration)
        first = rng.randrange(max(1, round(every))) if self.first_park else 0
        self.first_park = False
        offset = fix_offsets(first, duration, every, g)
        n = len(offset)
        z, u = g.standard_normal((4, n)), g.random((3, n))
        valid = u[0] >= INVALID_SHARE
        graph = roads.load_graph()
        m = np.empty((10, n))
        m[LAT] = graph.lat[self.node] + z[0] * (PARKED_SIGMA_M / roads.M_PER_DEG_LAT)
        m[LON] = graph.lon[self.node] + z[1] * (PARKED_SIGMA_M / graph.m_per_deg_lon)
        m[ALT] = graph.altitude[self.node] + z[2]
        m[SPEED] = np.where(u[1] < 0.7, 0.0, 0.1 + (u[1] - 0.7) * 2.6)  # drift of a parked receiver
        m[COURSE] = self.reported[3]
        m[ODO] = self.odometer
        m[BATTERY] = np.maximum(self.battery - 0.0008 * offset, 5.0)
        m[POWER] = np.maximum(12.35 - offset / 36_000 + z[3] * 0.03, 12.0)  # resting battery, slowly draining
        m[FUEL] = self.fuel
        if self.fuel < 0.25 * self.spec.tank_l and duration > 300 and rng.random() < 0.6:
            self.fuel = self.spec.tank_l * rng.uniform(0.9, 1.0)
            m[FUEL, offset >= 120] = self.fuel
        self.battery = max(self.battery - 0.0008 * duration, 5.0)
        m[ACCURACY], satellites = gps_quality(u[2], valid)
        self._invalidate(m, valid)
        return offset, m, valid, satellites, duration

    def _park_duration(self) -> int:
        """Seconds the park that begins at ``next_start`` lasts (a working day's model lengthens some)."""
        return self.rng.randint(*PARK_S)

    def _parked_every(self, duration: int) -> float:
        """Seconds between the fixes of a park lasting ``duration``."""
        return self.interval * PARKED_EVERY

    def _drive(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        rng, spec, g = self.rng, self.spec, self.np
        dest = rng.choice(roads.places())
        while dest.node == self.node:
            dest = rng.choice(roads.places())
        r = roads.route(self.node, dest.node)
        t_pts, s_pts, v_pts = self._profile(r)
        duration = math.ceil(t_pts[-1])
        offset = fix_offsets(0, duration, self.interval, g)
        s = np.interp(offset, t_pts, s_pts)
        edge = np.minimum(np.maximum(np.searchsorted(r.cum_m, s, "left") - 1, 0), len(r.edges) - 1)
        keep = self._reception(offset, edge, r, duration)
        offset, s, edge = offset[keep], s[keep], edge[keep]
        n = len(offset)
        z, u = g.standard_normal((5, n)), g.random((2, n))
        valid = u[0] >= INVALID_SHARE
        m = np.empty((10, n))
        m[LAT] = np.interp(s, r.cum_m, r.lat) + z[0] * (DRIVE_SIGMA_M / roads.M_PER_DEG_LAT)
        m[LON] = np.interp(s, r.cum_m, r.lon) + z[1] * (DRIVE_SIGMA_M / roads.load_graph().m_per_deg_lon)
        m[ALT] = np.interp(s, r.cum_m, r.altitude) + z[2]
        v = np.interp(offset, t_pts, v_pts) * 3.6
        m[SPEED] = np.where(v > 1.0, v * (1.0 + 0.015 * z[3]), 0.0)
        m[COURSE] = np.where(s > 0.0, r.bearing[edge], self.reported[3])  # no heading before moving
        m[ODO] = self.odometer + s
        m[BATTERY] = np.minimum(self.battery + 0.01 * offset, 100.0)
        m[POWER] = np.minimum(np.maximum(13.9 + 0.15 * z[4], 13.2), 14.4)
        m[POWER, 0] = 12.1  # cranking dip at ignition on
        m[FUEL] = np.maximum(self.fuel - s * (spec.l_per_km / 1000) - offset * spec.idle_l_per_s, 0.0)
        m[ACCURACY], satellites = gps_quality(u[1], valid)
        self._invalidate(m, valid)
        self.odometer += r.length_m
        self.fuel = max(self.fuel - r.length_m * spec.l_per_km / 1000 - duration * spec.idle_l_per_s, 0.0)
        self.battery = min(self.battery + 0.01 * duration, 100.0)
        self.node = dest.node
        return offset, m, valid, satellites, duration

    def _profile(self, r: roads.Route) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times, distances and speeds (m/s) of the trip's breakpoints, idling included."""
        rng, spec = self.rng, self.spec
        target = np.minimum(r.grid_limit * rng.uniform(*spec.cruise), r.grid_turn_cap)
        stops, dwell = self._stops(r)
        at_stop = r.grid_node[stops]
        target[at_stop] = 0.0
        target[0] = target[-1] = 0.0
        v = speed_profile(r.grid_s, target, rng.uniform(*spec.accel), rng.uniform(*spec.brake))
        t = np.empty(len(v))
        t[0] = 0.0
        np.cumsum(2.0 * (r.grid_s[1:] - r.grid_s[:-1]) / np.maximum(v[:-1] + v[1:], 1e-3), out=t[1:])
        idle = rng.uniform(*IDLE_BEFORE_S)
        n = len(v)
        t_pts = np.empty(2 * n + 2)
        if len(stops):
            pause = np.zeros(n)
            pause[at_stop] = dwell
            leave = t + np.cumsum(pause)
            t_pts[1:-1:2], t_pts[2:-1:2] = leave - pause, leave
        else:
            t_pts[1:-1:2] = t_pts[2:-1:2] = t
        t_pts[1:-1] += idle
        t_pts[0], t_pts[-1] = 0.0, t_pts[-2] + rng.uniform(*IDLE_AFTER_S)
        s_pts = np.empty(2 * n + 2)
        s_pts[1:-1:2] = s_pts[2:-1:2] = r.grid_s
        s_pts[0], s_pts[-1] = 0.0, r.grid_s[-1]
        v_pts = np.zeros(2 * n + 2)
        v_pts[1:-1:2] = v_pts[2:-1:2] = v
        return t_pts, s_pts, v_pts

    def _stops(self, r: roads.Route) -> tuple[np.ndarray, np.ndarray]:
        """Pick the route nodes where traffic stops the vehicle, and for how long."""
        chance = stop_chances(int(r.nodes[0]), int(r.nodes[-1]))
        stops, last = [], -math.inf
        for i in np.flatnonzero(self.np.random(len(chance)) < chance).tolist():
            s = r.cum_m[i]
            if s - last >= STOP_SPACING_M:
                stops.append(i)
                last = s
        if not stops:
            return NO_STOPS, NO_STOPS
        return np.asarray(stops, dtype=np.int64), self.np.uniform(*STOP_S, len(stops))

    def _reception(self, offset: np.ndarray, edge: np.ndarray, r: roads.Route, duration: int) -> np.ndarray:
        """Which fixes get through: none in tunnels or in an occasional reception gap."""
        keep = ~r.tunnel[edge]
        if self.np.random() < duration * GAP_SHARE / (sum(GAP_S) / 2):
            begin = self.np.uniform(1, duration)
            keep &= (offset < begin) | (offset >= begin + self.np.integers(GAP_S[0], GAP_S[1] + 1))
        keep[0] = True  # the ignition-on report always gets through
        return keep

    def _invalidate(self, m: np.ndarray, valid: np.ndarray) -> None:
        """Make invalid fixes repeat the last reported position and course at speed 0."""
        position = [LAT, LON, ALT, COURSE]
        m[ALT] = np.minimum(np.maximum(m[ALT], 0.0), 60.0)
        if not valid.all():
            n = len(valid)
            ext = np.concatenate([self.reported[:, None], m[position]], axis=1)
            idx = np.maximum.accumulate(np.where(np.concatenate([[True], valid]), np.arange(n + 1), 0))
            m[position] = ext[:, idx[1:]]
            m[SPEED, ~valid] = 0.0
        if len(valid):
            self.reported = m[position, -1]


NO_STOPS = np.zeros(0, dtype=np.int64)


@lru_cache(maxsize=4096)
def stop_chances(source: int, target: int) -> np.ndarray:
    """Chance of a traffic stop at each node of the route: signals often, junctions sometimes."""
    r = roads.route(source, target)
    chance = np.where(r.signal, STOP_P_SIGNAL, np.where(r.junction, STOP_P_JUNCTION, 0.0))
    chance[(r.cum_m < 30.0) | (r.cum_m > r.length_m - 30.0)] = 0.0
    return chance


def speed_profile(s: np.ndarray, target: np.ndarray, accel: float, brake: float) -> np.ndarray:
    """Fastest speeds (m/s) at distances s under the targets, accel and brake limits.

    Solves v[i+1]² = min(target², v[i]² + 2·a·ds) forwards and the braking
    counterpart backwards in closed form with running minima.
    """
    w = target * target
    up = 2.0 * accel * s
    w = np.minimum.accumulate(w - up) + up
    down = 2.0 * brake * s
    w = np.minimum.accumulate((w + down)[::-1])[::-1] - down
    return np.sqrt(np.maximum(w, 0.0))


class Fleet(Stream):
    """n vehicles driving around central Helsinki from start on."""

    def __init__(self, n: int, seed: int, start: datetime, report_interval: float = 10.0) -> None:
        self.start = self.now = to_utc(start)
        self.report_interval = max(1.0, float(report_interval))
        self.vehicles = make_identities(
            n,
            seed,
            {c: c.title() for c in SPECS},
            {c: s.weight for c, s in SPECS.items()},
            {c: s.models for c, s in SPECS.items()},
        )
        t0, clock = math.floor(self.start.timestamp()), Clock()
        self._set_tracks([VehicleTrack(v, seed, t0, self.report_interval, clock) for v in self.vehicles])

    @property
    def places(self) -> list[roads.Place]:
        return roads.places()
