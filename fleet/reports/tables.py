"""What every report produces: tables of rows in canonical units, rendered by the pages and by every export.

A report is computed once into a ``Report`` (tables + optional tracks); the HTML page, CSV, XLSX, GPX and KML
are all views of that one object, so the downloads match the page by construction.

Values in ``Table.rows`` are canonical (docs/architecture.md, Canonical records): metres, seconds, km/h,
litres, timezone-aware UTC datetimes, floats for coordinates. ``Units`` converts them to the organisation's
units and timezone for display and export; each ``Column.kind`` says which conversion applies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

# Column kinds. Canonical unit in, organisation unit out.
TEXT = "text"
INT = "int"
NUMBER = "number"  # a float with no unit conversion (e.g. a percentage, a coordinate)
DATETIME = "datetime"  # aware UTC datetime -> local time of the organisation
DURATION = "duration"  # seconds -> shown as h:mm:ss, exported as whole seconds
DISTANCE = "distance"  # metres -> km / mi / nmi
SPEED = "speed"  # km/h -> km/h / mph / kn
VOLUME = "volume"  # litres -> l / gal
LATLON = "latlon"  # (lat, lon) tuple -> "60.17000, 24.94000"; exported as two numeric columns
BOOL = "bool"
DATE = "date"  # a local calendar day (datetime.date), e.g. the day of a daily summary row
LINK = "link"  # a URL inside fleet (e.g. the replay of a trip): a link on the page, left out of exports

KINDS = {TEXT, INT, NUMBER, DATETIME, DURATION, DISTANCE, SPEED, VOLUME, LATLON, BOOL, DATE, LINK}


@dataclass(frozen=True)
class Column:
    key: str  # key in each row dict
    label: str  # header without unit, e.g. "Distance"
    kind: str = TEXT
    decimals: int = 1  # for DISTANCE / SPEED / VOLUME / NUMBER

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class Table:
    name: str  # short slug, also the XLSX sheet name (<= 31 chars) and the CSV part name
    title: str
    columns: list[Column]
    rows: list[dict] = field(default_factory=list)
    totals: dict | None = None  # an optional footer row, same keys as rows


@dataclass(eq=False)
class TrackLine:
    """A polyline for GPX / KML / the page's map: one device's route or one trip, as float64 arrays of one
    length in time order. NaN is an unknown speed or altitude. Only the exports need every fix as Python
    objects: ``fixes()`` makes them on demand."""

    name: str
    device_id: int
    t: np.ndarray  # epoch seconds (UTC)
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray  # km/h
    altitude: np.ndarray  # metres

    @classmethod
    def from_fixes(cls, name: str, device_id: int, fixes: list[tuple]) -> TrackLine:
        """From (aware datetime, lat, lon, speed, altitude) tuples, None for an unknown speed or altitude."""
        times, lats, lons, speeds, altitudes = zip(*fixes, strict=True) if fixes else ((),) * 5
        seconds = np.array([when.timestamp() for when in times], dtype=float)
        return cls(name, device_id, seconds, *(np.array(v, dtype=float) for v in (lats, lons, speeds, altitudes)))

    def __len__(self) -> int:
        return len(self.t)

    def time(self, i: int) -> datetime:
        return datetime.fromtimestamp(float(self.t[i]), UTC)

    def fixes(self) -> Iterator[tuple[datetime, float, float, float | None, float | None]]:
        """Each fix as (aware UTC datetime, lat, lon, speed, altitude), None for an unknown speed or altitude."""
        times = [datetime.fromtimestamp(x, UTC) for x in self.t.tolist()]
        return zip(times, self.lat.tolist(), self.lon.tolist(), _known(self.speed), _known(self.altitude), strict=True)


def _known(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN != NaN


@dataclass
class Report:
    kind: str  # "route", "trips", "stops", "summary", "events", "visits", "tasks"
    title: str
    organization_id: int
    start: datetime  # aware, UTC
    end: datetime
    device_ids: list[int]
    tables: list[Table]
    tracks: list[TrackLine] = field(default_factory=list)  # route / trips: for GPX, KML and the map
    notes: list[str] = field(default_factory=list)  # e.g. "3 trips clipped at the range edges"


class Units:
    """The organisation's display units and timezone. ``value`` converts a canonical value for export
    (numbers stay numbers, datetimes become naive local datetimes for XLSX); ``text`` formats it for HTML."""

    DISTANCE = {"km": (1 / 1000, "km"), "mi": (1 / 1609.344, "mi"), "nmi": (1 / 1852, "nmi")}
    SPEED = {"kmh": (1.0, "km/h"), "mph": (1 / 1.609344, "mph"), "kn": (1 / 1.852, "kn")}
    VOLUME = {"l": (1.0, "l"), "gal": (1 / 3.785411784, "gal")}

    def __init__(self, timezone: str = "UTC", distance: str = "km", speed: str = "kmh", volume: str = "l") -> None:
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.distance, self.speed, self.volume = self.DISTANCE[distance], self.SPEED[speed], self.VOLUME[volume]

    @property
    def altitude(self) -> tuple[float, str]:
        """(factor from metres, label): feet where distances are in miles, else metres."""
        return (1 / 0.3048, "ft") if self.distance[1] == "mi" else (1.0, "m")

    @classmethod
    def for_org(cls, org) -> Units:
        return cls(org.timezone, org.distance_unit, org.speed_unit, org.volume_unit)

    def unit(self, column: Column) -> str:
        return {
            DISTANCE: self.distance[1],
            SPEED: self.speed[1],
            VOLUME: self.volume[1],
            DURATION: "s",
            DATETIME: self.timezone,
        }.get(column.kind, "")

    def header(self, column: Column) -> str:
        """Header with its unit for exports: "Distance (km)", "Start (Europe/Helsinki)"."""
        unit = self.unit(column)
        return f"{column.label} ({unit})" if unit else column.label

    def value(self, column: Column, value):
        """Export value in the organisation's units: numbers stay numbers; datetimes local and naive."""
        if value is None:
            return None
        kind = column.kind
        if kind == DISTANCE:
            return round(value * self.distance[0], 3)
        if kind == SPEED:
            return round(value * self.speed[0], 2)
        if kind == VOLUME:
            return round(value * self.volume[0], 2)
        if kind == DURATION:
            return round(float(value))
        if kind == DATETIME:
            return value.astimezone(self.tz).replace(tzinfo=None)
        return value

    def text(self, column: Column, value) -> str:
        """HTML text: "12.3 km", "1:02:03", "2026-11-30 08:15:02"."""
        if value is None or value == "":
            return ""
        kind = column.kind
        if kind in (DISTANCE, SPEED, VOLUME):
            return f"{self.value(column, value):.{column.decimals}f} {self.unit(column)}"
        if kind == NUMBER:
            return f"{value:.{column.decimals}f}"
        if kind == DURATION:
            return format_duration(value)
        if kind == DATETIME:
            return self.value(column, value).strftime("%Y-%m-%d %H:%M:%S")
        if kind == LATLON:
            return f"{value[0]:.5f}, {value[1]:.5f}"
        if kind == DATE:
            return value.isoformat()
        if kind == BOOL:
            return "yes" if value else "no"
        return str(value)


def format_duration(seconds: float) -> str:
    total = int(round(seconds))
    sign = "-" if total < 0 else ""
    h, rest = divmod(abs(total), 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}"
