"""Chart data: one device's series over time, and a fleet's days (distance, driving / idle / stopped share).

Series are columnar and downsampled on the server with min/max bucketing (docs/reports-engine.md, Charts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from fleet.reports import cache
from fleet.reports.cache import CachedRange
from fleet.reports.engine import Params, day_windows
from fleet.reports.tables import DATE, DISTANCE, DURATION, Column, Report, Table, Units
from fleet.tracking import store

MAX_POINTS = 4000


# ---------------------------------------------------------------------------------------- downsampling


def minmax_downsample(t: np.ndarray, v: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of (t, v), sorted by t: per time bucket the minimum and the maximum (NaNs dropped).

    Ties keep the earliest minimum and the latest maximum; a bucket with one fix, or with one value
    throughout, keeps one point."""
    t, v = np.asarray(t, dtype=np.float64), np.asarray(v, dtype=np.float64)
    known = np.isfinite(v)
    t, v = t[known], v[known]
    if len(t) <= max_points:
        return t, v
    buckets = max(1, max_points // 2)
    span = t[-1] - t[0]
    bucket = np.zeros(len(t), dtype=np.int64) if span <= 0 else ((t - t[0]) / span * buckets).astype(np.int64)
    np.minimum(bucket, buckets - 1, out=bucket)
    order = np.lexsort((v, bucket))  # by bucket, then value; stable, so equal values stay in time order
    sorted_bucket = bucket[order]
    edge = sorted_bucket[1:] != sorted_bucket[:-1]
    firsts, lasts = order[np.r_[True, edge]], order[np.r_[edge, True]]
    flat = v[firsts] == v[lasts]  # a bucket whose values are all equal needs one point, not two
    keep = np.union1d(firsts, lasts[~flat])  # sorted indices: time order
    return t[keep], v[keep]


# ---------------------------------------------------------------------------------------- device series


@dataclass
class Series:
    key: str
    label: str
    unit: str
    t: np.ndarray
    v: np.ndarray
    group: str = ""  # series of one group share a chart (the temperature sensors)

    def as_json(self, max_points: int = MAX_POINTS, decimals: int = 2) -> dict:
        t, v = minmax_downsample(self.t, self.v, max_points)
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "group": self.group or self.key,
            "t": np.round(t, 3).tolist(),
            "v": np.round(v, decimals).tolist(),
            "points": int(np.isfinite(self.v).sum()),
        }


@dataclass
class DeviceSeries:
    series: list[Series] = field(default_factory=list)
    omitted: list[dict] = field(default_factory=list)  # {"key", "label", "note"}
    positions: int = 0


def read_positions(device_id: int, start: datetime, end: datetime) -> dict[str, np.ndarray]:
    """The device's fixes in [start, end) as columns: t, speed, altitude, fuel, battery, and temperatures
    as an (n, sensors) array, sensor k in column k (NaN where a fix does not report it).

    All but the temperatures come from the store's window (closed days from the archive); the temperatures,
    which only some vehicles report (reefers), from the fixes that carry them."""
    track = store.window(device_id, start, end)
    readings: dict[int, list[float]] = {}
    for when, values in store.attribute(device_id, start, end, "temperatures"):
        i = int(np.searchsorted(track.t, when))
        if i < len(track) and track.t[i] == when:
            readings[i] = values
    temps = np.full((len(track), max(map(len, readings.values()), default=0)), np.nan)
    for i, values in readings.items():
        temps[i, : len(values)] = values
    columns = {"t": track.t, "speed": track.speed, "altitude": track.altitude, "fuel": track.fuel}
    return {**columns, "battery": track.battery, "temperatures": temps}


def device_series(device, start: datetime, end: datetime, units: Units) -> DeviceSeries:
    """Speed, altitude, fuel, battery and temperatures of one device; series it never reports are omitted."""
    cols = read_positions(device.pk, start, end)
    result = DeviceSeries(positions=len(cols["t"]))
    altitude_factor, altitude_unit = units.altitude
    candidates = [
        ("speed", "Speed", units.speed[1], cols["speed"] * units.speed[0]),
        ("altitude", "Altitude", altitude_unit, cols["altitude"] * altitude_factor),
        ("fuel", "Fuel", units.volume[1], cols["fuel"] * units.volume[0]),
        ("battery", "Battery", "%", cols["battery"]),
    ]
    temps = cols["temperatures"]
    for k in range(temps.shape[1]):
        label = "Temperature" if temps.shape[1] == 1 else f"Temperature {k + 1}"
        candidates.append((f"temperature{k + 1}", label, "°C", temps[:, k]))
    for key, label, unit, values in candidates:
        if np.isfinite(values).any():
            group = "temperature" if key.startswith("temperature") else key
            result.series.append(Series(key, label, unit, cols["t"], values, group))
        elif not key.startswith("temperature"):
            result.omitted.append({"key": key, "label": label, "note": _omitted_note(device, label, result.positions)})
    if temps.shape[1] == 0:
        note = _omitted_note(device, "Temperature", result.positions)
        result.omitted.append({"key": "temperature", "label": "Temperature", "note": note})
    return result


def _omitted_note(device, label: str, positions: int) -> str:
    if positions == 0:
        return f"{device.name} has no positions in this range."
    return f"{device.name} does not report {label.lower()} in this range."


def device_payload(device, organization, start: datetime, end: datetime, max_points: int = MAX_POINTS) -> dict:
    units = Units.for_org(organization)
    data = device_series(device, start, end, units)
    return {
        "mode": "device",
        "device": {"id": device.pk, "name": device.name},
        "start": start.timestamp(),
        "end": end.timestamp(),
        "timezone": organization.timezone,
        "gap_s": organization.min_no_data_gap_s,
        "positions": data.positions,
        "max_points": max_points,
        "series": [s.as_json(max_points) for s in data.series],
        "omitted": data.omitted,
    }


# ---------------------------------------------------------------------------------------- fleet days


@dataclass
class Day:
    day: str  # ISO local date
    t: float  # the local day's start (clipped to the range), epoch seconds
    seconds: float = 0.0  # window length x devices
    distance_m: float = 0.0
    driving_s: float = 0.0
    idle_s: float = 0.0
    stopped_s: float = 0.0

    @property
    def no_data_s(self) -> float:
        """The rest of the vehicles' time: no data, whether the engine said so or a device had no row."""
        return max(0.0, self.seconds - self.driving_s - self.idle_s - self.stopped_s)

    def share(self, value: float) -> float:
        return round(100 * value / self.seconds, 2) if self.seconds else 0.0


@dataclass
class FleetPlan:
    """A group's or fleet's chart before it is computed: each device's ``CachedRange`` and what is left to
    compute (closed device-days not in the cache, and the positions of every window to compute, counted up
    to a limit)."""

    organization: object
    devices: list
    start: datetime
    end: datetime
    ranges: list[CachedRange]

    @classmethod
    def make(cls, organization, devices, start: datetime, end: datetime) -> FleetPlan:
        params, zone = Params.for_org(organization), ZoneInfo(organization.timezone)
        ranges = CachedRange.many([d.pk for d in devices], params, start, end, zone)
        return cls(organization, list(devices), start, end, ranges)

    @property
    def closed_misses(self) -> int:
        return sum(r.closed_misses for r in self.ranges)

    @property
    def cheap(self) -> bool:
        """Whether the chart may be computed in the request (``cache.cheap``: the rule the summary shares)."""
        return cache.cheap(self.ranges)

    def days(self, progress=None) -> list[Day]:
        """Per local day of the organisation: the devices' distance and driving / idle / stopped time, the rest
        no data. ``progress(done, total)`` after each device."""
        zone = ZoneInfo(self.organization.timezone)
        days: dict[str, Day] = {}
        windows = day_windows(self.start, self.end, zone)
        for a, b, day in windows:
            days[day.isoformat()] = Day(day.isoformat(), a, seconds=(b - a) * len(self.ranges))
        for done, cached in enumerate(self.ranges, 1):
            for row in cached.result().rows:
                day = days[row.day.isoformat()]
                day.distance_m += row.distance_m
                day.driving_s += row.driving_s
                day.idle_s += row.idle_s
                day.stopped_s += row.stopped_s
            if progress is not None:
                progress(done, len(self.ranges))
        return list(days.values())


def fleet_days(organization, devices, start: datetime, end: datetime) -> list[Day]:
    """Per local day of the organisation: the devices' distance and driving / idle / stopped / no-data time."""
    return FleetPlan.make(organization, devices, start, end).days()


def fleet_payload(organization, devices, start: datetime, end: datetime, days: list[Day] | None = None) -> dict:
    units = Units.for_org(organization)
    days = fleet_days(organization, devices, start, end) if days is None else days
    factor, unit = units.distance
    return {
        "mode": "fleet",
        "devices": len(devices),
        "timezone": organization.timezone,
        "distance_unit": unit,
        "days": [d.day for d in days],
        "t": [d.t for d in days],
        "distance": [round(d.distance_m * factor, 2) for d in days],
        "driving": [d.share(d.driving_s) for d in days],
        "idle": [d.share(d.idle_s) for d in days],
        "stopped": [d.share(d.stopped_s) for d in days],
        "no_data": [d.share(d.no_data_s) for d in days],
    }


# -------------------------------------------------------------------------------- as a background job

DAY_COLUMNS = [
    Column("day", "Day", DATE),
    Column("distance", "Distance", DISTANCE, 2),
    Column("driving", "Driving", DURATION),
    Column("idle", "Idle", DURATION),
    Column("stopped", "Stopped", DURATION),
    Column("no_data", "No data", DURATION),
    Column("seconds", "Vehicle time", DURATION),
]


def days_report(organization, devices, start, end, options=None, progress=None) -> Report:
    """The fleet chart's days as a one-table report: what a background chart job computes and stores."""
    days = FleetPlan.make(organization, devices, start, end).days(progress)
    table = Table("days", "Per day", DAY_COLUMNS)
    for d in days:
        row = {"day": date.fromisoformat(d.day), "distance": d.distance_m, "driving": d.driving_s}
        table.rows.append(
            row | {"idle": d.idle_s, "stopped": d.stopped_s, "no_data": d.no_data_s, "seconds": d.seconds}
        )
    return Report("charts", "Charts", organization.pk, start, end, [d.pk for d in devices], [table])


def days_from_report(report: Report, zone: str) -> list[Day]:
    """The days a background chart job stored (``days_report``)."""
    out = []
    for row in report.tables[0].rows:
        start = datetime.combine(row["day"], time(), tzinfo=ZoneInfo(zone)).timestamp()
        day = Day(row["day"].isoformat(), max(start, report.start.timestamp()), row["seconds"], row["distance"])
        day.driving_s, day.idle_s, day.stopped_s = row["driving"], row["idle"], row["stopped"]
        out.append(day)
    return out
