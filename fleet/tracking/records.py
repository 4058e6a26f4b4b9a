"""Canonical records: what connectors (and importers) hand to ingest and the model services.

Units are canonical here already: UTC-aware datetimes, km/h, metres, degrees, seconds; vendor extras live in
``attributes`` under stable names (docs/architecture.md, Canonical records).
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class PositionRecord:
    device_id: str  # the vendor's device id (or a fleet device pk for imports without an account)
    fix_time: datetime
    latitude: float
    longitude: float
    speed: float = 0.0
    course: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    valid: bool = True
    server_time: datetime | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class DeviceRecord:
    vendor_id: str
    name: str
    unique_id: str = ""
    category: str = ""
    group_id: str | None = None
    phone: str = ""
    model: str = ""
    plate: str = ""
    disabled: bool = False
    status: str = "unknown"
    last_update: datetime | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class GroupRecord:
    vendor_id: str
    name: str
    parent_id: str | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class DriverRecord:
    vendor_id: str
    name: str
    unique_id: str = ""
    phone: str = ""
    attributes: dict = field(default_factory=dict)
    device_id: str | None = None  # the vendor's id of the vehicle it says the driver is attached to now


@dataclass(slots=True)
class BeaconRecord:
    vendor_id: str
    uuid: str
    major: int
    minor: int
    name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    floor: int | None = None
    last_seen: datetime | None = None
    battery_level: float | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class EventRecord:
    device_id: str
    type: str
    time: datetime
    vendor_id: str = ""
    geofence_id: str | None = None
    position_vendor_id: str | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class GeofenceRecord:
    vendor_id: str
    name: str
    kind: str  # polygon | circle | corridor
    wkt: str  # WGS84, x = longitude (the connector already swapped lat-first vendor WKT)
    radius_m: float | None = None
    width_m: float | None = None
    description: str = ""
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class TripRecord:
    device_id: str
    start_time: datetime
    end_time: datetime
    distance_m: float
    duration_s: float
    max_speed: float
    average_speed: float
    start_lat: float | None = None
    start_lon: float | None = None
    end_lat: float | None = None
    end_lon: float | None = None
    start_address: str = ""
    end_address: str = ""
    driver_unique_id: str = ""
    spent_fuel_l: float | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class PoiRecord:
    vendor_id: str
    name: str
    latitude: float
    longitude: float
    radius_m: float = 50.0
    description: str = ""
    address: str = ""
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class TaskRecord:
    vendor_id: str
    order_ref: str
    latitude: float  # the destination
    longitude: float
    device_id: str | None = None  # the vendor's device id
    title: str = ""
    status: str = "created"
    planned_start: datetime | None = None
    planned_stop: datetime | None = None
    address: str = ""
    attributes: dict = field(default_factory=dict)


@dataclass(slots=True)
class TaskFileRecord:
    """A vendor's file attached to one of its tasks: metadata only (name, type, when, who)."""

    vendor_id: str
    task_id: str  # the vendor's task id
    name: str
    mime: str = ""
    kind: str = "other"  # one of TaskFile.Kind
    uploaded: datetime | None = None
    sender: str = ""
