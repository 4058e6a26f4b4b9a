"""The row generator of tests/vendors/strategies.py: its JSON Schemas, converted from Traccar 4.2's swagger, accept
the real payloads of tests/fixtures; what it draws in the schema-valid mode is schema-valid; its off-spec mode
does reach the off-spec values it promises."""

import functools
import json
import math
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings

from tests.vendors import strategies as S

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAFECTORY_NAMES = ("Device", "Position", "Event", "Beacon")
ALL = [("traccar", name) for name in S.TRACCAR] + [("safectory", name) for name in SAFECTORY_NAMES]


def walk(schema):
    yield schema
    for sub in schema.get("properties", {}).values():
        yield from walk(sub)
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"])


def test_the_swagger_is_traccar_4_2s():
    spec = S.swagger()
    assert (spec["swagger"], spec["info"]["version"], spec["basePath"]) == ("2.0", "4.2", "/api")
    assert set(S.TRACCAR) <= set(spec["definitions"])


@pytest.mark.parametrize(("vendor", "name"), ALL)
def test_converted_schemas_are_json_schema_with_every_property_optional_and_nullable(vendor, name):
    schema = S.json_schema(name, vendor)
    S.jsonschema.Draft7Validator.check_schema(schema)
    assert schema["type"] == "object" and "required" not in schema and "additionalProperties" not in schema
    for prop, sub in schema["properties"].items():
        assert "null" in sub["type"], prop
    for sub in walk(schema):
        assert not {"$ref", "xml", "example", "description"} & set(sub)


def test_the_conversion_maps_swagger_details():
    driver = S.json_schema("Driver")["properties"]
    assert "atributes" not in driver and driver["attributes"] == {"type": ["object", "null"]}
    assert S.json_schema("Position")["properties"]["fixTime"] == {"type": ["string", "null"], "format": "date-time"}
    assert S.json_schema("ReportTrips")["properties"]["driverUniqueId"]["type"] == ["string", "null"]
    assert S.json_schema("Device")["properties"]["geofenceIds"] == {
        "type": ["array", "null"],
        "items": {"type": "integer"},
    }
    assert S.convert({"type": "integer", "format": "int32"}, {}) == {
        "type": "integer",
        "minimum": -(2**31),
        "maximum": 2**31 - 1,
    }
    assert S.convert({"type": "number", "format": "double", "example": 1.5}, {}) == {"type": "number"}
    assert S.convert({"$ref": "#/definitions/Group"}, S.swagger()["definitions"])["properties"]["groupId"] == {
        "type": ["integer", "null"]
    }
    assert "beaconId" not in S.json_schema("Position")["properties"]
    assert "beaconId" in S.json_schema("Position", "safectory")["properties"]


@pytest.mark.parametrize(
    ("vendor", "name", "fixture"),
    [
        ("traccar", "Device", "datatrak/devices.json"),
        ("traccar", "Position", "datatrak/positions.json"),
        ("traccar", "Event", "datatrak/events.json"),
        ("traccar", "Geofence", "datatrak/geofences.json"),
        ("traccar", "Group", "datatrak/groups.json"),
        ("traccar", "Driver", "datatrak/drivers.json"),
        ("traccar", "ReportTrips", "datatrak/trips.json"),
        ("safectory", "Device", "safectory/devices.json"),
        ("safectory", "Position", "safectory/positions.json"),
        ("safectory", "Beacon", "safectory/beacons.json"),
    ],
)
def test_the_real_payload_fixtures_are_valid_against_the_converted_schemas(vendor, name, fixture):
    validator = S.validator(name, vendor)
    for row in json.loads((FIXTURES / fixture).read_text(encoding="utf-8")):
        assert not list(validator.iter_errors(row)), row


@pytest.mark.parametrize(
    "text",
    [
        "2018-11-10T12:00:00.000+0000",
        "1963-11-22T18:30:00Z",
        "2021-03-08T11:15:00.000+02:00",
        "2025-02-21T12:04:24.093+00:00",
        "0001-01-01T00:00:00-23:59",
        "2018-11-10T12:00:00.123456789Z",
        "2018-11-10t12:00:00z",
        "2016-12-31T23:59:60Z",
    ],
)
def test_date_time_format_accepts_rfc_3339_and_jacksons_offset(text):
    assert S.is_date_time(text)


@pytest.mark.parametrize(
    "text",
    [
        "2018-11-10T12:00:00",
        "2018-11-10 12:00:00Z",
        "2018-11-10",
        "yesterday",
        "",
        "2018-13-01T00:00:00Z",
        "2018-02-30T00:00:00Z",
        "2018-11-10T24:00:00Z",
        "2018-11-10T12:00:60Z",
        "2018-11-10T12:00:00+24:00",
        "218-11-10T12:00:00Z",
    ],
)
def test_date_time_format_rejects_naive_and_unreadable_strings(text):
    assert not S.is_date_time(text)


@pytest.mark.parametrize(("vendor", "name"), ALL)
def test_schema_valid_rows_are_valid_against_the_converted_schema(vendor, name):
    validator = S.validator(name, vendor)

    @S.profile()
    @given(S.rows(name, vendor=vendor))
    def check(row):
        errors = [e.message for e in validator.iter_errors(row)]
        assert not errors, errors
        assert json.loads(json.dumps(row)) == row  # plain JSON: finite numbers, str keys

    check()


@pytest.mark.parametrize("vendor", ["traccar", "safectory"])
def test_schema_valid_socket_messages_hold_schema_valid_rows(vendor):
    keys = S.SAFECTORY_SOCKET_KEYS if vendor == "safectory" else S.SOCKET_KEYS
    validators = {key: S.validator(name, vendor) for key, name in keys.items()}

    @settings(S.profile(), max_examples=100)
    @given(S.socket_messages(vendor))
    def check(message):
        for key, rows in message.items():
            if key in validators:
                assert all(validators[key].is_valid(row) for row in rows)
            else:
                assert key == "status" and all(s["type"] == "PING" for s in rows)

    check()


def draws(strategy, n=300) -> list:
    """``n`` derandomised draws of a strategy (generation only: nothing to shrink)."""
    out = []

    @settings(S.profile(), max_examples=n, phases=[Phase.generate])
    @given(strategy)
    def collect(x):
        out.append(x)

    collect()
    return out


@functools.cache
def wild_rows(name: str) -> list:
    return draws(S.rows(name, wild=True), 400)


def _nan_or_inf(v):
    return isinstance(v, float) and not math.isfinite(v)


def _naive(v):
    return isinstance(v, str) and S.is_date_time(v + "Z")


def _unreadable(v):
    return isinstance(v, str) and not S.is_date_time(v) and not _naive(v)


def _wkt(v):
    return isinstance(v, str) and v.upper().replace(" ", "").startswith(("CIRCLE(", "POLYGON((", "LINESTRING("))


NUMBERS = ("latitude", "longitude", "speed", "course", "altitude", "accuracy")


def _has(predicate, *keys):
    return lambda r: isinstance(r, dict) and any(predicate(r.get(k)) for k in keys)


@pytest.mark.parametrize(
    ("name", "description", "condition"),
    [
        ("Position", "an off-schema row", lambda r: not S.validator("Position").is_valid(r)),
        ("Position", "a row that is not an object", lambda r: not isinstance(r, dict)),
        ("Position", "a NaN or infinite number", _has(_nan_or_inf, *NUMBERS)),
        ("Position", "a number as a string", _has(lambda v: isinstance(v, str), *NUMBERS)),
        ("Position", "attributes that are not an object", _has(lambda v: not isinstance(v, dict | None), "attributes")),
        ("Position", "a deviceId that is not an integer", _has(lambda v: isinstance(v, str | float), "deviceId")),
        ("Position", "a naive date", _has(_naive, "fixTime", "deviceTime", "serverTime")),
        ("Event", "an unreadable date", _has(_unreadable, "serverTime", "eventTime")),
        ("Geofence", "an area that is not WKT", _has(lambda v: isinstance(v, str) and not _wkt(v), "area")),
        ("Device", "a row without an id", lambda r: isinstance(r, dict) and r and "id" not in r),
    ],
)
def test_the_off_spec_mode_reaches_what_real_servers_send(name, description, condition):
    assert any(condition(row) for row in wild_rows(name)), description


def test_the_schema_valid_mode_draws_every_rendering_of_a_date():
    dates = draws(S.DATE_TIMES)
    assert all(S.is_date_time(d) for d in dates)
    for suffix in ("+0000", "Z", "+00:00"):
        assert any(d.endswith(suffix) and "." in d for d in dates), suffix
    assert any(d[-6] in "+-" and d[-5:] != "00:00" for d in dates)  # other offsets
    assert any(d.startswith("0") for d in dates)  # years before 1000
    assert any("." not in d for d in dates) and any(len(d.split(".")[-1]) > 12 for d in dates if "." in d)


def test_the_schema_valid_mode_draws_nan_and_infinity_as_strings_in_attributes():
    words = {"NaN", "Infinity", "-Infinity"}
    has_words = _has(lambda a: isinstance(a, dict) and words & set(map(str, a.values())), "attributes")
    rows = [row for row in draws(S.rows("Position")) if has_words(row)]
    assert rows and all(S.validator("Position").is_valid(row) for row in rows)


@pytest.mark.parametrize("name", sorted(S.EDGE_ROWS))
def test_the_rows_tried_on_every_run_are_schema_valid(name):
    validator = S.validator(name)
    for row in S.EDGE_ROWS[name]:
        assert not [e.message for e in validator.iter_errors(row)], row
