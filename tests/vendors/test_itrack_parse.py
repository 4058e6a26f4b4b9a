"""The iTrack mappers against Navixy's published examples (tests/fixtures/itrack/examples: every block that is
JSON is read, those of the resources fleet maps become records without a reject), times at the user's DST
changes, and a property test over rows shaped like the examples."""

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given

from fleet.tracking.records import (
    DeviceRecord,
    EventRecord,
    GeofenceRecord,
    PoiRecord,
    PositionRecord,
    TaskRecord,
)
from fleet.vendors import base
from fleet.vendors import itrack_parse as parse
from fleet.vendors.itrack import ItrackConnector
from tests.vendors import strategies as S
from tests.vendors.test_metrotec_properties import ABSENT, check_rows, field

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "itrack" / "examples"
HELSINKI = ZoneInfo("Europe/Helsinki")


def load(name: str):
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def test_every_example_marked_json_is_json_and_no_other():
    index = load("INDEX.json")
    assert len(index) == 181
    for entry in index:
        text = (EXAMPLES / entry["file"]).read_text(encoding="utf-8")
        try:
            json.loads(text)
            readable = True
        except ValueError:
            readable = False
        assert readable == entry["valid_json"], entry["file"]


def zone_row(row):
    return parse.parse_zone(row)


def point_row(row):
    return parse.parse_point(row, "123456", HELSINKI)


def state_row(row):
    return parse.parse_state("123456", row, HELSINKI)


def task_row(row):
    return parse.parse_task(row, HELSINKI)


def event_row(row):
    return parse.parse_event(row, HELSINKI)


# (resource, example file, path to its rows, mapper, record class, gate kind)
RESOURCES = [
    (
        "devices",
        "head__backend-api__resources__tracking__tracker__README__list__response1.json",
        "list",
        parse.parse_tracker,
        DeviceRecord,
        "device",
    ),
    (
        "positions",
        "head__backend-api__resources__tracking__track__index__read__point-info1.json",
        None,
        point_row,
        PositionRecord,
        "position",
    ),
    (
        "positions",
        "head__backend-api__resources__tracking__tracker__README__get_state__response1.json",
        "state",
        state_row,
        PositionRecord,
        "position",
    ),
    (
        "pois",
        "head__backend-api__resources__field-service__place__work-with-poi__list__response1.json",
        "list",
        parse.parse_place,
        PoiRecord,
        "poi",
    ),
    (
        "tasks",
        "head__backend-api__resources__field-service__task__README__list__response1.json",
        "list",
        task_row,
        TaskRecord,
        "task",
    ),
    (
        "events",
        "head__backend-api__resources__commons__history__history_tracker__list__block1.json",
        "list",
        event_row,
        EventRecord,
        "event",
    ),
    (
        "geofences",
        "head__backend-api__resources__tracking__zone__README__Entity-description__circle1.json",
        None,
        zone_row,
        GeofenceRecord,
        "geofence",
    ),
]


def rows_of(file: str, path: str | None) -> list:
    payload = load(file)
    rows = payload[path] if path else payload
    return rows if isinstance(rows, list) else [rows]


@pytest.fixture(scope="module")
def connector():
    with ItrackConnector(1, "http://127.0.0.1:1", {}) as c:
        yield c


@pytest.mark.parametrize(
    ("resource", "file", "path", "mapper", "cls", "kind"), RESOURCES, ids=[r[1][:60] for r in RESOURCES]
)
def test_the_vendors_examples_map_without_a_reject(connector, resource, file, path, mapper, cls, kind):
    connector.rejects.clear()
    rows = rows_of(file, path)
    records = connector.map_rows(resource, rows, mapper)
    assert len(records) == len(rows) and not connector.rejects.get(resource), connector.rejects
    assert all(isinstance(r, cls) for r in records)


def test_the_examples_values_land_where_they_belong():
    (point,) = [point_row(r) for r in rows_of(RESOURCES[1][1], None)]
    assert point.fix_time == datetime(2023, 11, 1, 2, 38, 39, tzinfo=UTC)  # 04:38:39 in Helsinki (EET)
    assert (point.latitude, point.longitude, point.speed, point.course) == (43.0375133, -79.226505, 53, 280)
    assert point.attributes["odometer_m"] == 43930.0
    (tracker,) = [parse.parse_tracker(r) for r in rows_of(RESOURCES[0][1], "list")]
    assert (tracker.vendor_id, tracker.name, tracker.unique_id, tracker.model) == (
        "123456",
        "tracker label",
        "9999999988888",
        "telfmb920",
    )
    (event,) = [event_row(r) for r in rows_of(RESOURCES[5][1], "list")]
    assert (event.type, event.attributes["vendor_type"], event.device_id) == ("deviceOffline", "offline", "2")


def test_zones_of_each_shape_read_as_fleets_kinds():
    circle = parse.parse_zone(
        {"id": 1, "type": "circle", "label": "C", "radius": 150, "center": {"lat": 48.2, "lng": 16.37}}
    )
    assert (circle.kind, circle.wkt, circle.radius_m) == ("circle", "POINT (16.37 48.2)", 150)
    points = [{"lat": 11.0, "lng": 22.0}, {"lat": 11.2, "lng": 22.2}]
    sausage = parse.parse_zone({"id": 2, "type": "sausage", "label": "S", "radius": 40, "points": points})
    assert (sausage.kind, sausage.wkt, sausage.width_m) == ("corridor", "LINESTRING (22.0 11.0, 22.2 11.2)", 80)
    with pytest.raises(base.Reject):
        parse.parse_zone({"id": 3, "type": "sausage", "label": "S", "radius": 40, "points": points[:1]})


def test_times_at_the_users_dst_changes_become_the_right_utc():
    # spring: 03:00 EET becomes 04:00 EEST on 29 March 2026
    assert parse.to_utc("2026-03-29 02:59:59", HELSINKI) == datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)
    assert parse.to_utc("2026-03-29 04:00:00", HELSINKI) == datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(base.Reject, match="clocks skipped"):
        parse.to_utc("2026-03-29 03:30:00", HELSINKI)
    # autumn: 04:00 EEST becomes 03:00 EET on 25 October 2026; 03:xx happens twice
    assert parse.to_utc("2026-10-25 03:30:00", HELSINKI) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    rows = [
        {"lat": 60.0, "lng": 25.0, "get_time": t}
        for t in ("2026-10-25 03:50:00", "2026-10-25 03:10:00", "2026-10-25 03:20:00")
    ]
    times = [r.fix_time for r in parse.parse_points(rows, "1", HELSINKI)]
    assert times == [
        datetime(2026, 10, 25, 0, 50, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 10, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 20, tzinfo=UTC),
    ]
    assert parse.to_local(datetime(2026, 10, 25, 1, 10, tzinfo=UTC), HELSINKI) == "2026-10-25 03:10:00"
    assert parse.to_utc(None, HELSINKI) is None  # null stays null


def test_a_window_ending_in_the_repeated_hour_is_asked_to_its_later_reading():
    from fleet.vendors.itrack import _wall_clock_end

    assert _wall_clock_end(datetime(2026, 10, 25, 0, 20, tzinfo=UTC), HELSINKI) == "2026-10-25 03:20:00"  # EEST
    assert _wall_clock_end(datetime(2026, 10, 25, 1, 20, tzinfo=UTC), HELSINKI) == "2026-10-25 04:20:00"  # EET
    assert _wall_clock_end(datetime(2026, 12, 4, 12, 0, 0, 500, tzinfo=UTC), HELSINKI) == "2026-12-04 14:00:00"


def test_unknown_event_types_keep_their_vendor_name():
    row = {"id": 9, "tracker_id": 2, "time": "2026-12-01 10:00:00", "event": "harsh_driving"}
    assert parse.parse_event(row, HELSINKI).type == "harsh_driving"


def rows_like(file: str, path: str | None):
    from hypothesis import strategies as st

    example = rows_of(file, path)[0]
    row = st.fixed_dictionaries({k: field(k, v) for k, v in example.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )
    odd = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2))
    return st.lists(st.one_of(row, row, row, odd), max_size=6)


@pytest.mark.parametrize(
    ("resource", "file", "path", "mapper", "cls", "kind"), RESOURCES, ids=[r[1][:60] for r in RESOURCES]
)
def test_rows_like_the_examples_map_and_pass_or_fail_the_gate_with_a_reason(
    connector, resource, file, path, mapper, cls, kind
):
    @S.profile()
    @given(rows_like(file, path))
    def check(rows):
        check_rows(connector, resource, mapper, cls, kind, rows)

    check()
