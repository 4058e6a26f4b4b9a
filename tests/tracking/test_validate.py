"""The validation gate: what each canonical record must be before it is stored, what is mended in place and
what is refused with a reason."""

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from fleet.tracking import validate
from fleet.tracking.attributes import canonical, flag, json_safe, number
from fleet.tracking.records import (
    BeaconRecord,
    DeviceRecord,
    EventRecord,
    GeofenceRecord,
    PoiRecord,
    PositionRecord,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def fix(**kw) -> PositionRecord:
    kw.setdefault("fix_time", NOW - timedelta(minutes=1))
    return PositionRecord("1", kw.pop("fix_time"), kw.pop("latitude", 60.17), kw.pop("longitude", 24.94), **kw)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"latitude": math.nan}, "not a finite number"),
        ({"longitude": math.inf}, "not a finite number"),
        ({"latitude": None}, "not a finite number"),
        ({"latitude": 794.0}, "latitude out of range"),
        ({"longitude": -195.0}, "longitude out of range"),
        ({"fix_time": datetime(1999, 12, 31, tzinfo=UTC)}, "fix time before 2000"),
        ({"fix_time": NOW + timedelta(minutes=6)}, "fix time in the future"),
        ({"fix_time": datetime(2026, 11, 20, 11, 0)}, "fix time missing or naive"),
        ({"speed": -3.0}, "speed implausible"),
        ({"speed": 92_600.0}, "speed implausible"),
        ({"speed": math.nan}, "speed implausible"),
    ],
)
def test_a_position_that_cannot_be_true_is_refused_with_its_reason(changes, reason):
    assert validate.position(fix(**changes), NOW, 300.0, Counter()) == reason


def test_optional_fields_that_cannot_be_true_are_dropped_and_noted_and_the_position_kept():
    notes = Counter()
    record = fix(course=400.0, altitude=84_916_000.0, accuracy=-5.0, speed=None)
    assert validate.position(record, NOW, 300.0, notes) is None
    assert (record.course, record.altitude, record.accuracy, record.speed) == (40.0, None, None, 0.0)
    assert fix(course=-10.0).course == -10.0 and validate.position(r := fix(course=-10.0), NOW, 300, notes) is None
    assert r.course == 350.0
    assert notes == {"altitude out of range: dropped": 1, "accuracy not a positive number: dropped": 1}
    nan_course = fix(course=math.nan)
    validate.position(nan_course, NOW, 300, notes)
    assert nan_course.course is None and notes["course not a number: dropped"] == 1


def test_the_organisations_plausible_speed_is_the_limit():
    assert validate.position(fix(speed=250.0), NOW, 300.0, Counter()) is None
    assert validate.position(fix(speed=250.0), NOW, 200.0, Counter()) == "speed implausible"


def test_attributes_get_canonical_types_and_nothing_non_finite():
    odd = {
        "ignition": "On",
        "motion": 0,
        "fuel_l": "NaN",
        "power_v": "12.5",
        "batteryLevel": math.inf,
        "temperatures": [4, "x", math.nan],
        "extra": {"a": math.nan, "b": [1, math.inf]},
        "big": 10**30,
    }
    assert canonical(odd) == {
        "ignition": True,
        "motion": False,
        "power_v": 12.5,
        "temperatures": [4.0],
        "extra": {"b": [1]},
        "big": str(10**30),
    }
    assert number("Infinity") is None and number("nan") is None and number(True) is None and number(" 42 ") == 42
    assert [flag(v) for v in ("yes", "OFF", 0.5, "maybe", [1])] == [True, False, True, None, None]
    assert json_safe("not a dict") == {} and json_safe({1: math.nan}) == {}


def test_devices_get_names_cut_to_their_columns_and_impossible_times_dropped():
    record = DeviceRecord(
        "  7 ", "  Truck\n  07 " + "x" * 300, unique_id="u" * 150, last_update=datetime(1890, 1, 1, tzinfo=UTC)
    )
    assert validate.device(record, NOW) is None
    assert record.vendor_id == "7" and len(record.name) == 200 and record.name.startswith("Truck 07 x")
    assert len(record.unique_id) == 100 and record.last_update is None
    nameless = DeviceRecord("8", "")
    assert validate.device(nameless, NOW) is None and nameless.name == "8"
    assert validate.device(DeviceRecord("", "x"), NOW) == "no id"


def test_events_need_a_device_and_a_time_in_the_window_and_keep_unknown_types():
    ok = EventRecord("1", "someVendorThing", NOW - timedelta(hours=1), attributes={"x": math.nan})
    assert validate.event(ok, NOW) is None and ok.type == "someVendorThing" and ok.attributes == {}
    assert validate.event(EventRecord("1", "alarm", datetime(1999, 1, 1, tzinfo=UTC)), NOW) == "time before 2000"
    assert validate.event(EventRecord("1", "alarm", NOW + timedelta(days=1)), NOW) == "time in the future"
    assert validate.event(EventRecord("", "alarm", NOW), NOW) == "no deviceId"
    blank = EventRecord("1", "", NOW)
    assert validate.event(blank, NOW) is None and blank.type == "unknown"


@pytest.mark.parametrize(
    ("kind", "wkt", "radius", "reason"),
    [
        ("polygon", "POLYGON ((24.9 60.1, 25 60.1, 25 60.2))", None, None),  # left open: closed
        ("polygon", "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))", None, "area: self-intersecting"),
        ("polygon", "POLYGON ((794 -195, 800 -195, 800 -190, 794 -195))", None, "area: coordinates out of range"),
        ("polygon", "somewhere", None, "area: not WKT"),
        ("polygon", "POINT (25 60)", None, "area: a polygon needs a Polygon or MultiPolygon, not a Point"),
        ("circle", "POINT (25 60)", -29.0, "radius: not a positive number"),
        ("circle", "POINT (25 60)", 150.0, None),
        ("corridor", "LINESTRING (25 60, 25.1 60.1)", None, "width: not a positive number"),
    ],
)
def test_geofence_shapes_are_checked(kind, wkt, radius, reason):
    record = GeofenceRecord("g1", "", kind, wkt, radius_m=radius)
    assert validate.geofence(record) == reason
    if reason is None:
        assert record.name == "g1"  # no name: the vendor id


def test_a_repairable_polygon_is_stored_repaired():
    spike = "POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0, 1 1, 0 0))"  # a ring touching itself
    record = GeofenceRecord("g2", "Yard", "polygon", spike)
    assert validate.geofence(record) in (None, "area: self-intersecting")


def test_pois_and_beacons_are_checked():
    assert validate.poi(PoiRecord("p", "Shop", 95.0, 25.0)) == "point out of range"
    assert validate.poi(PoiRecord("p", "Shop", 60.0, 25.0, radius_m=0)) == "radius: not a positive number"
    beacon = BeaconRecord("b", "uuid", 1, 2, latitude=math.nan, longitude=25.0, battery_level=140.0)
    assert validate.beacon(beacon, NOW) is None and (beacon.latitude, beacon.battery_level) == (None, None)
    assert validate.beacon(BeaconRecord("b", "uuid", 70_000, 2), NOW) == "major / minor out of range"


def test_a_tally_adds_up_and_keeps_one_example_per_reason():
    tally = validate.Tally(received=6, created=2, duplicates=1)
    tally.reject("no id", "")
    tally.reject("unknown device", "77")
    tally.reject("unknown device", "78")
    other = validate.Tally(received=1, updated=1)
    tally.add(other)
    assert tally.received == tally.created + tally.updated + tally.duplicates + tally.rejected == 7
    assert tally.as_dict()["examples"] == {"unknown device": "77"}
    assert tally.as_dict()["reasons"] == {"no id": 1, "unknown device": 2}
