"""Safectory Track: Traccar-derived, indoor, BLE beacons (the vendor's Safectory Track API document).

Its differences from Traccar are handled here: beacons, rows of one fix time merged into one position at the
strongest beacon, socket pings (docs/architecture.md, Connectors). ``{"webSessionTimeout":[s]}`` is
informational.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fleet.tracking import validate
from fleet.tracking.attributes import number
from fleet.tracking.records import BeaconRecord, PositionRecord
from fleet.vendors import base
from fleet.vendors.traccar import PATHS, TraccarConnector, attributes_of, parse_position, parse_time, required_id

BEACONS = "/api/beacons"


class SafectoryConnector(TraccarConnector):
    kind = "safectory"
    # Documented: session, devices, beacons, positions, reports (route/events/summary), socket.
    capabilities = frozenset({base.DEVICES, base.BEACONS, base.POSITIONS, base.EVENTS, base.STREAM, base.BEACON_WRITE})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.places: dict[str, tuple[float, float]] | None = None  # beacon id -> where it is placed

    def beacons(self) -> list[BeaconRecord]:
        return self._placed(self.map_rows(base.BEACONS, self.call("GET", BEACONS), parse_beacon))

    def _placed(self, beacons: list[BeaconRecord]) -> list[BeaconRecord]:
        """Remember where the beacons are: a position heard at one comes without coordinates."""
        if self.places is None:
            self.places = {}
        self.places.update((b.vendor_id, (b.latitude, b.longitude)) for b in beacons if b.latitude is not None)
        return beacons

    def _place(self, beacon_id: str) -> tuple[float, float] | None:
        if self.places is None:  # a stream that has not heard the beacons yet: those the last sync stored
            from fleet.tracking.models import Beacon

            placed = Beacon.objects.filter(account_id=self.account_id, point__isnull=False)
            self.places = {vendor_id: (p.y, p.x) for vendor_id, p in placed.values_list("vendor_id", "point")}
        return self.places.get(beacon_id)

    def update_beacon(self, record: BeaconRecord) -> None:
        body = render_beacon(record)
        self.call("PUT", f"{BEACONS}/{record.vendor_id}", json=body)

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        for batch in super().positions(since, until, device_ids):
            yield merge_same_time(batch)

    def parse_position(self, p: dict[str, Any]) -> PositionRecord:
        """An indoor position; one heard at a beacon without coordinates of its own (0, 0, as the server sends
        them) is where that beacon is placed, and refused when the beacon is not placed."""
        record = parse_indoor_position(p)
        if validate.is_null_island(record) and (beacon_id := record.attributes.get("beacon_id")):
            place = self._place(beacon_id)
            if place is None:
                raise base.Reject("no location: its beacon is not placed", p.get("id", ""))
            record.latitude, record.longitude = place
        return record

    def parse_socket_message(self, message: dict[str, Any]) -> dict[str, list]:
        beacons = self._placed(self.map_rows(base.BEACONS, message.get("beacons"), parse_beacon))
        parsed = super().parse_socket_message(message)
        parsed["positions"] = merge_same_time(parsed["positions"])
        parsed["beacons"] = beacons
        status = message.get("status") if isinstance(message.get("status"), list) else []
        parsed["pings"] = [
            str(s["message"]) for s in status if isinstance(s, dict) and s.get("type") == "PING" and s.get("message")
        ]
        return parsed

    @staticmethod
    def pong(ping: str) -> str:
        return f"pong {ping}"


def parse_indoor_position(p: dict[str, Any]) -> PositionRecord:
    record = parse_position(p)
    attrs = attributes_of(p)
    if (floor := number(attrs.get("floor"))) is not None:
        record.attributes["floor"] = int(floor)
    if p.get("beaconId") is not None:
        heard = {"beacon_id": str(p["beaconId"]), "name": p.get("beaconName") or "", "rssi": number(p.get("rssi"))}
        record.attributes["beacon_id"] = heard["beacon_id"]
        record.attributes["beacon_name"] = heard["name"]
        record.attributes["beacons"] = [heard]
    if (rssi := number(p.get("rssi"))) is not None:
        record.attributes["rssi"] = rssi
    return record


def merge_same_time(records: list[PositionRecord]) -> list[PositionRecord]:
    """Rows of one device at one time (several beacons heard) → one position at the strongest beacon. A row
    the validation gate refuses is not merged (it would take its scan's good rows down with it): it goes on
    alone, to be rejected and counted."""
    merged: dict[tuple[str, datetime], PositionRecord] = {}
    refused: list[PositionRecord] = []
    now = datetime.now(UTC)
    for r in records:
        if validate.position(r, now, validate.DEFAULT_MAX_SPEED_KMH, Counter()):
            refused.append(r)
            continue
        key = (r.device_id, r.fix_time)
        first = merged.get(key)
        if first is None:
            merged[key] = r
            continue
        heard = first.attributes.get("beacons", []) + r.attributes.get("beacons", [])
        if (r.attributes.get("rssi") or -999) > (first.attributes.get("rssi") or -999):
            merged[key] = first = r
        first.attributes["beacons"] = sorted(heard, key=lambda b: -(b["rssi"] if b["rssi"] is not None else -999))
    return [*merged.values(), *refused]


def parse_beacon(b: dict[str, Any]) -> BeaconRecord:
    lat, lon = number(b.get("latitude")), number(b.get("longitude"))
    if lat == 0 and lon == 0:  # beacons not placed yet come at 0, 0 (safectory-track-api.txt): no location
        lat = lon = None
    return BeaconRecord(
        vendor_id=required_id(b, "id"),
        uuid=str(b.get("uuid") or ""),
        major=int(b.get("major") or 0),
        minor=int(b.get("minor") or 0),
        name=str(b.get("name") or ""),
        latitude=lat,
        longitude=lon,
        floor=int(f) if (f := number(attributes_of(b).get("floor", b.get("floor")))) is not None else None,
        last_seen=parse_time(b.get("lastSeen"), "lastSeen"),
        battery_level=number(b.get("batteryLevel")),
        attributes=dict(attributes_of(b)),
    )


def render_beacon(record: BeaconRecord) -> dict[str, Any]:
    return {
        "id": int(record.vendor_id),
        "name": record.name,
        "uuid": record.uuid,
        "major": record.major,
        "minor": record.minor,
        "latitude": record.latitude,
        "longitude": record.longitude,
        "attributes": record.attributes,
    }


__all__ = ["SafectoryConnector", "PATHS"]
