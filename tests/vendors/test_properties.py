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
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import GEOSGeometry
from hypothesis import given
from hypothesis import strategies as st

from fleet.geo.models import Geofence
from fleet.tracking import validate
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

NOW = S.NOW
MAX_SPEED_KMH = 300.0
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def connector(vendor: str):
    cls = SafectoryConnector if vendor == "safectory" else DataTrakConnector
    return cls(1, "http://127.0.0.1:1", {})


# (vendor, resource, swagger definition, mapper of a connector, record class, gate kind)
RESOURCES = [
    ("traccar", "devices", "Device", lambda c: parse_device, DeviceRecord, "device"),
    ("traccar", "groups", "Group", lambda c: parse_group, GroupRecord, "group"),
    ("traccar", "drivers", "Driver", lambda c: parse_driver, DriverRecord, "driver"),
    ("traccar", "geofences", "Geofence", lambda c: parse_geofence, GeofenceRecord, "geofence"),
    ("traccar", "positions", "Position", lambda c: c.parse_position, PositionRecord, "position"),
    ("traccar", "events", "Event", lambda c: parse_event, EventRecord, "event"),
    ("traccar", "trips", "ReportTrips", lambda c: parse_trip, TripRecord, None),
    ("traccar", "trips", "ReportTrips", lambda c: REPORT_PARSERS["trips"], dict, None),
    ("traccar", "stops", "ReportStops", lambda c: REPORT_PARSERS["stops"], dict, None),
    ("traccar", "summary", "ReportSummary", lambda c: REPORT_PARSERS["summary"], dict, None),
    ("safectory", "devices", "Device", lambda c: parse_device, DeviceRecord, "device"),
    ("safectory", "beacons", "Beacon", lambda c: parse_beacon, BeaconRecord, "beacon"),
    ("safectory", "positions", "Position", lambda c: c.parse_position, PositionRecord, "position"),
    ("safectory", "events", "Event", lambda c: parse_event, EventRecord, "event"),
]
IDS = [f"{vendor}-{definition}-{cls.__name__}" for vendor, _, definition, _, cls, _ in RESOURCES]


# --- what the gate promises for a record it lets through (docs: /work/briefs/issue11-design.md) -------------
def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _json_safe(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _name_fits(name, model, field="name") -> bool:
    return isinstance(name, str) and name == name.strip() and 0 < len(name) <= model._meta.get_field(field).max_length


def _id_fits(vendor_id, model) -> bool:
    return isinstance(vendor_id, str) and 0 < len(vendor_id) <= model._meta.get_field("vendor_id").max_length


def _time_or_none(t, ahead: timedelta) -> bool:
    return t is None or (t.utcoffset() == timedelta(0) and EPOCH <= t <= datetime.now(UTC) + ahead)


def kept_position(r: PositionRecord) -> list[str]:
    problems = []
    if not (_finite(r.latitude) and -90 <= r.latitude <= 90 and _finite(r.longitude) and -180 <= r.longitude <= 180):
        problems.append("coordinates")
    if (r.latitude, r.longitude) == (0, 0):
        problems.append("null island")
    if not (r.fix_time and r.fix_time.utcoffset() == timedelta(0) and EPOCH < r.fix_time <= NOW + timedelta(minutes=5)):
        problems.append("fix_time")
    if not (_finite(r.speed) and 0 <= r.speed <= MAX_SPEED_KMH):
        problems.append("speed")
    if r.course is not None and not (_finite(r.course) and 0 <= r.course < 360):
        problems.append("course")
    if r.altitude is not None and not (_finite(r.altitude) and -500 <= r.altitude <= 20000):
        problems.append("altitude")
    if r.accuracy is not None and not (_finite(r.accuracy) and r.accuracy >= 0):
        problems.append("accuracy")
    if not (isinstance(r.attributes, dict) and _json_safe(r.attributes)):
        problems.append("attributes")
    return problems


def kept_event(r: EventRecord) -> list[str]:
    problems = []
    if not (r.time and r.time.utcoffset() == timedelta(0) and EPOCH < r.time <= NOW + timedelta(minutes=5)):
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
    expected = {"polygon": "Polygon", "circle": "Point", "corridor": "LineString"}.get(r.kind)
    if shape.geom_type != expected:
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
    if shape.geom_type == "Polygon":
        return [xy for ring in shape for xy in ring]
    if shape.geom_type == "Point":
        return [shape.coords]
    return list(shape.coords)


def kept_named(model, time_field: str | None = None):
    def check(r) -> list[str]:
        problems = []
        if not _id_fits(r.vendor_id, model):
            problems.append("vendor_id")
        if not _name_fits(r.name, model):
            problems.append("name")
        if time_field and not _time_or_none(getattr(r, time_field), timedelta(days=1)):
            problems.append(time_field)
        return problems

    return check


def gate(kind: str, record, notes: Counter):
    """Run the validation gate of a kind on one record: its reason, or None when kept."""
    if kind == "position":
        return validate.position(record, NOW, MAX_SPEED_KMH, notes)
    if kind == "event":
        return validate.event(record, NOW)
    return getattr(validate, kind)(record)


KEPT = {
    "position": kept_position,
    "event": kept_event,
    "geofence": kept_geofence,
    "device": kept_named(Device, "last_update"),
    "group": kept_named(DeviceGroup),
    "driver": kept_named(Driver),
    "beacon": kept_named(Beacon, "last_seen"),
}


# --- the properties ---------------------------------------------------------------------------------------------
def check_map_rows(vendor, resource, mapper_of, record_cls, kind, rows):
    with connector(vendor) as c:
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
    @S.profile()
    @given(S.row_lists(definition, vendor=vendor))
    def check(rows):
        check_map_rows(vendor, resource, mapper_of, record_cls, kind, rows)

    check()


@pytest.mark.parametrize(("vendor", "resource", "definition", "mapper_of", "record_cls", "kind"), RESOURCES, ids=IDS)
def test_off_spec_rows_map_and_pass_or_fail_the_gate_with_a_reason(
    vendor, resource, definition, mapper_of, record_cls, kind
):
    @S.profile()
    @given(S.row_lists(definition, wild=True, vendor=vendor))
    def check(rows):
        check_map_rows(vendor, resource, mapper_of, record_cls, kind, rows)

    check()


@pytest.mark.parametrize(("vendor", "resource", "definition", "mapper_of", "record_cls", "kind"), RESOURCES, ids=IDS)
def test_on_schema_valid_rows_mappers_fail_only_with_reject(vendor, resource, definition, mapper_of, record_cls, kind):
    """A schema-valid row the mapper cannot use is a deliberate ``Reject`` naming the field, not a KeyError,
    TypeError, ValueError, OverflowError or GEOS error that ``map_rows`` catches as a bug."""

    @S.profile()
    @given(S.rows(definition, vendor=vendor))
    def check(row):
        with connector(vendor) as c:
            mapper = mapper_of(c)
        try:
            mapper(row)
        except Reject as exc:
            assert isinstance(exc.reason, str) and exc.reason.strip()

    check()


@pytest.mark.parametrize("vendor", ["traccar", "safectory"])
@pytest.mark.parametrize("rows", [None, [], {}, "positions", 7, {"id": 1}], ids=repr)
def test_map_rows_takes_none_as_empty_and_fails_the_resource_on_anything_else_but_a_list(vendor, rows):
    with connector(vendor) as c:
        if rows is None or rows == []:
            assert c.map_rows("devices", rows, parse_device) == []
        else:
            with pytest.raises(VendorError, match="devices: expected a list"):
                c.map_rows("devices", rows, parse_device)


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
def _same_fix(rows: list) -> st.SearchStrategy:
    """More rows, each of the device and fix time of one of ``rows`` (another beacon heard at the same time)."""
    if not rows:
        return st.just(rows)
    same = st.tuples(st.sampled_from(rows), S.rows("Position", vendor="safectory")).map(
        lambda t: {**t[1], "deviceId": t[0].get("deviceId"), "fixTime": t[0].get("fixTime")}
    )
    return st.lists(same, max_size=6).map(lambda more: rows + more)


@S.profile()
@given(S.row_lists("Position", vendor="safectory", max_size=4).flatmap(_same_fix))
def test_safectory_rows_of_one_time_merge_into_one_position_at_the_strongest_beacon_keeping_all(rows):
    with connector("safectory") as c:
        records = c.map_rows("positions", rows, c.parse_position)
    heard = Counter((r.device_id, r.fix_time) for r in records)
    beacons = sum(len(r.attributes.get("beacons", [])) for r in records)
    strongest = {}
    for r in records:
        rssi = r.attributes.get("rssi")
        key = (r.device_id, r.fix_time)
        strongest[key] = max(strongest.get(key, -999), rssi if rssi is not None else -999)
    merged = merge_same_time(records)
    assert Counter((r.device_id, r.fix_time) for r in merged) == dict.fromkeys(heard, 1)  # one each
    assert sum(len(r.attributes.get("beacons", [])) for r in merged) == beacons
    for r in merged:
        rssi = r.attributes.get("rssi")
        assert (rssi if rssi is not None else -999) == strongest[(r.device_id, r.fix_time)]


# --- the socket --------------------------------------------------------------------------------------------------
def check_socket(vendor, message):
    keys = S.SAFECTORY_SOCKET_KEYS if vendor == "safectory" else S.SOCKET_KEYS
    shapeless = any(not isinstance(message.get(key), list | None) for key in keys)
    with connector(vendor) as c:
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
