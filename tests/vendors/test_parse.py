"""The connectors' pure parsers against the real payload shapes of the vendor docs (tests/fixtures/README.md)."""

import copy
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.gis.geos import GEOSGeometry

from fleet.tracking import validate
from fleet.tracking.records import GeofenceRecord
from fleet.vendors.datatrak import DataTrakConnector
from fleet.vendors.safectory import (
    SafectoryConnector,
    merge_same_time,
    parse_beacon,
    parse_indoor_position,
    render_beacon,
)
from fleet.vendors.traccar import (
    KNOT_KMH,
    parse_area,
    parse_device,
    parse_driver,
    parse_event,
    parse_geofence,
    parse_group,
    parse_position,
    parse_time,
    parse_trip,
    position_attributes,
    render_area,
    render_geofence,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def datatrak():
    with DataTrakConnector(1, "http://datatrak.invalid", {}) as connector:
        yield connector


@pytest.fixture
def safectory():
    with SafectoryConnector(2, "http://safectory.invalid", {}) as connector:
        yield connector


# --- Traccar 4.2 (Data Trak) ---------------------------------------------------


def test_traccar_dates_without_a_colon_in_the_offset_become_utc_aware():
    parsed = parse_time("2018-11-10T12:00:00.000+0000")
    assert parsed == utc(2018, 11, 10, 12, 0)
    assert parsed.utcoffset() == timedelta(0)
    assert parse_time("2018-11-10T12:00:02.345+0000") == utc(2018, 11, 10, 12, 0, 2, 345000)
    assert parse_time("2021-03-08T11:15:00.000+02:00") == utc(2021, 3, 8, 9, 15)
    assert parse_time("1963-11-22T18:30:00Z") == utc(1963, 11, 22, 18, 30)
    assert parse_time(None) is None
    assert parse_time("") is None


def test_traccar_speed_in_knots_becomes_kmh():
    teltonika, alarm, osmand = (parse_position(p) for p in load("datatrak/positions.json"))
    assert KNOT_KMH == 1.852
    assert teltonika.speed == pytest.approx(27.0 * 1.852)
    assert teltonika.speed == pytest.approx(50.004)
    assert alarm.speed == pytest.approx(100.008)
    assert osmand.speed == 0.0


def test_a_teltonika_position_keeps_times_coordinates_and_fields():
    record = parse_position(load("datatrak/positions.json")[0])
    assert record.device_id == "7"
    assert record.fix_time == utc(2018, 11, 10, 12, 0, 0)
    assert record.server_time == utc(2018, 11, 10, 12, 0, 2, 345000)
    assert (record.latitude, record.longitude) == (60.16952, 24.93545)
    assert record.course == 270.0
    assert record.altitude == 21.0
    assert record.accuracy == 0.0
    assert record.valid is True


def test_teltonika_attributes_get_fleet_names_and_canonical_units():
    attrs = parse_position(load("datatrak/positions.json")[0]).attributes
    assert attrs == {
        "ignition": True,
        "motion": True,
        "battery_level": 93.0,
        "power_v": 27.563,
        "fuel_l": 48.5,
        "rssi": 4.0,
        "satellites": 12.0,
        "odometer_m": 123456789.0,  # the device odometer wins over totalDistance
        "engine_hours_s": 45000.0,  # Traccar "hours" is milliseconds
        "temperatures": [4.5, -18.25],
        "driver_unique_id": "0000ABC123",
    }


def test_an_alarm_and_an_invalid_fix_are_kept():
    record = parse_position(load("datatrak/positions.json")[1])
    assert record.valid is False
    assert record.attributes["alarm"] == "overspeed"
    assert record.attributes["satellites"] == 0.0
    assert record.attributes["engine_hours_s"] == 45060.0
    assert "temperatures" not in record.attributes
    assert "driver_unique_id" not in record.attributes


def test_an_osmand_position_takes_its_odometer_from_total_distance():
    record = parse_position(load("datatrak/positions.json")[2])
    assert record.device_id == "8"
    assert record.fix_time == utc(2018, 11, 10, 12, 1, 15)
    assert record.accuracy == 5.0
    assert record.altitude == 35.5
    assert record.attributes == {"motion": True, "battery_level": 76.0, "odometer_m": 45678.9}


def test_position_attributes_without_any_known_name_map_to_nothing():
    assert position_attributes({"priority": 0, "event": 0, "hdop": 0.8, "io69": 1, "distance": 2.0}) == {}
    assert position_attributes({"batteryLevel": None, "fuel": "n/a", "sat": True}) == {}


def test_fix_time_falls_back_to_device_time_when_fix_time_is_null():
    payload = copy.deepcopy(load("datatrak/positions.json")[2])
    payload["fixTime"] = None
    payload["deviceTime"] = "2018-11-10T12:01:14.000+0000"
    assert parse_position(payload).fix_time == utc(2018, 11, 10, 12, 1, 14)


def test_nulls_and_unknown_fields_are_ignored():
    position = copy.deepcopy(load("datatrak/positions.json")[0])
    position.update(course=None, altitude=None, accuracy=None, serverTime=None, futureField={"a": [1, None]})
    position["attributes"]["someNewSensor"] = None
    record = parse_position(position)
    assert (record.course, record.altitude, record.accuracy, record.server_time) == (None, None, None, None)
    assert "someNewSensor" not in record.attributes
    assert record.fix_time == utc(2018, 11, 10, 12, 0)

    device = parse_device(load("datatrak/devices.json")[2] | {"futureField": 1})
    assert (device.phone, device.model, device.category, device.plate) == ("", "", "", "")
    assert device.last_update is None
    assert device.status == "unknown"

    trip = parse_trip(load("datatrak/trips.json")[1])
    assert (trip.start_address, trip.end_address, trip.driver_unique_id) == ("", "", "")


def test_unreadable_coordinates_become_nan_for_ingest_to_reject():
    payload = copy.deepcopy(load("datatrak/positions.json")[0])
    now = utc(2018, 11, 10, 13, 0)
    assert validate.position(parse_position(payload), now, 300, Counter()) is None
    payload.update(latitude=None, longitude="n/a")
    record = parse_position(payload)
    assert math.isnan(record.latitude)
    assert math.isnan(record.longitude)
    assert validate.position(record, now, 300, Counter()) == "not a finite number"


def test_devices_map_group_plate_status_and_last_update():
    truck, phone, spare = (parse_device(d) for d in load("datatrak/devices.json"))
    assert truck.vendor_id == "7"
    assert truck.name == "Truck 07"
    assert truck.unique_id == "352093081234567"
    assert truck.group_id == "3"
    assert truck.plate == "ABC-123"
    assert (truck.phone, truck.model, truck.category) == ("+358401234567", "FMB920", "truck")
    assert truck.status == "online"
    assert truck.last_update == utc(2018, 11, 10, 12, 1, 1, 2000)
    assert truck.disabled is False
    assert phone.group_id is None  # groupId 0 means no group
    assert phone.status == "offline"
    assert spare.disabled is True
    assert spare.group_id == "4"


def test_an_unexpected_device_status_becomes_unknown():
    payload = load("datatrak/devices.json")[0] | {"status": "sleeping"}
    assert parse_device(payload).status == "unknown"


def test_groups_keep_their_parent_and_top_level_groups_have_none():
    trucks, reefers = (parse_group(g) for g in load("datatrak/groups.json"))
    assert (trucks.vendor_id, trucks.name, trucks.parent_id) == ("3", "Trucks", None)
    assert (reefers.vendor_id, reefers.name, reefers.parent_id) == ("4", "Reefers", "3")


def test_drivers_map_unique_id_and_phone_from_attributes():
    matti, liisa = (parse_driver(d) for d in load("datatrak/drivers.json"))
    assert (matti.vendor_id, matti.name, matti.unique_id, matti.phone) == (
        "1",
        "Matti Meikäläinen",
        "0000ABC123",
        "+358401112223",
    )
    assert (liisa.unique_id, liisa.phone) == ("4711", "")


def test_events_read_server_time_in_4_2_and_event_time_later():
    enter, alarm, ignition = (parse_event(e) for e in load("datatrak/events.json"))
    assert enter.time == utc(2018, 11, 10, 12, 0, 2, 512000)
    assert alarm.time == utc(2018, 11, 10, 12, 1, 1, 120000)
    assert ignition.time == utc(2021, 3, 8, 9, 15)
    assert (ignition.device_id, ignition.type, ignition.vendor_id) == ("8", "ignitionOn", "503")


def test_event_ids_of_zero_mean_no_geofence_and_alarms_keep_their_kind():
    enter, alarm, _ = (parse_event(e) for e in load("datatrak/events.json"))
    assert (enter.type, enter.geofence_id, enter.position_vendor_id) == ("geofenceEnter", "11", "1001")
    assert alarm.geofence_id is None
    assert alarm.position_vendor_id == "1002"
    assert alarm.attributes == {"alarm": "overspeed"}


def test_trip_duration_in_ms_becomes_seconds():
    truck, phone = (parse_trip(t) for t in load("datatrak/trips.json"))
    assert truck.duration_s == 1860.0
    assert truck.duration_s == (truck.end_time - truck.start_time).total_seconds()
    assert phone.duration_s == 510.0


def test_trip_speeds_in_knots_become_kmh_and_the_rest_is_mapped():
    trip = parse_trip(load("datatrak/trips.json")[0])
    assert trip.device_id == "7"
    assert trip.start_time == utc(2018, 11, 10, 11, 30)
    assert trip.end_time == utc(2018, 11, 10, 12, 1)
    assert trip.max_speed == pytest.approx(100.008)
    assert trip.average_speed == pytest.approx(16.45 * 1.852)
    assert trip.distance_m == 15234.56
    assert trip.spent_fuel_l == 3.2
    assert (trip.start_lat, trip.start_lon, trip.end_lat, trip.end_lon) == (60.1699, 24.9384, 60.17551, 24.94012)
    assert (trip.start_address, trip.end_address) == ("", "Satamakatu 1, Helsinki")
    assert trip.driver_unique_id == "0000ABC123"


def test_lat_first_circle_becomes_a_lon_first_point_with_radius():
    record = parse_geofence(load("datatrak/geofences.json")[0])
    assert (record.vendor_id, record.name, record.kind) == ("11", "Depot", "circle")
    assert record.description == "Main depot gate"
    point = GEOSGeometry(record.wkt)
    assert (point.geom_type, point.x, point.y) == ("Point", 24.93545, 60.16952)
    assert record.radius_m == 150.0
    assert record.width_m is None


def test_lat_first_polygon_becomes_lon_first():
    record = parse_geofence(load("datatrak/geofences.json")[1])
    assert (record.kind, record.name, record.description) == ("polygon", "Harbour", "")
    polygon = GEOSGeometry(record.wkt)
    assert polygon.geom_type == "Polygon"
    assert polygon.exterior_ring.coords[:3] == ((24.93, 60.17), (24.93, 60.18), (24.95, 60.18))
    assert 24.9 < polygon.centroid.x < 25.0 and 60.1 < polygon.centroid.y < 60.2
    assert record.radius_m is None
    assert record.attributes == {"color": "#3388ff"}


def test_a_linestring_becomes_a_corridor_twice_as_wide_as_its_polyline_distance():
    """Traccar keeps a position within polylineDistance of the line: the distance is half the corridor's width."""
    record = parse_geofence(load("datatrak/geofences.json")[2])
    assert record.kind == "corridor"
    line = GEOSGeometry(record.wkt)
    assert line.geom_type == "LineString"
    assert line.coords == ((24.93, 60.17), (24.96, 60.2), (25.0, 60.25))
    assert record.width_m == 80.0  # polylineDistance 40
    assert record.radius_m is None


def test_a_corridor_without_polyline_distance_gets_the_default_width():
    payload = load("datatrak/geofences.json")[2] | {"attributes": {}}
    assert parse_geofence(payload).width_m == 50.0  # Traccar's default polylineDistance, 25 m


def test_areas_other_than_circle_polygon_and_linestring_are_refused():
    with pytest.raises(ValueError):
        parse_area("POINT (60.17 24.93)")
    with pytest.raises(ValueError):
        parse_area("not an area")


@pytest.mark.parametrize("index", [0, 1, 2], ids=["circle", "polygon", "linestring"])
def test_render_area_round_trips_parse_area(index):
    geofence = load("datatrak/geofences.json")[index]
    record = parse_geofence(geofence)
    rendered = render_area(record)
    assert parse_area(rendered) == (record.kind, record.wkt, record.radius_m)
    if record.kind == "circle":
        assert rendered == "CIRCLE (60.16952 24.93545, 150)"
    else:  # lat first again, the same shape Traccar sent
        assert GEOSGeometry(rendered).equals_exact(GEOSGeometry(geofence["area"]), 1e-9)


def test_render_geofence_writes_a_lat_first_area_and_the_corridor_width():
    record = GeofenceRecord("", "Ring road", "corridor", "LINESTRING (24.93 60.17, 24.96 60.2)", width_m=55.0)
    body = render_geofence(record)
    assert body["name"] == "Ring road"
    assert GEOSGeometry(body["area"]).coords == ((60.17, 24.93), (60.2, 24.96))
    assert body["attributes"] == {"polylineDistance": 27.5}
    circle = GeofenceRecord("", "Depot", "circle", "POINT (24.93545 60.16952)", radius_m=150.0)
    assert render_geofence(circle)["area"] == "CIRCLE (60.16952 24.93545, 150)"


def test_the_first_socket_message_holds_only_the_latest_positions(datatrak):
    parsed = datatrak.parse_socket_message(load("datatrak/socket_first.json"))
    assert [(p.device_id, p.fix_time) for p in parsed["positions"]] == [
        ("7", utc(2018, 11, 10, 12, 0)),
        ("8", utc(2018, 11, 10, 12, 1, 15)),
    ]
    assert parsed["positions"][0].speed == pytest.approx(50.004)
    assert parsed["devices"] == []
    assert parsed["events"] == []


def test_later_socket_messages_carry_one_kind_each(datatrak):
    positions = datatrak.parse_socket_message(load("datatrak/socket_positions.json"))
    devices = datatrak.parse_socket_message(load("datatrak/socket_devices.json"))
    events = datatrak.parse_socket_message(load("datatrak/socket_events.json"))
    assert [p.fix_time for p in positions["positions"]] == [utc(2018, 11, 10, 12, 1)]
    assert positions["devices"] == positions["events"] == []
    assert [(d.vendor_id, d.status) for d in devices["devices"]] == [("7", "online")]
    assert devices["positions"] == devices["events"] == []
    assert [(e.type, e.time) for e in events["events"]] == [("alarm", utc(2018, 11, 10, 12, 1, 1, 120000))]
    assert events["positions"] == events["devices"] == []


# --- Safectory Track -------------------------------------------------------------


def test_the_documented_socket_push_gives_indoor_positions_at_their_beacon(safectory):
    first, devices, later = (safectory.parse_socket_message(m) for m in load("safectory/socket_push.json"))
    (position,) = first["positions"]
    assert position.device_id == "60031591"
    assert position.fix_time == utc(2020, 1, 14, 10, 18, 44)
    assert position.server_time == utc(2020, 1, 14, 10, 18, 44, 514000)
    assert (position.latitude, position.longitude) == (49.897595543798104, 10.878755114972591)
    assert position.attributes == {
        "motion": False,
        "battery_level": 100.0,
        "odometer_m": 0.0,
        "floor": 2,
        "beacon_id": "3921",
        "beacon_name": "Operation Management",
        "beacons": [{"beacon_id": "3921", "name": "Operation Management", "rssi": None}],
    }
    (device,) = devices["devices"]
    assert (device.vendor_id, device.name, device.unique_id, device.status) == (
        "44969282",
        "LynKey",
        "13614234773123",
        "online",
    )
    assert device.category == ""
    assert device.last_update == utc(2020, 2, 26, 16, 5, 26, 469000)
    assert devices["positions"] == []
    assert [p.fix_time for p in later["positions"]] == [utc(2020, 2, 26, 16, 5, 26, 176000)]
    assert first["beacons"] == first["pings"] == []


def test_the_floor_string_becomes_an_int():
    payload = load("safectory/socket_push.json")[2]["positions"][0]
    assert payload["attributes"]["floor"] == "2"
    floor = parse_indoor_position(payload).attributes["floor"]
    assert floor == 2
    assert isinstance(floor, int)


def test_a_route_row_keeps_its_beacon_and_rssi():
    record = parse_indoor_position(load("safectory/positions.json")[1])
    assert record.device_id == "794524647"
    assert record.fix_time == utc(2025, 2, 21, 12, 4, 19, 946000)
    assert record.server_time == utc(2025, 2, 21, 12, 4, 24, 93000)
    assert record.attributes == {
        "battery_level": 100.0,
        "rssi": -64.0,
        "beacon_id": "794524643",
        "beacon_name": "quickstart-guide-beacon-2",
        "beacons": [{"beacon_id": "794524643", "name": "quickstart-guide-beacon-2", "rssi": -64.0}],
    }


def test_a_null_rssi_stays_unknown_rather_than_zero():
    record = parse_indoor_position(load("safectory/positions.json")[2])
    assert "rssi" not in record.attributes
    assert record.attributes["beacons"] == [
        {"beacon_id": "794513671", "name": "quickstart-guide-beacon-2", "rssi": None}
    ]
    assert record.server_time is None
    assert record.fix_time == utc(2025, 2, 21, 10, 2, 20, 168000)


@pytest.mark.parametrize("order", [1, -1], ids=["weaker-first", "stronger-first"])
def test_rows_sharing_a_time_merge_into_one_position_at_the_strongest_beacon(order):
    rows = load("safectory/positions.json")
    merged = merge_same_time([parse_indoor_position(p) for p in rows[:2][::order]] + [parse_indoor_position(rows[2])])
    assert len(merged) == 2
    strongest = next(r for r in merged if r.device_id == "794524647")
    assert strongest.fix_time == utc(2025, 2, 21, 12, 4, 19, 946000)
    assert strongest.attributes["beacon_id"] == "794524643"
    assert strongest.attributes["beacon_name"] == "quickstart-guide-beacon-2"
    assert strongest.attributes["rssi"] == -64.0
    assert [(b["beacon_id"], b["rssi"]) for b in strongest.attributes["beacons"]] == [
        ("794524643", -64.0),
        ("794524644", -81.0),
    ]
    other = next(r for r in merged if r.device_id == "794513670")
    assert other.attributes["beacons"] == [
        {"beacon_id": "794513671", "name": "quickstart-guide-beacon-2", "rssi": None}
    ]


def test_a_beacon_heard_without_rssi_sorts_after_those_with_one():
    rows = load("safectory/positions.json")
    silent = copy.deepcopy(rows[1]) | {"rssi": None, "beaconId": 794524699, "beaconName": "silent"}
    merged = merge_same_time([parse_indoor_position(silent), parse_indoor_position(rows[0])])
    (record,) = merged
    assert record.attributes["beacon_id"] == "794524644"
    assert [b["beacon_id"] for b in record.attributes["beacons"]] == ["794524644", "794524699"]


PLACED = [
    {"id": 794524643, "uuid": "d87b", "major": 4242, "minor": 2, "latitude": 49.8976, "longitude": 8.6627},
    {"id": 794524644, "uuid": "d87b", "major": 4242, "minor": 1, "latitude": 49.8977, "longitude": 8.6628},
]


def test_the_socket_merges_rows_sharing_a_time_too(safectory):
    parsed = safectory.parse_socket_message({"beacons": PLACED, "positions": load("safectory/positions.json")[:2]})
    (record,) = parsed["positions"]
    assert record.attributes["beacon_id"] == "794524643"
    assert len(record.attributes["beacons"]) == 2


def test_a_position_without_coordinates_is_where_its_beacon_is_placed(safectory):
    """The server sends (0, 0) for a position heard at a beacon (the doc's examples): its place is the beacon's."""
    rows = load("safectory/positions.json")
    parsed = safectory.parse_socket_message({"beacons": PLACED, "positions": [rows[0], rows[2]]})
    (at_beacon,) = parsed["positions"]
    assert at_beacon.attributes["beacon_id"] == "794524644"
    assert (at_beacon.latitude, at_beacon.longitude) == (49.8977, 8.6628)
    assert safectory.rejects["positions"].reasons == {"no location: its beacon is not placed": 1}  # rows[2]'s beacon


def test_safectory_devices_from_the_doc_parse_and_a_null_string_category_is_empty():
    (device,) = (parse_device(d) for d in load("safectory/devices.json"))
    assert (device.vendor_id, device.name, device.unique_id) == (
        "794513675",
        "quickstart-guide-device-1",
        "661168222238",
    )
    assert device.status == "unknown"
    assert device.last_update == utc(2025, 2, 21, 10, 5, 4, 906000)
    assert device.group_id is None
    assert device.category == ""  # the doc's "category": "null" is a string
    assert (device.phone, device.model, device.plate) == ("", "", "")


def test_beacons_from_the_doc_parse():
    unplaced, placed = (parse_beacon(b) for b in load("safectory/beacons.json"))
    assert (unplaced.vendor_id, unplaced.uuid, unplaced.major, unplaced.minor, unplaced.name) == (
        "794513676",
        "d87b32bdcc0e437a81b3383833bc5ff8",
        4242,
        1,
        "quickstart-guide-beacon-1",
    )
    assert (unplaced.last_seen, unplaced.battery_level, unplaced.floor) == (None, None, None)
    assert (placed.latitude, placed.longitude) == (49.897644460986925, 10.878723934292793)
    assert placed.last_seen == utc(2025, 2, 21, 12, 4, 24, 93000)
    assert placed.battery_level == 100.0
    assert placed.minor == 2


def test_a_beacon_floor_in_attributes_becomes_an_int():
    payload = load("safectory/beacons.json")[1] | {"attributes": {"floor": "3"}}
    assert parse_beacon(payload).floor == 3


def test_render_beacon_sends_back_what_the_documented_put_carries():
    documented = load("safectory/beacons.json")[1]
    body = render_beacon(parse_beacon(documented))
    assert body == {k: documented[k] for k in ("id", "name", "uuid", "major", "minor", "latitude", "longitude")} | {
        "attributes": {}
    }
    assert isinstance(body["id"], int)


def test_a_ping_is_answered_with_pong_uuid(safectory):
    parsed = safectory.parse_socket_message(load("safectory/ping.json"))
    assert parsed["pings"] == ["a0b34365-908f-4868-a52a-84a3ed83bd59"]
    assert safectory.pong(parsed["pings"][0]) == "pong a0b34365-908f-4868-a52a-84a3ed83bd59"
    assert parsed["positions"] == parsed["devices"] == parsed["events"] == parsed["beacons"] == []


def test_the_web_session_timeout_message_carries_nothing_to_store(safectory):
    parsed = safectory.parse_socket_message(load("safectory/session_timeout.json"))
    assert parsed == {"positions": [], "devices": [], "events": [], "beacons": [], "pings": []}


def test_a_beacon_not_placed_yet_has_no_location_rather_than_null_island():
    from fleet.vendors.safectory import parse_beacon

    beacon = parse_beacon({"id": 1, "uuid": "ab" * 16, "major": 1, "minor": 2, "latitude": 0, "longitude": 0})
    assert (beacon.latitude, beacon.longitude) == (None, None)
    placed = parse_beacon({"id": 2, "uuid": "ab" * 16, "major": 1, "minor": 3, "latitude": 49.9, "longitude": 10.8})
    assert (placed.latitude, placed.longitude) == (49.9, 10.8)
