"""The small interface every vendor connector implements (STYLE.md rule 3)."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from fleet.tracking.records import (
    BeaconRecord,
    DeviceRecord,
    DriverRecord,
    EventRecord,
    GeofenceRecord,
    GroupRecord,
    PositionRecord,
    TripRecord,
)
from fleet.vendors.errors import AuthExpired, VendorError
from fleet.vendors.http import VendorHTTP

# What a connector can do; the sync walks only what its connector declares.
DEVICES, GROUPS, DRIVERS, GEOFENCES, BEACONS = "devices", "groups", "drivers", "geofences", "beacons"
POSITIONS, EVENTS, TRIPS, STREAM = "positions", "events", "trips", "stream"
GEOFENCE_WRITE, BEACON_WRITE = "geofence_write", "beacon_write"
REPORTS = "reports"  # the vendor's own trips / stops / summary reports (``reports(kind, ...)``)


class Connector:
    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    rate: ClassVar[tuple[float, int]] = (20.0, 40)  # requests/s and burst, per account
    position_chunk: ClassVar[int] = 50  # devices per positions() call the sync makes

    def __init__(self, account_id: int, base_url: str, credentials: dict[str, str]) -> None:
        self.account_id = account_id
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.http = VendorHTTP(account_id, self.base_url, self.rate)
        self.logged_in = False

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} account={self.account_id} {self.base_url}>"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """JSON call that logs in first, and once more if the session has expired."""
        if not self.logged_in:
            self.login()
        try:
            return self.http.json(method, path, **kwargs)
        except AuthExpired:
            self.logged_in = False
            self.login()
            try:
                return self.http.json(method, path, **kwargs)
            except AuthExpired:
                raise VendorError(f"{method} {path}: still unauthorised after logging in again") from None

    # The interface. Connectors override what their capabilities name.
    def login(self) -> None:
        raise NotImplementedError

    def devices(self) -> list[DeviceRecord]:
        raise NotImplementedError

    def groups(self) -> list[GroupRecord]:
        return []

    def drivers(self) -> list[DriverRecord]:
        return []

    def beacons(self) -> list[BeaconRecord]:
        return []

    def geofences(self) -> list[GeofenceRecord]:
        return []

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        raise NotImplementedError

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        return []

    def trips(self, since: datetime, until: datetime, device_ids: list[str]) -> list[TripRecord]:
        return []

    def create_geofence(self, record: GeofenceRecord) -> str:
        raise VendorError(f"{self.kind} cannot create geofences", permanent=True)

    def update_geofence(self, record: GeofenceRecord) -> None:
        raise VendorError(f"{self.kind} cannot update geofences", permanent=True)

    def delete_geofence(self, vendor_id: str) -> None:
        raise VendorError(f"{self.kind} cannot delete geofences", permanent=True)
