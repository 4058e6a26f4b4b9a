"""Property tests of the Traccar-family mappers and the validation gate, on rows drawn from Traccar 4.2's own API
specification (tests/vendors/strategies.py).

For every resource, on schema-valid rows and on the off-spec rows real servers send:

- ``connector.map_rows(resource, rows, mapper)`` lets nothing escape, and the counts add up: rows in = records
  out + rejects counted in ``connector.rejects[resource]``, each with a reason;
- every record that comes out either passes the validation gate of its kind (``fleet.tracking.validate``), and
  then holds what the gate promises (coordinates in range, course in [0, 360), a readable valid area, a name
  that fits its column, ...), or is rejected by it with a reason;
- on schema-valid rows a mapper fails only by raising ``Reject`` (a reason naming the field), never with a
  bug-shaped exception that ``map_rows`` has to catch;
- the socket parser takes any message. No database is needed.
"""

import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.gis.geos import GEOSGeometry
from hypothesis import example, given
from hypothesis import strategies as st

from fleet.geo.models import Geofence
from fleet.tracking import validate
from fleet.tracking.attributes import canonical
from fleet.tracking.models import Beacon, Device, DeviceGroup, Driver, Event
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
from fleet.vendors.base import Reject
from fleet.vendors.datatrak import DataTrakConnector
from fleet.vendors.errors import VendorError
from fleet.vendors.safectory import SafectoryConnector, merge_same_time, parse_beacon
from fleet.vendors.traccar import (
    REPORT_PARSERS,
    parse_device,
    parse_driver,
    parse_event,
    parse_geofence,
    parse_group,
    parse_time,
    parse_trip,
)
from tests.vendors import strategies as S

ROOT = Path(__file__).resolve().parent.parent.parent
NOW = S.NOW
MAX_SPEED_KMH = 300.0
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


_CONNECTORS: dict = {}


def connector(vendor: str):
    """The vendor's connector (no server needed to map rows), its rejects cleared. One per vendor: building a
    connector (its HTTP client) costs more than mapping a list of rows."""
    if vendor not in _CONNECTORS:
        cls = SafectoryConnector if vendor == "safectory" else DataTrakConnector
        _CONNECTORS[vendor] = cls(1, "http://127.0.0.1:1", {})
    c = _CONNECTORS[vendor]
    c.rejects.clear()
    c.listed.clear()
    if vendor == "safectory":
        c.places = {}  # as after a beacon list with none placed, so a (0, 0) row does not ask the database
    return c


@pytest.fixture(autouse=True, scope="module")
def _close_connectors():
    yield
    while _CONNECTORS:
        _CONNECTORS.popitem()[1].close()


# (vendor, resource, swagger definition, mapper of a connector, record class, gate kind)
RESOURCES = [
    ("traccar", "devices", "Device", lambda c: parse_device, DeviceRecord, "device"),
    ("traccar", "groups", "Group", lambda c: parse_group, GroupRecord, "group"),
    ("traccar", "drivers", "Driver", lambda c: parse_driver, DriverRecord, "driver"),
    ("traccar", "geofences", "Geofence", lambda c: parse_geofence, GeofenceRecord, "geofence"),
    ("traccar", "positions", "Position", lambda c: c.parse_position, PositionRecord, "position"),
    ("traccar", "events", "Event", lambda c: parse_event, EventRecord, "event"),
    ("traccar", "trips", "ReportTrips", lambda c: parse_trip, TripRecord, None),
    ("traccar", "report trips", "ReportTrips", lambda c: REPORT_PARSERS["trips"], dict, None),
    ("traccar", "report stops", "ReportStops", lambda c: REPORT_PARSERS["stops"], dict, None),
    ("traccar", "report summary", "ReportSummary", lambda c: REPORT_PARSERS["summary"], dict, None),
    ("safectory", "devices", "Device", lambda c: parse_device, DeviceRecord, "device"),
    ("safectory", "beacons", "Beacon", lambda c: parse_beacon, BeaconRecord, "beacon"),
    ("safectory", "positions", "Position", lambda c: c.parse_position, PositionRecord, "position"),
    ("safectory", "events", "Event", lambda c: parse_event, EventRecord, "event"),
]
IDS = [f"{vendor}-{definition}-{cls.__name__}" for vendor, _, definition, _, cls, _ in RESOURCES]


# --- what the gate promises for a record it lets through (docs/architecture.md, Validation) ------------------
def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _json_safe(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _name_fits(name, model, blank=False) -> bool:
    return isinstance(name, str) and (blank or name.strip()) and len(name) <= model._meta.get_field("name").max_length


def _id_fits(vendor_id, model) -> bool:
    return isinstance(vendor_id, str) and 0 < len(vendor_id) <= model._meta.get_field("vendor_id").max_length


def _time_or_none(t, ahead: timedelta) -> bool:
    return t is None or (t.utcoffset() == timedelta(0) and EPOCH <= t <= NOW + ahead)


def kept_position(r: PositionRecord) -> list[str]:
    problems = []
    if not (_finite(r.latitude) and -90 <= r.latitude <= 90 and _finite(r.longitude) and -180 <= r.longitude <= 180):
        problems.append("coordinates")
    if not (
        r.fix_time and r.fix_time.utcoffset() == timedelta(0) and EPOCH <= r.fix_time <= NOW + timedelta(minutes=5)
    ):
        problems.append("fix_time")
    if not (_finite(r.speed) and 0 <= r.speed <= MAX_SPEED_KMH):
        problems.append("speed")
    if r.course is not None and not (_finite(r.course) and 0 <= r.course < 360):
        problems.append("course")
    if r.altitude is not None and not (_finite(r.altitude) and -500 <= r.altitude <= 20000):
        problems.append("altitude")
    if r.accuracy is not None and not (_finite(r.accuracy) and r.accuracy >= 0):
        problems.append("accuracy")
    if not _json_safe(canonical(r.attributes)):  # what ingest stores of them
        problems.append("attributes")
    return problems


def kept_event(r: EventRecord) -> list[str]:
    problems = []
    if not (r.time and r.time.utcoffset() == timedelta(0) and EPOCH <= r.time <= NOW + timedelta(minutes=5)):
        problems.append("time")
    if not (isinstance(r.type, str) and r.type and len(r.type) <= Event._meta.get_field("type").max_length):
        problems.append("type")
    if not (isinstance(r.device_id, str) and r.device_id):
        problems.append("device_id")
    return problems


def kept_geofence(r: GeofenceRecord) -> list[str]:
    problems = []
    if not _name_fits(r.name, Geofence):
        problems.append("name")
    try:
        shape = GEOSGeometry(r.wkt)
    except Exception as exc:  # noqa: BLE001 - any failure to read it is the finding
        return [*problems, f"wkt unreadable: {exc!r}"]
    expected = {"polygon": ("Polygon", "MultiPolygon"), "circle": ("Point",), "corridor": ("LineString",)}.get(
        r.kind, ()
    )
    if shape.geom_type not in expected:
        problems.append(f"kind {r.kind} with a {shape.geom_type}")
    if shape.empty or not shape.valid:
        problems.append(f"invalid area: {shape.valid_reason}")
    xs, ys = zip(*_coords(shape), strict=True) if not shape.empty else ((), ())
    if not all(_finite(x) and -180 <= x <= 180 for x in xs) or not all(_finite(y) and -90 <= y <= 90 for y in ys):
        problems.append("coordinates")
    if r.kind == "circle" and not (_finite(r.radius_m) and r.radius_m > 0):
        problems.append("radius")
    if r.kind == "corridor" and not (_finite(r.width_m) and r.width_m > 0):
        problems.append("width")
    return problems


def _coords(shape):
    if shape.geom_type == "MultiPolygon":
        return [xy for polygon in shape for ring in polygon for xy in ring]
    if shape.geom_type == "Polygon":
        return [xy for ring in shape for xy in ring]
    if shape.geom_type == "Point":
        return [shape.coords]
    return list(shape.coords)


def kept_named(model, time_field: str | None = None, blank_name=False):
    def check(r) -> list[str]:
        problems = []
        if not _id_fits(r.vendor_id, model):
            problems.append("vendor_id")
        if not _name_fits(r.name, model, blank_name):
            problems.append("name")
        if time_field and not _time_or_none(getattr(r, time_field), timedelta(days=1)):
            problems.append(time_field)
        if not _json_safe(r.attributes):
            problems.append("attributes")
        return problems

    return check


def kept_beacon(r: BeaconRecord) -> list[str]:
    problems = kept_named(Beacon, "last_seen", blank_name=True)(r)
    if not all(isinstance(v, int) and 0 <= v <= 65535 for v in (r.major, r.minor)):
        problems.append("major / minor")
    if (r.latitude, r.longitude) != (None, None) and not (
        _finite(r.latitude) and _finite(r.longitude) and -90 <= r.latitude <= 90 and -180 <= r.longitude <= 180
    ):
        problems.append("coordinates")
    return problems


def gate(kind: str, record, notes: Counter):
    """Run the validation gate of a kind on one record: its reason, or None when kept."""
    if kind == "position":
        return validate.position(record, NOW, MAX_SPEED_KMH, notes)
    if kind == "geofence":
        return validate.geofence(record)
    return getattr(validate, kind)(record, NOW)


KEPT = {
    "position": kept_position,
    "event": kept_event,
    "geofence": kept_geofence,
    "device": kept_named(Device, "last_update"),
    "group": kept_named(DeviceGroup),
    "driver": kept_named(Driver),
    "beacon": kept_beacon,
}


# --- the properties ---------------------------------------------------------------------------------------------
def run(test, strategy, examples=()):
    """Run ``test`` on the rows of ``examples`` first, then on what ``strategy`` draws."""
    for value in examples:
        test = example(value)(test)
    S.profile()(given(strategy)(test))()


def check_map_rows(vendor, resource, mapper_of, record_cls, kind, rows):
    c = connector(vendor)
    records = c.map_rows(resource, rows, mapper_of(c))  # nothing may escape
    tally = c.rejects.get(resource)
    rejected = tally.rejected if tally else 0
    assert len(rows) == len(records) + rejected, (len(rows), len(records), rejected)
    if tally:
        assert sum(tally.reasons.values()) == tally.rejected
        assert all(isinstance(reason, str) and reason.strip() for reason in tally.reasons), tally.reasons
        assert set(tally.examples) <= set(tally.reasons)
    assert all(isinstance(r, record_cls) for r in records)
    if kind is None:
        return
    for record in records:
        notes: Counter = Counter()
        reason = gate(kind, record, notes)
        if reason is None:
            assert not (problems := KEPT[kind](record)), (problems, record)
        else:
            assert isinstance(reason, str) and reason.strip(), reason
        assert all(isinstance(note, str) for note in notes)


@pytest.mark.parametrize(("vendor", "resource", "definition", "mapper_of", "record_cls", "kind"), RESOURCES, ids=IDS)
def test_schema_valid_rows_map_and_pass_or_fail_the_gate_with_a_reason(
    vendor, resource, definition, mapper_of, record_cls, kind
):
    def check(rows):
        check_map_rows(vendor, resource, mapper_of, record_cls, kind, rows)

    run(check, S.row_lists(definition, vendor=vendor), [[row] for row in S.EDGE_ROWS.get(definition, [])])


@pytest.mark.parametrize(("vendor", "resource", "definition", "mapper_of", "record_cls", "kind"), RESOURCES, ids=IDS)
def test_off_spec_rows_map_and_pass_or_fail_the_gate_with_a_reason(
    vendor, resource, definition, mapper_of, record_cls, kind
):
    def check(rows):
        check_map_rows(vendor, resource, mapper_of, record_cls, kind, rows)

    edges = [[row] for row in S.EDGE_ROWS.get(definition, []) + S.WILD_EDGE_ROWS.get(definition, [])]
    run(check, S.row_lists(definition, wild=True, vendor=vendor), edges)


@pytest.mark.parametrize(("vendor", "resource", "definition", "mapper_of", "record_cls", "kind"), RESOURCES, ids=IDS)
def test_on_schema_valid_rows_mappers_fail_only_with_reject(vendor, resource, definition, mapper_of, record_cls, kind):
    """A schema-valid row the mapper cannot use is a deliberate ``Reject`` naming the field, not a KeyError,
    TypeError, ValueError, OverflowError or GEOS error that ``map_rows`` catches as a bug."""

    def check(row):
        mapper = mapper_of(connector(vendor))
        try:
            mapper(row)
        except Reject as exc:
            assert isinstance(exc.reason, str) and exc.reason.strip()

    run(check, S.rows(definition, vendor=vendor), S.EDGE_ROWS.get(definition, []))


@pytest.mark.parametrize("vendor", ["traccar", "safectory"])
@pytest.mark.parametrize("rows", [None, [], {}, "positions", 7, {"id": 1}], ids=repr)
def test_map_rows_takes_none_as_empty_and_fails_the_resource_on_anything_else_but_a_list(vendor, rows):
    c = connector(vendor)
    if rows is None or rows == []:
        assert c.map_rows("devices", rows, parse_device) == []
    else:
        with pytest.raises(VendorError, match="devices: expected a list"):
            c.map_rows("devices", rows, parse_device)


# --- a geofence area that aborts the process ------------------------------------------------------------------
CHILD = """
import django, json, sys
django.setup()
from fleet.tracking import validate
from fleet.vendors.datatrak import DataTrakConnector
from fleet.vendors.traccar import parse_geofence
with DataTrakConnector(1, "http://127.0.0.1:1", {}) as c:
    records = c.map_rows("geofences", [{"id": 1, "area": sys.argv[1]}], parse_geofence)
    reasons = list(c.rejects["geofences"].reasons) + [validate.geofence(r) for r in records]
print(json.dumps(reasons))
"""


@pytest.mark.parametrize("area", S.GEOS_WRITER_OVERFLOWS)
def test_a_geofence_area_far_out_of_range_is_rejected_without_taking_the_process_down(area):
    """In a child process, since what fails here is the process itself: the row must be rejected, by the mapper
    or by the gate, with a reason."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fleet.settings"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, area], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, (child.returncode, child.stderr[-300:])
    reasons = json.loads(child.stdout.strip().splitlines()[-1])
    assert len(reasons) == 1 and isinstance(reasons[0], str) and reasons[0], reasons


# --- dates -----------------------------------------------------------------------------------------------------
@st.composite
def dates_and_instants(draw):
    """A date-time in one of Traccar's renderings (+0000, Z, +HH:MM, 0-9 fraction digits) and the instant it names."""
    instant = draw(st.datetimes(datetime(2000, 1, 1), datetime(2035, 1, 1)))
    offset = draw(st.integers(-1439, 1439))
    digits = draw(st.sampled_from([0, 1, 3, 6, 9]))
    style = draw(st.sampled_from(["jackson", "Z", "colon"]))
    text = S._render_time(instant + timedelta(minutes=offset), offset, digits, style)
    micro = int(f"{instant.microsecond:06d}"[: min(digits, 6)].ljust(6, "0"))
    return text, instant.replace(microsecond=micro, tzinfo=UTC)


@S.profile()
@given(dates_and_instants())
def test_every_traccar_rendering_of_a_date_time_is_read_as_its_utc_instant(case):
    text, instant = case
    parsed = parse_time(text)
    assert parsed == instant and parsed.utcoffset() == timedelta(0)


@S.profile()
@given(S.NAIVE_DATE_TIMES)
def test_dates_without_a_zone_are_utc_not_the_workers_zone(text):
    assert parse_time(text) == datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Safectory: rows of one fix time merge ---------------------------------------------------------------------
RSSI = st.one_of(st.none(), st.integers(-127, -1))  # dBm as BLE stacks report it (0 is their "unknown")


@st.composite
def heard_at_once(draw) -> list:
    """Safectory route rows, several per device and fix time: one per beacon heard then."""
    fixes = draw(st.lists(st.tuples(st.integers(1, 3), S.RECENT_DATE_TIMES), min_size=1, max_size=3))
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        device, time = draw(st.sampled_from(fixes))
        row = draw(S.rows("Position", vendor="safectory"))
        if isinstance(row.get("attributes"), dict):
            row["attributes"].pop("rssi", None)
        beacon = draw(st.one_of(st.none(), st.integers(1, 50)))
        rows.append({**row, "deviceId": device, "fixTime": time, "rssi": draw(RSSI), "beaconId": beacon})
    return rows


@S.profile()
@given(heard_at_once())
def test_safectory_rows_of_one_time_merge_into_one_position_at_the_strongest_beacon_keeping_all(rows):
    """Rows the gate accepts merge, one per device and time, at the strongest beacon, keeping every beacon heard;
    rows it refuses go on alone (to be rejected and counted by ingest)."""
    c = connector("safectory")
    records = c.map_rows("positions", rows, c.parse_position)
    now = datetime.now(UTC)
    refused = [r for r in records if validate.position(r, now, validate.DEFAULT_MAX_SPEED_KMH, Counter())]
    kept = [r for r in records if not any(r is x for x in refused)]
    heard = Counter((r.device_id, r.fix_time) for r in kept)
    beacons = sum(len(r.attributes.get("beacons", [])) for r in kept)
    strongest = {}
    for r in kept:
        rssi = r.attributes.get("rssi")
        key = (r.device_id, r.fix_time)
        strongest[key] = max(strongest.get(key, -999), rssi if rssi is not None else -999)
    merged = merge_same_time(records)
    alone = [r for r in merged if any(r is x for x in refused)]
    together = [r for r in merged if not any(r is x for x in refused)]
    assert len(alone) == len(refused)
    assert Counter((r.device_id, r.fix_time) for r in together) == dict.fromkeys(heard, 1)  # one each
    assert sum(len(r.attributes.get("beacons", [])) for r in together) == beacons
    for r in together:
        rssi = r.attributes.get("rssi")
        assert (rssi if rssi is not None else -999) == strongest[(r.device_id, r.fix_time)]


# --- the socket --------------------------------------------------------------------------------------------------
def check_socket(vendor, message):
    keys = S.SAFECTORY_SOCKET_KEYS if vendor == "safectory" else S.SOCKET_KEYS
    shapeless = any(not isinstance(message.get(key), list | None) for key in keys)
    c = connector(vendor)
    try:
        parsed = c.parse_socket_message(message)
    except VendorError:
        assert shapeless, "only a key that is not a list may fail the message"
        return
    rejects = {key: (c.rejects[key].rejected if key in c.rejects else 0) for key in keys}
    for key in keys:
        rows = message.get(key) or []
        if not isinstance(rows, list):
            continue
        out = len(parsed.get(key, []))
        if vendor == "safectory" and key == "positions":
            assert out + rejects[key] <= len(rows)  # rows of one fix time merge
        else:
            assert out + rejects[key] == len(rows), (key, out, rejects[key], len(rows))
    assert all(isinstance(p, str) for p in parsed.get("pings", []))


@pytest.mark.parametrize("vendor", ["traccar", "safectory"])
def test_the_socket_parser_takes_schema_valid_messages(vendor):
    @S.profile()
    @given(S.socket_messages(vendor))
    def check(message):
        check_socket(vendor, message)

    check()


@pytest.mark.parametrize("vendor", ["traccar", "safectory"])
def test_the_socket_parser_takes_off_spec_messages(vendor):
    @S.profile()
    @given(S.socket_messages(vendor, wild=True))
    def check(message):
        check_socket(vendor, message)

    check()
