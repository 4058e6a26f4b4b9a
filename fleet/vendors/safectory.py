"""Safectory Track: Traccar-derived, indoor, BLE beacons (the vendor's Safectory Track API document).

Its differences from Traccar are handled here: beacons, rows of one fix time merged into one position at the
strongest beacon, socket pings (docs/architecture.md, Connectors). ``{"webSessionTimeout":[s]}`` is
informational.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fleet.tracking.attributes import number
from fleet.tracking.records import BeaconRecord, PositionRecord
from fleet.vendors import base
from fleet.vendors.traccar import PATHS, TraccarConnector, attributes_of, parse_position, parse_time, required_id

BEACONS = "/api/beacons"


class SafectoryConnector(TraccarConnector):
    kind = "safectory"
    # Documented: session, devices, beacons, positions, reports (route/events/summary), socket.
    capabilities = frozenset({base.DEVICES, base.BEACONS, base.POSITIONS, base.EVENTS, base.STREAM, base.BEACON_WRITE})

    def beacons(self) -> list[BeaconRecord]:
        return self.map_rows(base.BEACONS, self.call("GET", BEACONS), parse_beacon)

    def update_beacon(self, record: BeaconRecord) -> None:
        body = render_beacon(record)
        self.call("PUT", f"{BEACONS}/{record.vendor_id}", json=body)

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        for batch in super().positions(since, until, device_ids):
            yield merge_same_time(batch)

    def parse_position(self, p: dict[str, Any]) -> PositionRecord:
        return parse_indoor_position(p)

    def parse_socket_message(self, message: dict[str, Any]) -> dict[str, list]:
        parsed = super().parse_socket_message(message)
        parsed["positions"] = merge_same_time(parsed["positions"])
        parsed["beacons"] = self.map_rows(base.BEACONS, message.get("beacons"), parse_beacon)
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
    """Rows of one device at one time (several beacons heard) → one position at the strongest beacon."""
    merged: dict[tuple[str, datetime], PositionRecord] = {}
    for r in records:
        key = (r.device_id, r.fix_time)
        first = merged.get(key)
        if first is None:
            merged[key] = r
            continue
        heard = first.attributes.get("beacons", []) + r.attributes.get("beacons", [])
        if (r.attributes.get("rssi") or -999) > (first.attributes.get("rssi") or -999):
            merged[key] = first = r
        first.attributes["beacons"] = sorted(heard, key=lambda b: -(b["rssi"] if b["rssi"] is not None else -999))
    return list(merged.values())


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
