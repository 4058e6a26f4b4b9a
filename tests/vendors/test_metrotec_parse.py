"""The Metrotec connector's pure parsers against every example payload of the vendor's excerpt
(tests/fixtures/metrotec/, README there)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleet.vendors import base
from fleet.vendors.metrotec.parse import (
    format_time,
    parse_driver,
    parse_fuel_event,
    parse_geozone,
    parse_heading,
    parse_poi,
    parse_position,
    parse_stop_report,
    parse_task,
    parse_task_file,
    parse_trip,
    parse_vehicle,
    parse_visit,
    parse_waybill,
    parse_work_period,
    parse_work_time,
    render_geozone,
    render_poi,
    render_task,
    renew_at,
    summary,
    temperatures,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "metrotec"


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_fuel_tank_position_reads_xpos_as_longitude_and_the_degree_heading():
    (row,) = load("tanks.json")
    p = parse_position(row)
    assert (p.device_id, p.fix_time) == ("FTrans", utc(2019, 8, 30, 8, 56, 9))  # GMTime is UTC
    assert (p.latitude, p.longitude) == (59.3960766, 24.6066633)
    assert (p.speed, p.course, p.valid) == (0.0, 357.0, True)
    assert p.attributes == {
        "ignition": False,  # Input 2: bit 0 is off
        "power_v": 0.0,
        "battery": 6.5,
        "odometer_m": 4678400.0,
        "temperatures": [20.0],
    }


def test_the_schema_example_of_a_position_is_read_with_its_placeholders_left_out():
    (row,) = load("positions.json")
    p = parse_position(row)
    assert (p.device_id, p.fix_time) == ("string", utc(2019, 8, 24, 14, 15, 22))  # the ISO form with Z
    assert (p.latitude, p.longitude, p.course) == (0.1, 0.1, None)  # "Heading": "string" is no heading
    assert p.valid  # "NoGPSFix": "string" says nothing
    assert "temperatures" not in p.attributes  # four zeros: no sensor fitted


def test_a_route_history_row_belongs_to_the_vehicle_asked_for():
    (row,) = load("history.json")
    p = parse_position(row, "000AAA")
    assert (p.device_id, p.fix_time) == ("000AAA", utc(2025, 2, 17, 23, 54, 54))
    assert (p.latitude, p.longitude, p.speed) == (59.3196, 24.8709, 0.0)
    assert p.attributes == {"ignition": False, "fuel_l": 10.0}
    with pytest.raises(base.Reject, match="no objectID"):
        parse_position(row)  # without the vehicle it has no device


def test_a_vehicle_is_keyed_by_its_registration_number_and_named_by_its_alias():
    (row,) = load("vehicles.json")
    device = parse_vehicle(row)
    assert (device.vendor_id, device.name, device.plate, device.category) == ("010PNR", "010PNR", "010PNR", "")
    assert parse_vehicle({**row, "alias": "Van 3", "categoryName": "Kaubik"}).name == "Van 3"


@pytest.mark.parametrize(
    ("file", "name", "card", "vehicle"),
    [("drivers.json", "AGUR KUKKE", "3641012027000102", "627SCA"), ("persons.json", "Car Driver", "", None)],
)
def test_drivers_are_named_and_keep_their_card_and_vehicle(file, name, card, vehicle):
    (row,) = load(file)
    driver = parse_driver(row)
    assert (driver.name, driver.unique_id, driver.device_id) == (name, card, vehicle)


def test_a_route_log_row_is_a_vendor_trip_in_metres_and_seconds():
    (row,) = load("routelog.json")
    trip = parse_trip(row)
    assert (trip["device_id"], trip["start"], trip["end"]) == (
        "000AAA",
        utc(2025, 2, 14, 6, 13, 24),
        utc(2025, 2, 14, 6, 34, 30),
    )
    assert (trip["distance_m"], trip["duration_s"], trip["max_speed"], trip["average_speed"]) == (
        14920.0,
        1266,
        76.0,
        35.91,
    )
    assert trip["end_address"] == "EE, Harju maakond, Tallinn, Nõmme linnaosa, Valdeku 168"
    assert summary("000AAA", [trip, trip])["distance_m"] == 29840.0


def test_a_stops_row_is_the_stop_after_its_drive():
    (row,) = load("stops.json")
    stop = parse_stop_report(row)
    assert (stop["start"], stop["end"], stop["duration_s"]) == (
        utc(2025, 2, 14, 6, 18, 26),
        utc(2025, 2, 14, 6, 21, 24),
        178.0,
    )


def test_the_login_answer_of_the_excerpt_names_no_expiry():
    assert renew_at(load("login.json")["expires"], 1_000.0) is None
    assert renew_at(1_700_000_600, 1_700_000_000) == 1_700_000_540  # a Unix time, renewed a minute early
    assert renew_at(100, 1_000.0) == 1_080.0  # seconds from now: a fifth early


@pytest.mark.parametrize(
    ("value", "degrees"), [("357°", 357.0), (" 12 ° ", 12.0), (90, 90.0), ("0º", 0.0), ("N", None), (None, None)]
)
def test_headings_come_as_degrees_with_or_without_the_sign(value, degrees):
    assert parse_heading(value) == degrees


def test_temperatures_stop_at_the_last_fitted_sensor():
    assert temperatures({"t1": 0, "t2": -18.5, "t3": 0, "t4": 0}) == [0.0, -18.5]
    assert temperatures({"t1": None, "t2": "NaN"}) == []


def test_times_are_sent_as_the_vendor_writes_them():
    assert format_time(utc(2025, 9, 1, 21, 0, 0)) == "2025-09-01 21:00:00"


@pytest.mark.parametrize(
    "broken",
    [{"GMTime": None}, {"GMTime": "yesterday"}, {"objectID": None}, {"objectID": ""}],
    ids=["no time", "unreadable time", "null id", "empty id"],
)
def test_a_position_the_mapper_cannot_read_is_a_reject_with_a_reason(broken):
    (row,) = load("tanks.json")
    with pytest.raises(base.Reject):
        parse_position({**row, **broken})


def test_a_geozone_circle_is_read_longitude_first_with_its_radius():
    (row,) = load("geozones.json")
    zone = parse_geozone(row)
    assert (zone.vendor_id, zone.kind, zone.wkt, zone.radius_m) == ("48207", "circle", "POINT (24.52074 59.4414)", 500)


def test_a_created_geozone_reads_the_same_as_the_json_string_it_was_created_from():
    sent, answer = load("geozone_create.json"), load("geozone_created.json")
    created, requested = parse_geozone(answer), parse_geozone({**sent, "id": 50231})
    assert (created.kind, created.wkt, created.radius_m) == (requested.kind, requested.wkt, requested.radius_m)


def test_a_geozone_is_sent_with_its_geometry_as_a_json_string_and_reads_back_the_same():
    (row,) = load("geozones.json")
    body = render_geozone(parse_geozone(row))
    assert json.loads(body["geometry"]) == row["geometry"]
    square = {"id": 1, "type": "polygon"}
    points = [{"lat": 59.0, "lng": 24.0}, {"lat": 59.1, "lng": 24.0}, {"lat": 59.1, "lng": 24.1}]
    polygon = parse_geozone({"id": 1, "geometry": {**square, "latlngs": points}})
    assert polygon.wkt == "POLYGON ((24.0 59.0, 24.0 59.1, 24.1 59.1, 24.0 59.0))"  # closed, longitude first
    assert json.loads(render_geozone(polygon)["geometry"])["latlngs"] == points


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (None, "geometry: missing"),
        ("{not json", "geometry: not JSON"),
        ({"type": "rectangle"}, "geometry: a 'rectangle' is no geozone"),
        ({"type": "circle", "latlng": {"lat": 91, "lng": 24}, "radius": 5}, "geometry: coordinates out of range"),
        ({"type": "polygon", "latlngs": [{"lat": 59, "lng": 24}]}, "geometry: a polygon needs three points or more"),
    ],
)
def test_a_geozone_that_is_no_circle_or_polygon_is_a_reject_naming_why(geometry, reason):
    with pytest.raises(base.Reject, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_geozone({"id": 7, "geometry": geometry})


def test_a_task_row_maps_status_1_to_created_and_keeps_its_order_ref():
    (row,) = load("tasks.json")
    task = parse_task(row)
    assert (task.vendor_id, task.order_ref, task.device_id, task.status) == (
        "12346",
        "ORDER-2025-001",
        "ABC123",
        "created",
    )
    assert (task.latitude, task.longitude, task.address) == (59.437, 24.754, "Tallinn, Estonia")
    assert (task.planned_start, task.planned_stop) == (utc(2025, 1, 20, 8), utc(2025, 1, 20, 17))
    assert [parse_task({**row, "status": n}).status for n in (2, 3, 4, 5)] == [
        "in_progress",
        "completed",
        "rejected",
        "cancelled",
    ]
    with pytest.raises(base.Reject, match="status: not 1 to 5"):
        parse_task({**row, "status": 9})


def test_a_task_is_sent_with_the_excerpts_create_fields():
    (row,) = load("tasks.json")
    body = render_task(parse_task(row))
    create = load("task_create.json")
    assert {k: body[k] for k in create} == create
    assert set(load("task_update.json")) - {"edit", "task_notes"} <= set(body)  # an update sends them too


def test_a_poi_keeps_its_purpose_radius_and_contact():
    (row,) = load("pois.json")
    poi = parse_poi(row)
    assert (poi.vendor_id, poi.name, poi.latitude, poi.longitude) == (
        "72228",
        "Metrotec",
        59.292025874924356,
        27.07949659225727,
    )
    assert (poi.radius_m, poi.description, poi.address[:12]) == (100, "Important place", "Haljas tee 2")
    assert poi.attributes == {"purpose": "poi", "type": 1, "contact_name": "Viktor", "contact_phone": "+372 55667788"}
    assert parse_poi({**row, "purpose": 3}).attributes["purpose"] == "beacon"


def test_a_poi_is_sent_with_the_excerpts_fields_latitude_as_lat():
    create = load("poi_create.json")
    body = render_poi(parse_poi({**create, "id": 1, "lat": 59.318745, "lon": 24.868293}))
    assert (body["lat"], body["lon"]) == (59.318745, 24.868293)
    assert {k: body[k] for k in ("name", "purpose", "comment", "type", "radius", "rgAddress", "contact_name")} == {
        k: create[k] for k in ("name", "purpose", "comment", "type", "radius", "rgAddress", "contact_name")
    }


def test_a_poi_report_row_is_a_visit_in_seconds_and_metres():
    (row,) = load("poi_report.json")
    visit = parse_visit(row)
    assert (visit["device_id"], visit["poi"], visit["duration_s"], visit["distance_m"]) == (
        "010PNR",
        "Секретная База Зла",
        93,
        440.0,
    )
    assert (visit["enter"], visit["exit"]) == (utc(2025, 9, 2, 6, 2, 2), utc(2025, 9, 2, 6, 3, 35))
    assert load("poi_reports.json")[0]["status"] == 0  # "not processed": what the connector calls waiting


def test_a_task_file_row_is_its_metadata_on_its_task():
    record = parse_task_file(load("files.json")[0])
    assert (record.vendor_id, record.task_id) == ("12345", "67890")
    assert (record.name, record.mime, record.kind) == ("Task Photo - Loading Area", "image/jpeg", "image")
    assert record.uploaded == utc(2025, 1, 19, 10, 30, 45) and record.sender == "john.doe"


def test_a_task_file_with_an_unreadable_time_is_still_listed_and_one_without_a_task_is_not():
    row = load("files.json")[0]
    assert parse_task_file({**row, "uploaded_at": "yesterday"}).uploaded is None
    assert parse_task_file({**row, "defined_name": None}).name == "20250119_abc123def456.jpg"
    with pytest.raises(base.Reject, match="pivot_id"):
        parse_task_file({**row, "pivot_id": None})


def test_a_refuelling_row_is_a_refuel_event_with_its_litres():
    event = parse_fuel_event(load("fuel_events.json")[0])
    assert (event.device_id, event.type, event.time, event.vendor_id) == (
        "000AAA",
        "refuel",
        utc(2025, 2, 18, 7, 53, 40),
        "3434188",
    )
    assert event.attributes["litres"] == 46 and event.attributes["fuel_before_l"] == 8
    assert event.attributes["end"] == "2025-02-18T07:54:23+00:00" and event.attributes["distance_m"] == 379320
    assert event.attributes["address"].startswith("EE, Harju maakond")


def test_a_fall_of_the_fuel_level_is_a_fuel_drop_and_no_change_or_no_level_is_refused():
    row = load("fuel_events.json")[0]
    drop = parse_fuel_event({**row, "fuelBeforeL": 54, "fuelAfterL": 20})
    assert drop.type == "deviceFuelDrop" and drop.attributes["litres"] == -34
    for bad, reason in (
        ({"fuelAfterL": 8}, "no change"),
        ({"fuelBeforeL": None}, "fuelBeforeL"),
        ({"fuelAfterL": -1}, "fuelAfterL"),
    ):
        with pytest.raises(base.Reject, match=reason):
            parse_fuel_event({**row, **bad})


def test_work_and_repair_time_rows_are_seconds_per_vehicle_and_periods_with_their_driver():
    assert parse_work_time(load("worktime.json")[0]) == {
        "device_id": "123ABC",
        "device_name": "CAR01",
        "work_s": 543324,
        "repair_s": 0,
        "own_repair_s": 0,
    }
    period = parse_work_period(load("worktime_vehicle.json")[0])
    assert (period["start"], period["end"]) == (utc(2021, 12, 2, 16, 58, 9), utc(2021, 12, 2, 18, 6, 14))
    assert (period["duration_s"], period["status"], period["driver"]) == (4085, "work", "Jaan Tamm")


def test_a_waybill_is_its_vehicles_job_and_driver():
    waybill = parse_waybill(load("waybills.json")[0])
    assert (waybill["device_id"], waybill["job"], waybill["driver"]) == ("123ABC", "Job 1", "John Smith")
    assert waybill["start"] == waybill["end"] == utc(2021, 6, 2, 4, 2, 8)
