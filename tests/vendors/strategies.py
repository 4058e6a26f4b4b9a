"""Hypothesis strategies of Traccar-family JSON rows, generated from Traccar 4.2's own API specification.

``tests/fixtures/datatrak/traccar-4.2-swagger.json`` (provenance in tests/fixtures/README.md) is Swagger 2.0.
``json_schema(name)`` converts one of its ``definitions`` into a JSON Schema (draft 7) of what a Traccar 4.2
server sends, and ``rows(name)`` draws JSON objects from it:

- ``$ref: #/definitions/X`` is inlined; ``xml``, ``example``, ``description``, ``readOnly`` are dropped;
  ``format`` int32 / int64 become bounds, float / double are dropped (a JSON number has no precision), and
  date-time is kept (checked by ``DATE_TIME_CHECKER``: RFC 3339, plus the ``+0000`` offset Jackson writes);
- every definition is an object that may carry more fields than it lists (Traccar adds fields; fleet ignores
  unknown ones); the spec marks nothing ``required``, so every property may be absent, and since Traccar
  serialises nulls every property may also be ``null``;
- the untyped ``attributes: {}`` is Traccar's ``Map<String, Object>``: an object with any keys and values;
- ``WIRE`` adds what traccar-4.2-NOTES.md says the server really sends beyond the spec (Driver's ``atributes``
  is ``attributes`` on the wire, TripReport's ``driverUniqueId`` is a string, ``eventTime`` since 4.13, ...),
  and ``SAFECTORY`` the Safectory Track additions (beacons and the beacon heard by a position).

``rows(name)`` draws each property absent, null, or a schema-valid value of its type: integers up to and
beyond 64 bits (decoded as the integral float ``orjson`` gives for those), finite numbers of any size, empty,
short, whitespace and very long strings, date-times in several renderings of RFC 3339, arbitrary
``attributes`` (Traccar's names among them, the strings "NaN" / "Infinity" too), lat-first Traccar WKT for
``area``. Realistic values (coordinates in range, recent times, plausible speeds) are one branch of each, so
the checks after the mappers are reached. ``rows(name, wild=True)`` also draws what real servers send off the
spec: NaN / Infinity numbers, numbers and ids as strings, ``attributes`` that are not objects, naive and
unreadable dates, ``area`` strings that are not WKT, wrong-typed values, rows that are not objects.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

SWAGGER = Path(__file__).resolve().parent.parent / "fixtures" / "datatrak" / "traccar-4.2-swagger.json"
TRACCAR = ("Device", "Position", "Event", "Geofence", "Group", "Driver", "ReportTrips", "ReportStops", "ReportSummary")
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # the tests' clock: "recent" times are drawn around it

# --- settings ----------------------------------------------------------------------------------------------
# Derandomised by default, so a run is the same everywhere (CI included) and writes no example database;
# HYPOTHESIS_PROFILE=explore draws fresh examples (and keeps failures in .hypothesis/), HYPOTHESIS_MAX_EXAMPLES
# draws more (or fewer) than 200 per test.
_COMMON = {
    "max_examples": int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("fleet", derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", **_COMMON)


def profile() -> settings:
    """The settings the property tests use (a decorator): the ``fleet`` profile unless HYPOTHESIS_PROFILE names one."""
    return settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "fleet"))


# --- swagger -> JSON Schema ----------------------------------------------------------------------------------
DROPPED = {"xml", "example", "description", "readOnly", "discriminator", "externalDocs", "title"}
INT_FORMATS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
KEPT_FORMATS = {"date-time", "date"}

# Wire facts of traccar-4.2-NOTES.md beyond the spec: (definition, property) -> schema, None = remove.
WIRE: dict[str, dict[str, Any]] = {
    "Driver": {"atributes": None, "attributes": {}},  # the spec's typo; the wire says attributes
    "Position": {"type": {"type": "string"}},  # Position has "type" and "network" (network is in the spec)
    "Event": {"eventTime": {"type": "string", "format": "date-time"}},  # serverTime renamed eventTime in 4.13
    "ReportTrips": {  # reports/model/TripReport.java
        "driverUniqueId": {"type": "string"},
        "startPositionId": {"type": "integer"},
        "endPositionId": {"type": "integer"},
        "startOdometer": {"type": "number"},
        "endOdometer": {"type": "number"},
    },
    "ReportStops": {"latitude": {"type": "number"}, "longitude": {"type": "number"}},  # 4.2 sends these names
}
# Safectory Track (safectory-track-api.txt, tests/fixtures/safectory/): Traccar's models plus beacons.
SAFECTORY: dict[str, dict[str, Any]] = {
    "Position": {
        "beaconId": {"type": "integer"},
        "beaconName": {"type": "string"},
        "beaconMajor": {"type": "integer"},
        "beaconMinor": {"type": "integer"},
        "beaconUuid": {"type": "string"},
        "rssi": {"type": "integer"},
        "scanRssi": {"type": "number"},
        "deviceName": {"type": "string"},
        "networkId": {"type": "integer"},
    },
    "Device": {"batteryLevel": {"type": "number"}, "firmwareVersion": {"type": "string"}},
    "Beacon": {  # § 4.5 "Beacons"; not in Traccar's spec
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "attributes": {},
        "deviceId": {"type": "integer"},
        "uuid": {"type": "string"},
        "major": {"type": "integer"},
        "minor": {"type": "integer"},
        "roleGroupId": {"type": "integer"},
        "latitude": {"type": "number"},
        "longitude": {"type": "number"},
        "lastSeen": {"type": "string", "format": "date-time"},
        "batteryLevel": {"type": "number"},
        "relative": {"type": "boolean"},
    },
}


@cache
def swagger() -> dict:
    return json.loads(SWAGGER.read_text(encoding="utf-8"))


def convert(schema: dict, definitions: dict) -> dict:
    """One swagger 2.0 schema -> JSON Schema (draft 7), properties nullable, ``$ref`` inlined."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/definitions/")
        return convert(definitions[name], definitions)
    out = {k: copy.deepcopy(v) for k, v in schema.items() if k not in DROPPED}
    fmt = out.pop("format", None)
    if fmt in INT_FORMATS and out.get("type") == "integer":
        out["minimum"], out["maximum"] = INT_FORMATS[fmt]
    elif fmt in KEPT_FORMATS:
        out["format"] = fmt
    if "items" in out:
        out["items"] = convert(out["items"], definitions)
    if "properties" in out:
        out["type"] = "object"
        out["properties"] = {
            name: nullable(convert(prop, definitions) if prop else {"type": "object"})  # attributes: {}
            for name, prop in out["properties"].items()
        }
    return out


def nullable(schema: dict) -> dict:
    if "type" in schema and "null" not in schema["type"]:
        schema = {**schema, "type": [schema["type"], "null"]}
    return schema


@cache
def _json_schema(name: str, vendor: str) -> str:
    definitions = swagger()["definitions"]
    base = definitions.get(name, {"properties": {}})
    props = dict(base["properties"])
    for overlay in (WIRE, SAFECTORY if vendor == "safectory" else {}):
        for prop, schema in overlay.get(name, {}).items():
            if schema is None:
                props.pop(prop, None)
            else:
                props[prop] = schema
    return json.dumps(convert({**base, "properties": props}, definitions))


def json_schema(name: str, vendor: str = "traccar") -> dict:
    """The JSON Schema of one definition as the server sends it (a fresh copy)."""
    return json.loads(_json_schema(name, vendor))


# --- formats ---------------------------------------------------------------------------------------------
RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$"
)  # the ":?" lets in Jackson's +0000 (traccar-4.2-NOTES.md), the only departure from RFC 3339


def is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # a format constrains strings only (null is allowed by the type)
    if not (m := RFC3339.match(value)):
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    offset = m.group(8)
    if offset not in "Zz" and (int(offset[1:3]) > 23 or int(offset[-2:]) > 59):
        return False
    try:
        datetime(max(year, 1), month, day, hour, minute, min(second, 59))  # year 0000 and leap seconds are RFC 3339
    except ValueError:
        return False
    return second <= 59 or (second == 60 and minute == 59 and hour == 23)


DATE_TIME_CHECKER = jsonschema.FormatChecker()
DATE_TIME_CHECKER.checks("date-time")(is_date_time)


def validator(name: str, vendor: str = "traccar") -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json_schema(name, vendor), format_checker=DATE_TIME_CHECKER)


# --- leaf strategies: schema-valid ---------------------------------------------------------------------------
def one(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """One branch of a ``one_of``: Hypothesis flattens nested ``one_of``s and picks among their members evenly,
    so an alternative of many members would crowd out the others."""
    return strategy.map(_same)


def _same(x: Any) -> Any:
    return x


def _decoded(n: int) -> int | float:
    """What ``orjson.loads`` gives for an integer literal: an int within 64 bits, else the nearest float."""
    return n if -(2**63) <= n <= 2**64 - 1 else float(n)


INTEGERS = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]),
    st.integers(2**64, 10**308).map(_decoded),  # huge: an integral float, as orjson decodes it
    st.integers(-(10**308), -(2**63) - 1).map(_decoded),
)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
NUMBERS = st.one_of(
    FLOATS,
    INTEGERS,
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 1e16, 0.1]),
)
WHITESPACE = st.text(alphabet=" \t\n\r\u00a0\u2003", min_size=1, max_size=5)
STRINGS = st.one_of(
    st.just(""),
    st.text(max_size=24),
    WHITESPACE,
    st.sampled_from(["null", "None", "undefined", "0", "online", "offline", "unknown"]),
    st.tuples(st.text(min_size=1, max_size=4), st.integers(64, 4000)).map(lambda t: t[0] * t[1]),  # very long
    st.tuples(WHITESPACE, st.text(max_size=12), WHITESPACE).map("".join),  # padded
)
# Realistic values where the checks after the mappers care (coordinates, speed, course, ...).
LATITUDES = st.floats(-90, 90)
LONGITUDES = st.floats(-180, 180)
REALISTIC: dict[str, st.SearchStrategy] = {
    "latitude": LATITUDES,
    "lat": LATITUDES,
    "startLat": LATITUDES,
    "endLat": LATITUDES,
    "longitude": LONGITUDES,
    "lon": LONGITUDES,
    "startLon": LONGITUDES,
    "endLon": LONGITUDES,
    "speed": st.floats(0, 200),  # knots
    "maxSpeed": st.floats(0, 200),
    "averageSpeed": st.floats(0, 200),
    "course": st.floats(-720, 720),
    "altitude": st.floats(-1000, 30000),
    "accuracy": st.floats(-10, 5000),
    "duration": st.integers(0, 10**9),
    "engineHours": st.integers(0, 10**10),
    "distance": st.floats(0, 10**7),
    "status": st.sampled_from(["online", "offline", "unknown"]),
    "type": st.sampled_from(["deviceOnline", "geofenceEnter", "alarm", "ignitionOn", "deviceOverspeed", "textMessage"]),
    "category": st.sampled_from(["car", "truck", "default", "null"]),  # Safectory sends the string "null"
    "rssi": st.integers(-120, 0),
    "batteryLevel": st.floats(0, 100),
}


def _render_time(local: datetime, offset_min: int, digits: int, style: str) -> str:
    text = f"{local.year:04d}-{local:%m-%dT%H:%M:%S}"  # %Y does not pad years before 1000
    if digits:
        text += "." + f"{local.microsecond:06d}{local.microsecond % 1000:03d}"[:digits]
    if style == "Z" and offset_min == 0:
        return text + "Z"
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return text + (f"{sign}{hours:02d}{minutes:02d}" if style == "jackson" else f"{sign}{hours:02d}:{minutes:02d}")


@st.composite
def date_times(draw: st.DrawFn) -> str:
    """An RFC 3339 date-time (or Jackson's ``+0000`` form), recent or any year 0001-9999, in several renderings:
    offset ``+0000`` / ``Z`` / ``±HH:MM`` (up to ±23:59), 0 to 9 fraction digits."""
    instant = draw(
        st.one_of(
            st.datetimes(NOW.replace(tzinfo=None) - timedelta(days=30), NOW.replace(tzinfo=None) + timedelta(hours=1)),
            st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)),
            st.datetimes(),  # 0001-01-01 .. 9999-12-31
        )
    )
    offset_min = draw(st.one_of(st.just(0), st.sampled_from([60, 120, 330, -300, -600, 840]), st.integers(-1439, 1439)))
    try:
        local = instant + timedelta(minutes=offset_min)
    except OverflowError:
        local = instant  # at the ends of the calendar the instant itself becomes the local time
    digits = draw(st.sampled_from([3, 0, 6, 9, 1, 2, 7]))
    style = draw(st.sampled_from(["jackson", "Z", "colon"]))
    return _render_time(local, offset_min, digits, style)


DATE_TIMES = st.one_of(
    date_times(),
    from_schema({"type": "string", "format": "date-time"}),  # hypothesis-jsonschema's own RFC 3339 strings
)
# Schema-valid too, but no Traccar server writes them: lowercase t / z, a leap second.
EXOTIC_DATE_TIMES = st.one_of(
    date_times().map(lambda s: s.replace("T", "t").replace("Z", "z")),
    st.sampled_from(["2016-12-31T23:59:60Z", "2016-12-31T23:59:60.000+0000", "1990-12-31T15:59:60-08:00"]),
)

KNOWN_ATTRIBUTES = (
    "ignition",
    "motion",
    "batteryLevel",
    "power",
    "fuel",
    "rssi",
    "sat",
    "odometer",
    "totalDistance",
    "hours",
    "alarm",
    "driverUniqueId",
    "temp1",
    "temp2",
    "temp10",
    "floor",
    "polylineDistance",
    "phone",
    "plate",
    "licensePlate",
    "distance",
    "hdop",
    "io69",
    "battery",
    "charge",
    "blocked",
    "door",
    "armed",
    "scanRssi",
    "appid",
    "uuid",
    "major",
    "minor",
    "speedLimit",
)
TEMP_KEYS = one(
    st.one_of(
        st.integers(0, 10**6).map(lambda n: f"temp{n}"),
        st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=3).map(lambda s: "temp" + s),
    )
)  # tempN sensors, N in any script's digits too
NON_FINITE_WORDS = st.sampled_from(["NaN", "Infinity", "-Infinity"])
SPECIAL_STRINGS = st.sampled_from(
    ["nan", "inf", "1e999", "-0", "12.5", " 7 ", "0x10", "true", "false", "on", "off", "1,5", "١٢"]
)
ATTRIBUTE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    one(NUMBERS),
    one(STRINGS),
    NON_FINITE_WORDS,
    SPECIAL_STRINGS,
    from_schema({}),  # any JSON value, nested lists and objects included
)
ATTRIBUTES = st.dictionaries(
    st.one_of(st.sampled_from(KNOWN_ATTRIBUTES), TEMP_KEYS, st.text(max_size=12)), ATTRIBUTE_VALUES, max_size=8
)


def _coord(value: float, style: str) -> str:
    return {"repr": repr(value), "fixed": f"{value:.6f}", "g": f"{value:g}", "int": str(round(value))}[style]


@st.composite
def areas(draw: st.DrawFn) -> str:
    """Lat-first Traccar WKT as traccar-web writes it: CIRCLE (lat lon, r), POLYGON ((lat lon, ...)) closed or
    not, LINESTRING (lat lon, ...); coordinates in range, radius >= 0, a few number and spacing renderings."""
    style = draw(st.sampled_from(["repr", "fixed", "g", "int"]))
    point = st.tuples(LATITUDES, LONGITUDES).map(lambda p: f"{_coord(p[0], style)} {_coord(p[1], style)}")
    kind = draw(st.sampled_from(["CIRCLE", "POLYGON", "LINESTRING"]))
    gap = draw(st.sampled_from([" ", ""]))
    if kind == "CIRCLE":
        radius = draw(st.one_of(st.floats(0, 10**5), st.integers(0, 10**5)))
        text = f"CIRCLE{gap}({draw(point)}, {_coord(float(radius), style)})"
    elif kind == "POLYGON":
        ring = draw(st.lists(point, min_size=3, max_size=8))
        if draw(st.booleans()):
            ring.append(ring[0])
        text = f"POLYGON{gap}(({', '.join(ring)}))"
    else:
        text = f"LINESTRING{gap}({', '.join(draw(st.lists(point, min_size=2, max_size=8)))})"
    return draw(st.sampled_from([text, text.lower()]))


# --- leaf strategies: off the spec ---------------------------------------------------------------------------
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
WRONG_TYPES = one(
    st.one_of(
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.text(max_size=8),
        NON_FINITE,
        st.integers(10**19, 10**400),  # beyond a float: float() raises OverflowError
    )
)  # one branch of the alternatives it joins
WILD_NUMBERS = st.one_of(NON_FINITE, NON_FINITE_WORDS, SPECIAL_STRINGS, st.floats().map(repr), WRONG_TYPES)
WILD_IDS = st.one_of(
    st.sampled_from(["7", "abc", "", " ", "0", "-1", "1e3", "null"]),
    st.floats(),
    st.integers(10**19, 10**400),
    WRONG_TYPES,
)
NAIVE_DATE_TIMES = date_times().map(lambda s: re.sub(r"(Z|[+-]\d{2}:?\d{2})$", "", s))
WILD_DATE_TIMES = st.one_of(
    NAIVE_DATE_TIMES,
    NAIVE_DATE_TIMES.map(lambda s: s.replace("T", " ")),
    EXOTIC_DATE_TIMES,
    st.sampled_from(
        [
            "",
            " ",
            "yesterday",
            "null",
            "0000-00-00T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2018-13-45T99:99:99Z",
            "2018-11-10",
            "2018-11-10T12:00:00.000+0000 ",
            "2018-11-10T12:00:00+25:00",
            "10000-01-01T00:00:00Z",
            "1541851200000",
            "Sat Nov 10 12:00:00 UTC 2018",
        ]
    ),
    st.integers(0, 2 * 10**12),  # epoch milliseconds
    st.text(max_size=30),
    WRONG_TYPES,
)
WILD_STRINGS = WRONG_TYPES
WILD_ATTRIBUTES = st.one_of(
    st.lists(ATTRIBUTE_VALUES, max_size=3),
    st.text(max_size=10),
    st.sampled_from(["{}", "null", ""]),
    INTEGERS,
    st.booleans(),
    st.dictionaries(st.sampled_from(KNOWN_ATTRIBUTES), st.one_of(NON_FINITE, WRONG_TYPES), min_size=1, max_size=4),
)
WILD_AREAS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(  # shapes that are no geofence, or no shape at all
        [
            "",
            "POLYGON EMPTY",
            "LINESTRING EMPTY",
            "POINT (60.1 24.9)",
            "CIRCLE (a b, c)",
            "CIRCLE (91 181, -5)",
            "CIRCLE (1e999 0, 5)",
            "CIRCLE (60.1 24.9, 0)",
            "CIRCLE (60.1 24.9, nan)",
            "CIRCLE (60.1 24.9)",
            "POLYGON ((60 24, 61 25))",
            "LINESTRING (60 24)",
            "MULTIPOLYGON (((0 0, 0 1, 1 1, 0 0)))",
            "GEOMETRYCOLLECTION (POINT (1 2))",
            "0101000000000000000000F03F0000000000000040",  # hex WKB of POINT (1 2)
            '{"type": "Point"',
            "{}",
            '{"area": "POLYGON ((0 0, 0 1, 1 1, 0 0))"}',
            "POLYGON ((0 0, 0 1, 1 1, 0 0)",  # unbalanced
            "POLYGON ((nan 0, 1 1, 1 0, nan 0))",
        ]
    ),
    st.sampled_from(  # shapes, but not ones a geofence can be
        [
            "POLYGON ((60 24, 61 25, 60 25))",
            "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))",  # a bow tie: self-intersecting
            "POLYGON ((0 0, 0 1, 1 1, 1 0, 0 0), (5 5, 5 6, 6 6, 5 5))",  # a hole outside its shell
            "POLYGON ((1e100 1e100, 1e100 -1e100, -1e100 0, 1e100 1e100))",  # far out (not past 1e135: see below)
            "LINESTRING (60 24, 60 24)",
            "LINESTRING (95 200, -95 -200)",
            "SRID=4326;POLYGON ((0 0, 0 1, 1 1, 0 0))",
            '{"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [0, 0]]]}',  # GeoJSON
            "POLYGON ((0 0, 0 0, 0 0))",  # degenerate
        ]
    ),
    areas().map(lambda s: s[: len(s) // 2]),  # cut off
    WRONG_TYPES,
)
# Areas whose coordinates GEOS 3.11's WKT writer cannot print: it overflows a stack buffer and aborts the whole
# process ("stack smashing detected") once a coordinate reaches about 1e136. They are kept out of the strategies,
# which run in the test process, and tried one by one in a child process by test_properties.py.
GEOS_WRITER_OVERFLOWS = (
    "LINESTRING (1e136 0, 0 0)",
    "POLYGON ((1e300 1e300, 1e300 -1e300, -1e300 0, 1e300 1e300))",
    '{"type": "LineString", "coordinates": [[0, 0], [1e300, 1]]}',
)
WILD_ROWS = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.booleans())


# --- objects -------------------------------------------------------------------------------------------------
def _types(schema: dict) -> list[str]:
    types = schema.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def value(name: str, schema: dict, wild: bool = False) -> st.SearchStrategy:
    """A strategy for one property's value (never null: ``rows`` adds null)."""
    types = [t for t in _types(schema) if t != "null"]
    kind = types[0] if types else "any"
    if name == "area" and kind == "string":
        valid = areas()
    elif name == "attributes" and kind == "object" and "properties" not in schema:
        valid = ATTRIBUTES
    elif kind == "string" and schema.get("format") == "date-time":
        valid = DATE_TIMES
    elif kind == "string":
        valid = STRINGS
    elif kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        valid = st.integers(lo, hi) if lo is not None else INTEGERS
    elif kind == "number":
        valid = NUMBERS
    elif kind == "boolean":
        valid = st.booleans()
    elif kind == "array":
        valid = st.lists(value("", schema.get("items", {}), wild), max_size=4)
    else:
        valid = from_schema(schema)  # whatever else the spec has: hypothesis-jsonschema draws it
    if name in REALISTIC and kind in ("number", "integer", "string"):
        valid = st.one_of(REALISTIC[name], one(valid))
    if not wild:
        return one(valid)
    if name == "area":
        off = WILD_AREAS
    elif name == "attributes":
        off = WILD_ATTRIBUTES
    elif schema.get("format") == "date-time":
        off = WILD_DATE_TIMES
    elif name == "id" or name.endswith("Id"):
        off = WILD_IDS
    elif kind in ("number", "integer"):
        off = WILD_NUMBERS
    elif kind == "string":
        off = WILD_STRINGS
    else:
        off = WRONG_TYPES
    return st.one_of(one(valid), one(off))


EXTRA_FIELDS = st.dictionaries(st.text(min_size=1, max_size=10), from_schema({}), max_size=2)

# The fields without which a row cannot become a record. ``rows`` draws half of its objects with these present
# and typical, so that most rows get past the mappers to the checks after them.
CORE: dict[str, tuple[str, ...]] = {
    "Device": ("id", "name", "attributes"),
    "Position": ("deviceId", "fixTime", "latitude", "longitude", "attributes"),
    "Event": ("deviceId", "type", "serverTime"),
    "Geofence": ("id", "name", "area", "attributes"),
    "Group": ("id", "name"),
    "Driver": ("id", "name"),
    "ReportTrips": ("deviceId", "startTime", "endTime"),
    "ReportStops": ("deviceId", "startTime", "endTime"),
    "ReportSummary": ("deviceId",),
    "Beacon": ("id", "uuid", "major", "minor", "attributes"),
}
RECENT_DATE_TIMES = st.builds(
    _render_time,
    st.datetimes(NOW.replace(tzinfo=None) - timedelta(days=30), NOW.replace(tzinfo=None)),
    st.just(0),
    st.sampled_from([3, 0, 6]),
    st.sampled_from(["jackson", "Z", "colon"]),
)


def typical(name: str, schema: dict) -> st.SearchStrategy:
    """A core field's everyday value: a small id, a recent time, a coordinate in range, a short name."""
    kind = next((t for t in _types(schema) if t != "null"), "any")
    if name in REALISTIC:
        return REALISTIC[name]
    if schema.get("format") == "date-time":
        return RECENT_DATE_TIMES
    if kind == "integer":
        return st.integers(1, 10**9)
    if name == "area":
        return areas()
    if kind == "string":
        return st.text(min_size=1, max_size=16)
    return value(name, schema)


@st.composite
def _with_extra_fields(draw: st.DrawFn, known: st.SearchStrategy, names: frozenset = frozenset()) -> dict:
    """A drawn object, now and then with unknown fields as well (a composite, so a failing example prints as the
    plain JSON object it is). An unknown field never takes a known one's name: Hypothesis also draws text from
    the string constants of the code under test, "address" or "fixTime" among them."""
    row = draw(known)
    extra = draw(st.one_of(st.just({}), EXTRA_FIELDS))
    return {**{k: v for k, v in extra.items() if k not in row and k not in names}, **row}


@cache
def rows(name: str, wild: bool = False, vendor: str = "traccar") -> st.SearchStrategy:
    """JSON objects of one definition: each property absent, null or a value (off the spec too when ``wild``),
    now and then with fields the spec does not name; when ``wild`` now and then a row that is not an object."""
    schema = json_schema(name, vendor)
    props = schema["properties"]
    optional = {prop: st.one_of(st.none(), value(prop, sub, wild)) for prop, sub in props.items()}
    core = {prop: typical(prop, props[prop]) for prop in CORE.get(name, ()) if prop in props}
    if wild:  # the fields the mappers need most, off the spec too
        core = {prop: st.one_of(one(strategy), value(prop, props[prop], wild)) for prop, strategy in core.items()}
    others = {prop: strategy for prop, strategy in optional.items() if prop not in core}
    known = st.one_of(st.fixed_dictionaries({}, optional=optional), st.fixed_dictionaries(core, optional=others))
    objects = _with_extra_fields(known, frozenset(props))
    if not wild:
        return objects
    return st.integers(0, 7).flatmap(lambda i: WILD_ROWS if i == 0 else objects)  # 1 row in 8 not an object


def row_lists(name: str, wild: bool = False, vendor: str = "traccar", max_size: int = 6) -> st.SearchStrategy:
    return st.lists(rows(name, wild, vendor), max_size=max_size)


# --- rows worth trying on every run ------------------------------------------------------------------------------
# Each was drawn by these strategies once and made a mapper or the gate fail; the property tests try them first (as
# Hypothesis ``@example``s), so a run finds them whatever else it draws.
_FIX = {"deviceId": 1, "fixTime": "2026-10-21T08:00:00.000+0000", "latitude": 0.0, "longitude": 0.0}
EDGE_ROWS: dict[str, list[dict]] = {
    "Position": [
        {**_FIX, "course": -4.947634202973574e-43},  # course % 360 == 360.0
        {**_FIX, "attributes": {"temp⓵": None}},  # "⓵".isdigit(), but int("⓵") fails
        {**_FIX, "attributes": {"temp1": None, "temp01": 4.5}},  # one sensor under two keys
        {**_FIX, "fixTime": "0001-01-01T00:30:00.000+0100"},  # in UTC, before year 1
        {**_FIX, "serverTime": "9999-12-31T23:59:59.999-0100"},  # in UTC, after year 9999
    ],
    "Geofence": [
        {"id": 1, "name": "0", "area": "POLYGON ((0.0 0.0, 0.0 0.0, 0.0 0.0))", "attributes": {}},  # degenerate ring
    ],
}
WILD_EDGE_ROWS: dict[str, list] = {
    "Geofence": [{"id": 1, "area": "{}"}],  # read as GeoJSON by GEOSGeometry: GDALException
}


# --- socket messages -------------------------------------------------------------------------------------------
SOCKET_KEYS = {"positions": "Position", "devices": "Device", "events": "Event"}
SAFECTORY_SOCKET_KEYS = {**SOCKET_KEYS, "beacons": "Beacon"}
PINGS = st.fixed_dictionaries(
    {"type": st.just("PING"), "message": st.uuids().map(str)},
    optional={"localeKey": st.none(), "localeValues": st.none()},
)
WILD_PINGS = st.one_of(
    PINGS,
    st.fixed_dictionaries({"type": st.one_of(st.just("PING"), st.text(max_size=5))}, optional={"message": WRONG_TYPES}),
    WRONG_TYPES,
)


@cache
def socket_messages(vendor: str = "traccar", wild: bool = False) -> st.SearchStrategy:
    """One socket message: one key with a one-element list as AsyncSocket.java sends it, or several keys, or
    ``{}`` (the keepalive of Traccar >= 4.14); Safectory adds ``beacons`` and ``status`` pings. ``wild``: keys of
    the wrong shape and unknown keys too."""
    keys = SAFECTORY_SOCKET_KEYS if vendor == "safectory" else SOCKET_KEYS
    lists = {key: row_lists(name, wild, vendor, max_size=4) for key, name in keys.items()}
    if vendor == "safectory":
        lists["status"] = st.lists(WILD_PINGS if wild else PINGS, max_size=2)
    if wild:
        lists = {key: st.one_of(strategy, st.none(), WRONG_TYPES) for key, strategy in lists.items()}
    single = st.sampled_from(sorted(keys)).flatmap(
        lambda key: rows(keys[key], wild, vendor).map(lambda row: {key: [row]})
    )
    several = st.fixed_dictionaries({}, optional=lists)
    message = st.one_of(single, several, st.just({}))
    return _with_extra_fields(message, frozenset(keys) | {"status"}) if wild else message
