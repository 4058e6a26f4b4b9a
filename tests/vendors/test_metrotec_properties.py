"""Property tests of the Metrotec mappers, on rows shaped like the excerpt's examples (tests/fixtures/metrotec/)
in which every field may be missing, null, NaN, of another type or oddly written.

As for the Traccar family (test_properties.py): ``map_rows`` lets nothing escape and its counts add up; every
record either passes the validation gate of its kind and then holds what the gate promises, or is rejected by
it with a reason; a vendor report row holds finite numbers and aware times. No database is needed.
"""

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.tracking import validate
from fleet.tracking.records import (
    DeviceRecord,
    DriverRecord,
    EventRecord,
    GeofenceRecord,
    PoiRecord,
    PositionRecord,
    TaskFileRecord,
    TaskRecord,
)
from fleet.vendors.metrotec import MetrotecConnector
from fleet.vendors.metrotec.parse import (
    parse_driver,
    parse_fuel_event,
    parse_geozone,
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
)
from tests.vendors import strategies as S
from tests.vendors.test_properties import KEPT, gate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "metrotec"
ABSENT = object()


def example(name: str) -> dict:
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload[0] if isinstance(payload, list) else payload


def vendor_times(draw_from: datetime = S.NOW) -> st.SearchStrategy[str]:
    """``YYYY-MM-DD HH:MM:SS`` around the tests' clock, as the vendor writes them."""
    moments = st.integers(-3 * 86_400 * 365, 86_400).map(lambda s: draw_from + timedelta(seconds=s))
    return moments.map(lambda m: m.strftime("%Y-%m-%d %H:%M:%S"))


TIMES = st.one_of(vendor_times(), S.DATE_TIMES, S.WILD_DATE_TIMES)
NUMBERS = st.one_of(S.NUMBERS, S.WILD_NUMBERS, st.floats(-200, 200))
HEADINGS = st.one_of(
    st.integers(-720, 720).map(lambda n: f"{n}°"),
    st.floats(allow_nan=True).map(lambda f: f"{f}°"),
    st.sampled_from(["°", "string", "N", " 12 ° ", "0º"]),
    NUMBERS,
)
FLAGS = st.sampled_from(["0", "1", "string", "", 0, 1, 2, 7, -1, 2.5, True, math.nan])
IDS = st.one_of(S.WILD_IDS, st.text(max_size=12), st.just("000AAA"))


TIME_FIELDS = ("GMTime", "uploaded_at", "startTime", "stopTime", "stopEnd", "previousStopTime")
TIME_FIELDS += ("LastCommunicationLocalTime", "maxTime", "start", "stop")


def field(key: str, value: object) -> st.SearchStrategy:
    """What a field may hold: its example value, nothing, null, or a value of its kind, written oddly or not."""
    if key in TIME_FIELDS:
        kind = TIMES
    elif key == "Heading":
        kind = HEADINGS
    elif key in ("NoGPSFix", "Input", "input", "status"):
        kind = FLAGS
    elif key in ("id", "ID", "objectID", "object_id", "pivot_id"):
        kind = IDS
    elif isinstance(value, int | float) and not isinstance(value, bool):
        kind = NUMBERS
    else:
        kind = st.one_of(st.text(max_size=60), S.WRONG_TYPES)
    return st.one_of(st.just(value), st.just(ABSENT), st.none(), kind)


def rows_like(name: str) -> st.SearchStrategy[list]:
    base = example(name)
    row = st.fixed_dictionaries({k: field(k, v) for k, v in base.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )
    odd = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2))
    return st.lists(st.one_of(row, row, row, odd), max_size=6)


def history_position(row):
    return parse_position(row, "000AAA")


# (resource, example file, mapper, record class, gate kind)
RESOURCES = [
    ("positions", "tanks.json", parse_position, PositionRecord, "position"),
    ("positions", "positions.json", parse_position, PositionRecord, "position"),
    ("positions", "history.json", history_position, PositionRecord, "position"),
    ("devices", "vehicles.json", parse_vehicle, DeviceRecord, "device"),
    ("drivers", "drivers.json", parse_driver, DriverRecord, "driver"),
    ("drivers", "persons.json", parse_driver, DriverRecord, "driver"),
    ("geofences", "geozones.json", parse_geozone, GeofenceRecord, "geofence"),
    ("geofences", "geozone_created.json", parse_geozone, GeofenceRecord, "geofence"),
    ("tasks", "tasks.json", parse_task, TaskRecord, "task"),
    ("pois", "pois.json", parse_poi, PoiRecord, "poi"),
    ("task_files", "files.json", parse_task_file, TaskFileRecord, "task_file"),
    ("report trips", "routelog.json", parse_trip, dict, None),
    ("report stops", "stops.json", parse_stop_report, dict, None),
    ("poi report", "poi_report.json", parse_visit, dict, None),
    ("events", "fuel_events.json", parse_fuel_event, EventRecord, "event"),
    ("report work_time", "worktime.json", parse_work_time, dict, None),
    ("report work_periods", "worktime_vehicle.json", parse_work_period, dict, None),
    ("report waybills", "waybills.json", parse_waybill, dict, None),
]
IDS_OF = [f"{file}-{mapper.__name__}" for _, file, mapper, _, _ in RESOURCES]


@pytest.fixture(scope="module")
def connector():
    with MetrotecConnector(1, "http://127.0.0.1:1", {}) as c:
        yield c


def kept_task(r: TaskRecord) -> list[str]:
    problems = [] if isinstance(r.order_ref, str) and 0 < len(r.order_ref) <= 100 else ["order_ref"]
    if not (-90 <= r.latitude <= 90 and -180 <= r.longitude <= 180):
        problems.append("destination")
    for moment in (r.planned_start, r.planned_stop):
        if moment is not None and moment.utcoffset() != timedelta(0):
            problems.append("planned times")
    return problems


def kept_poi(r: PoiRecord) -> list[str]:
    problems = [] if -90 <= r.latitude <= 90 and -180 <= r.longitude <= 180 else ["point"]
    if not (math.isfinite(r.radius_m) and r.radius_m > 0):
        problems.append("radius")
    return problems + ([] if isinstance(r.name, str) and len(r.name) <= 200 else ["name"])


def kept_task_file(r: TaskFileRecord) -> list[str]:
    problems = [] if r.kind in validate.TASK_FILE_KINDS else ["kind"]
    problems += [] if isinstance(r.name, str) and 0 < len(r.name) <= 255 else ["name"]
    problems += [] if isinstance(r.task_id, str) and 0 < len(r.task_id) <= 100 else ["task id"]
    return problems + ([] if r.uploaded is None or r.uploaded.utcoffset() == timedelta(0) else ["uploaded"])


KEPT_HERE = {**KEPT, "task": kept_task, "poi": kept_poi, "task_file": kept_task_file}


def report_problems(row: dict) -> list[str]:
    """A vendor report row: aware times in order of the fields, finite numbers (or None)."""
    problems = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    problems += [k for k, v in row.items() if isinstance(v, datetime) and v.utcoffset() != timedelta(0)]
    if not isinstance(row["device_id"], str) or not row["device_id"]:
        problems.append("device_id")
    return problems


def check_rows(connector, resource, mapper, record_cls, kind, rows) -> None:
    connector.rejects.clear()
    connector.listed.clear()
    records = connector.map_rows(resource, rows, mapper)  # nothing may escape
    tally = connector.rejects.get(resource)
    rejected = tally.rejected if tally else 0
    assert len(rows) == len(records) + rejected
    if tally:
        assert all(isinstance(reason, str) and reason.strip() for reason in tally.reasons)
    for record in records:
        assert isinstance(record, record_cls)
        if kind is None:
            assert not (problems := report_problems(record)), (problems, record)
            continue
        notes: Counter = Counter()
        reason = validate.poi(record) if kind == "poi" else gate(kind, record, notes)
        if reason is None:
            assert not (problems := KEPT_HERE[kind](record)), (problems, record)
        else:
            assert isinstance(reason, str) and reason.strip()


@pytest.mark.parametrize(("resource", "file", "mapper", "record_cls", "kind"), RESOURCES, ids=IDS_OF)
def test_rows_like_the_excerpts_map_and_pass_or_fail_the_gate_with_a_reason(
    connector, resource, file, mapper, record_cls, kind
):
    @S.profile()
    @given(rows_like(file))
    def check(rows):
        check_rows(connector, resource, mapper, record_cls, kind, rows)

    check()


EXTREMES = [math.nan, math.inf, -math.inf, 1.7976931348623157e308, -1.7976931348623157e308, 10**400, "NaN", "1e999"]


@pytest.mark.parametrize(("resource", "file", "mapper", "record_cls", "kind"), RESOURCES, ids=IDS_OF)
def test_each_field_at_its_extremes_maps_and_passes_or_fails_the_gate_with_a_reason(
    connector, resource, file, mapper, record_cls, kind
):
    base = example(file)
    rows = [{**base, key: value} for key in base for value in EXTREMES]
    check_rows(connector, resource, mapper, record_cls, kind, rows)


def test_the_excerpts_own_examples_map_without_a_reject(connector):
    for resource, file, mapper, _, _ in RESOURCES:
        connector.rejects.clear()
        assert len(connector.map_rows(resource, [example(file)], mapper)) == 1, file
        assert not connector.rejects


def test_a_times_readings_are_utc(connector):
    (record,) = connector.map_rows("positions", [example("tanks.json")], parse_position)
    assert record.fix_time == datetime(2019, 8, 30, 8, 56, 9, tzinfo=UTC)
