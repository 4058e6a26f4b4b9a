"""fleet-v2's mappers on payloads shaped as the excerpt and the notes show them (tests/fixtures/fleetv2/), and
property tests on rows in which every field may be missing, null, NaN, of another type or oddly written."""

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.tracking.records import DeviceRecord, EventRecord, PositionRecord
from fleet.vendors import base
from fleet.vendors.fleetv2 import (
    FleetV2Connector,
    alert_event_type,
    parse_alert,
    parse_alert_config,
    parse_battery_v1,
    parse_battery_v2,
    parse_last_online,
    parse_position,
    parse_timespan,
    parse_vehicle,
    token_company,
)
from tests.vendors import strategies as S
from tests.vendors.test_metrotec_properties import ABSENT, EXTREMES, FLAGS, IDS, NUMBERS, check_rows

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fleetv2"


def example(name: str) -> dict:
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload[0] if isinstance(payload, list) else payload


@pytest.fixture(scope="module")
def connector():
    with FleetV2Connector(1, "http://127.0.0.1:1", {}) as c:
        yield c


def test_a_v2_position_is_read_in_canonical_units_and_its_synthetic_id_is_not_kept():
    record = parse_position(example("position_v2.json"))
    assert record.device_id == "12345"
    assert record.fix_time == datetime(2026, 4, 28, 6, 14, 22, tzinfo=UTC)  # no zone: UTC
    assert (record.latitude, record.longitude, record.speed, record.course) == (-33.8688, 151.2093, 62.5, 274)
    assert record.attributes == {
        "ignition": True,
        "odometer_m": 128456700.0,
        "power_v": 13.8,
        "engine_hours_s": 3120.5 * 3600,
        "fuel_l": 162.0,
        "fuel_pct": 54.0,
        "fatigue_s": 9000.0,
        "satellites": 11,
        "rssi": -71,
        "network": "Good",
    }
    assert "177735686212345" not in repr(record)


def test_a_v1_position_with_its_misspellings_is_read_the_same_way():
    record = parse_position(example("position_v1.json"))
    assert record.device_id == "67890"
    assert record.fix_time == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert (record.latitude, record.longitude, record.speed) == (-37.8136, 144.9631, 45)
    assert record.attributes["network"] == "Excellent"  # ConnectionStrengh (sic)
    assert record.attributes["odometer_m"] == pytest.approx(45210300.0)
    assert record.attributes["fatigue_s"] == 0.0
    assert record.attributes["satellites"] == 9


def test_an_older_pages_integer_connection_strength_is_kept_as_a_number():
    row = {**example("position_v1.json"), "connectionStrength": 200}
    del row["ConnectionStrengh"]
    assert parse_position(row).attributes["network"] == 200


def test_a_vehicle_comes_from_its_last_position():
    device = parse_vehicle(example("position_v2.json"))
    assert (device.vendor_id, device.name, device.unique_id, device.status) == (
        "12345",
        "Hino 500 #12",
        "356789012345678",
        "online",
    )
    assert device.attributes == {"vin": "JHDFD7JLMXXX10234"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, ("deviceOverspeed", 7)),
        ("18", ("ignitionOn", 18)),
        ("Overspeed", ("deviceOverspeed", 7)),
        ("Ignition Off", ("ignitionOff", 19)),
        ("geofence_enter", ("geofenceEnter", 24)),
        (99, ("alarm", 99)),
        ("Tow alert", ("alarm", None)),
    ],
)
def test_alert_types_as_int_numeric_string_or_label_become_our_event_types(value, expected):
    assert alert_event_type(value) == expected


def test_alert_records_are_keyed_by_id_and_time():
    rows = json.loads((FIXTURES / "alerts.json").read_text())
    events = [parse_alert(r) for r in rows]
    assert [e.type for e in events] == ["deviceOverspeed", "ignitionOn", "deviceOverspeed"]
    assert events[0].vendor_id == "7731@2026-04-28T06:10:00Z"
    assert events[1].attributes["read"] is True and events[0].attributes["alert_type"] == 7
    assert {e.device_id for e in events} == {"12345"}


def test_last_time_online_is_utc_and_a_vehicle_never_online_has_none():
    seen, never = (parse_last_online(row) for row in json.loads((FIXTURES / "last_online.json").read_text()))
    assert (seen.vendor_id, seen.unique_id) == ("12345", "356938035643809")
    assert seen.last_update == datetime(2026, 4, 28, 6, 14, 22, tzinfo=UTC)
    assert seen.status == "unknown"  # the DTO says no more than the time
    assert never.vendor_id == "12346" and never.last_update is None
    assert parse_last_online({"vehicleId": 1, "lastTimeOnlineUtc": "2026-04-28T06:14:22Z", "isOnline": 0}).status == (
        "offline"
    )


def test_alert_configs_give_name_type_enabled_and_the_event_type_alert_records_map_to():
    rules = [parse_alert_config(row) for row in json.loads((FIXTURES / "alert_configs.json").read_text())]
    assert rules == [
        {"id": "301", "name": "Speeding", "type": "Overspeed", "event": "deviceOverspeed", "enabled": True},
        {"id": "302", "name": "Ignition", "type": "18", "event": "ignitionOn", "enabled": False},
        {"id": "303", "name": "Depot", "type": "24", "event": "geofenceEnter", "enabled": None},
    ]
    for rule, code in zip(rules, (7, 18, 24), strict=True):  # the same mapping as the records'
        assert rule["event"] == alert_event_type(code)[0]
    assert parse_alert_config({"id": 9, "alertType": "Door open"})["event"] == "alarm"


def test_malformed_alert_configs_are_counted_rejections(connector):
    connector.rejects.clear()
    rows = [
        {"id": 1, "name": "ok", "alertType": "Overspeed"},
        {"name": "no id", "alertType": 7},
        {"id": 3, "name": "no type"},
        {"id": 4, "alertType": {"code": 7}},
        {"id": 5, "alertType": "  "},
        "not a row",
        None,
    ]
    rules = connector.map_rows("alert_rules", rows, parse_alert_config)
    assert [r["id"] for r in rules] == ["1"]
    tally = connector.rejects["alert_rules"]
    assert tally.rejected == 6 and tally.reasons["alertType: missing"] == 2


def test_battery_health_v1_takes_the_latest_prediction_and_v2_the_score():
    assert parse_battery_v1(example("battery_v1.json")) == {
        "vehicle_id": "12345",
        "voltage": 12.31,
        "prediction": "Check",
        "confidence": 0.78,
    }
    assert parse_battery_v2(example("battery_v2.json")) == {
        "vehicle_id": "12345",
        "voltage": 12.31,
        "score": 58,
        "forecast": "Battery should be checked soon",
    }
    assert "prediction" not in parse_battery_v1(
        {"vehicleId": 1, "predictionResults": [{"batteryPredictionValue": "?"}]}
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:00", 0.0),
        ("02:30:00", 9000.0),
        ("1.02:30:00", 95400.0),
        ("00:00:01.5", 1.5),
        ("-00:01:00", -60.0),
        ("PT2H30M", 9000.0),
        ("PT45S", 45.0),
        ("P1DT1H", 90000.0),
        ("pt1m", 60.0),
        ("PT", None),
        ("P", None),
        ("2:30", None),
        ("soon", None),
        ("", None),
        (None, None),
        (150, None),
        ("9" * 400 + ".00:00:00", None),
        ("P" + "9" * 400 + "D", None),
    ],
)
def test_fatigue_reads_dotnet_timespans_and_iso_durations(text, seconds):
    assert parse_timespan(text) == seconds


def test_the_company_comes_from_the_tokens_claims():
    claims = "eyJVc2VySWQiOjEsIkNvbXBhbnlJZCI6MTIwMX0"  # {"UserId":1,"CompanyId":1201}
    assert token_company(f"h.{claims}.s") == "1201"
    assert token_company("not-a-jwt") is None and token_company("a.!!!.b") is None


# --- properties ---------------------------------------------------------------------------------------------
TIMES = st.one_of(S.DATE_TIMES, S.WILD_DATE_TIMES, S.NAIVE_DATE_TIMES)
SPANS = st.one_of(st.sampled_from(["00:00:00", "PT2H30M", "99:99:99", "P", "1.", "-"]), st.text(max_size=12))
TIME_KEYS = {"lastTimeOnlineUtc", "utcTime", "UtcTime", "userTime", "ignitionTime", "IgnitionTime", "predictionForDay"}


def field(key: str, value: object) -> st.SearchStrategy:
    if key in TIME_KEYS:
        kind = TIMES
    elif key in ("fatigue", "Fatigue", "drivingTime", "timeElapsed"):
        kind = SPANS
    elif key in ("ignition", "Ignition", "isRead", "isOnline", "engineEnabled", "enabled"):
        kind = FLAGS
    elif key in ("id", "deviceId", "DeviceId", "vehicleId"):
        kind = IDS
    elif key == "alertType":
        kind = st.one_of(st.integers(-5, 100), st.integers(0, 99).map(str), st.text(max_size=20), S.WRONG_TYPES)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        kind = NUMBERS
    else:
        kind = st.one_of(st.text(max_size=40), S.WRONG_TYPES)
    return st.one_of(st.just(value), st.just(ABSENT), st.none(), kind)


def rows_like(name: str) -> st.SearchStrategy[list]:
    row = st.fixed_dictionaries({k: field(k, v) for k, v in example(name).items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )
    odd = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2))
    return st.lists(st.one_of(row, row, row, odd), max_size=6)


RESOURCES = [
    ("positions", "position_v2.json", parse_position, PositionRecord, "position"),
    ("positions", "position_v1.json", parse_position, PositionRecord, "position"),
    ("devices", "position_v2.json", parse_vehicle, DeviceRecord, "device"),
    ("devices", "last_online.json", parse_last_online, DeviceRecord, "device"),
    ("events", "alerts.json", parse_alert, EventRecord, "event"),
]
IDS_OF = [f"{file}-{mapper.__name__}" for _, file, mapper, _, _ in RESOURCES]


@pytest.mark.parametrize(("resource", "file", "mapper", "record_cls", "kind"), RESOURCES, ids=IDS_OF)
def test_rows_like_the_vendors_map_and_pass_or_fail_the_gate_with_a_reason(
    connector, resource, file, mapper, record_cls, kind
):
    @S.profile()
    @given(rows_like(file))
    def check(rows):
        check_rows(connector, resource, mapper, record_cls, kind, rows)

    check()


@pytest.mark.parametrize(("resource", "file", "mapper", "record_cls", "kind"), RESOURCES, ids=IDS_OF)
def test_each_field_at_its_extremes_maps_and_passes_or_fails_the_gate_with_a_reason(
    connector, resource, file, mapper, record_cls, kind
):
    base_row = example(file)
    rows = [{**base_row, key: value} for key in base_row for value in EXTREMES]
    check_rows(connector, resource, mapper, record_cls, kind, rows)


@pytest.mark.parametrize("file", ["battery_v1.json", "battery_v2.json"])
def test_battery_rows_of_any_shape_give_finite_numbers_or_a_reject(connector, file):
    mapper = parse_battery_v1 if "v1" in file else parse_battery_v2

    @S.profile()
    @given(rows_like(file))
    def check(rows):
        connector.rejects.clear()
        healths = connector.map_rows(base.DEVICES, rows, mapper)
        tally = connector.rejects.get(base.DEVICES)
        assert len(rows) == len(healths) + (tally.rejected if tally else 0)
        for health in healths:
            assert isinstance(health["vehicle_id"], str) and health["vehicle_id"]
            numbers = [v for k, v in health.items() if k != "vehicle_id" and isinstance(v, float | int)]
            assert all(math.isfinite(v) for v in numbers)
            assert health.get("prediction") in (None, "Healthy", "Check", "Failing")

    check()


def test_alert_configs_of_any_shape_give_text_fields_or_a_reject(connector):
    @S.profile()
    @given(rows_like("alert_configs.json"))
    def check(rows):
        connector.rejects.clear()
        rules = connector.map_rows("alert_rules", rows, parse_alert_config)
        tally = connector.rejects.get("alert_rules")
        assert len(rows) == len(rules) + (tally.rejected if tally else 0)
        for rule in rules:
            assert all(isinstance(rule[k], str) and rule[k] for k in ("id", "type", "event")), rule
            assert isinstance(rule["name"], str) and len(rule["name"]) <= 100
            assert rule["enabled"] in (True, False, None)

    check()


@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), S.WRONG_TYPES))
def test_parse_timespan_never_raises_and_gives_a_finite_number_or_none(value):
    seconds = parse_timespan(value)
    assert seconds is None or math.isfinite(seconds)
