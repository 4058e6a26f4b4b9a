"""Report builders on a hand-built day: two trips of known length in Europe/Helsinki.

The day (2026-11-20, Helsinki = UTC+2, so the local day is 19 Nov 22:00 UTC to 20 Nov 22:00 UTC), in UTC:

* 07:00-07:55 parked at the depot, a fix every 5 min, ignition off, 50 l of fuel;
* trip 1, 08:00-08:20: 20 one-minute steps of 600 m due north (12 km in 1200 s, 36 km/h; the 08:10 fix
  reports 54 km/h), ignition on, fuel falling 0.1 l a minute to 48 l; arrives at 08:20;
* 08:20-08:30 idling (ignition on, 600 s), then parked, ignition off, until 10:00;
* trip 2, 10:00-10:30: 30 one-minute steps of 500 m (15 km in 1800 s, 30 km/h), fuel down to 45 l;
* 10:30-12:00 parked, ignition off.

101 fixes in all: 12 + 21 (08:00-08:20) + 19 (08:25-09:55) + 31 (10:00-10:30) + 18 (10:35-12:00).
"""

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.gis.geos import Polygon
from django.utils.module_loading import import_string

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.dispatch.models import Task
from fleet.geo.models import Geofence
from fleet.reports import exports
from fleet.reports.engine import Params
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.kinds.common import replay_url
from fleet.reports.kinds.events import attribute_summary
from fleet.reports.tables import Units
from fleet.tracking import drivers
from fleet.tracking.models import Driver, DriverAssignment, Event, Position
from tests.conftest import make_device

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
HEL = "Europe/Helsinki"
DAY_START = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)  # 2026-11-20 00:00 in Helsinki
DAY_END = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
LAT0, LON = 60.0, 25.0


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


def fix(device, when, lat, speed=0.0, ignition=False, fuel=50.0, **kw) -> Position:
    attrs = {"ignition": ignition, "fuel_l": round(fuel, 3), **kw.pop("attributes", {})}
    return Position(device=device, fix_time=when, latitude=lat, longitude=LON, speed=speed, attributes=attrs, **kw)


def drive_day(device) -> dict:
    """The day described in the module docstring; returns the key places."""
    step1, step2 = 600 / M_PER_DEG, 500 / M_PER_DEG
    fixes = [fix(device, at(7, m), LAT0) for m in range(0, 60, 5)]
    fixes += [fix(device, at(8, i), LAT0 + i * step1, 54.0 if i == 10 else 36.0, True, 50 - 0.1 * i) for i in range(20)]
    lat_b = LAT0 + 20 * step1
    fixes += [fix(device, at(8, 20), lat_b, 0.0, True, 48.0), fix(device, at(8, 25), lat_b, 0.0, True, 48.0)]
    fixes += [fix(device, at(8, 30) + timedelta(minutes=m), lat_b, fuel=48.0) for m in range(0, 90, 5)]
    fixes += [fix(device, at(10, i), lat_b + i * step2, 30.0, True, 48 - 0.1 * i) for i in range(30)]
    lat_c = lat_b + 30 * step2
    fixes += [fix(device, at(10, 30), lat_c, fuel=45.0, altitude=12.0)]
    fixes += [fix(device, at(10, 35) + timedelta(minutes=m), lat_c, fuel=45.0) for m in range(0, 90, 5)]
    Position.objects.bulk_create(fixes)
    return {"a": (LAT0, LON), "b": (lat_b, LON), "c": (lat_c, LON)}


@pytest.fixture
def hel_org(org_a):
    org_a.timezone = HEL
    org_a.save()
    return org_a


@pytest.fixture
def van(hel_org):
    driver = Driver.objects.create(organization=hel_org, name="Ville Virtanen")
    return make_device(hel_org, "Van 7", driver=driver)


def test_every_kind_is_registered_with_an_importable_builder():
    assert list(KINDS) == ["route", "trips", "stops", "summary", "events", "visits", "tasks"]
    assert all(callable(import_string(kind.builder)) for kind in KINDS.values())
    assert [k for k, v in KINDS.items() if v.tracks] == ["route", "trips"]


def test_trips_have_the_hand_computed_distance_duration_speeds_and_fuel(hel_org, van):
    places = drive_day(van)
    calls = []
    report = build_report("trips", hel_org, [van], DAY_START, DAY_END, progress=lambda *args: calls.append(args))

    (table,) = report.tables
    first, second = table.rows
    assert (first["start"], first["end"]) == (at(8), at(8, 20))
    assert first["distance"] == pytest.approx(12_000, abs=0.01)
    assert first["duration"] == 1200
    assert first["max_speed"] == 54.0 and first["avg_speed"] == pytest.approx(36.0)
    assert first["fuel"] == pytest.approx(2.0)
    assert first["driver"] == "Ville Virtanen" and first["device"] == "Van 7"
    assert first["start_place"] == places["a"] and first["end_place"] == pytest.approx(places["b"])
    assert first["flags"] == ""
    assert first["replay"] == replay_url(van.pk, at(8), at(8, 20))
    assert first["replay"].startswith(f"/devices/{van.pk}/replay/?from=2026-11-20T08%3A00%3A00%2B00%3A00&to=")
    assert (second["start"], second["end"]) == (at(10), at(10, 30))
    assert second["distance"] == pytest.approx(15_000, abs=0.01) and second["duration"] == 1800
    assert second["max_speed"] == 30.0 and second["avg_speed"] == pytest.approx(30.0)
    assert second["fuel"] == pytest.approx(3.0)

    totals = table.totals
    assert totals["device"] == "2 trips"
    assert totals["distance"] == pytest.approx(27_000, abs=0.02) and totals["duration"] == 3000
    assert totals["max_speed"] == 54.0 and totals["avg_speed"] == pytest.approx(32.4)  # 27 km in 50 min
    assert totals["fuel"] == pytest.approx(5.0)
    assert calls == [(1, 1, 2)]  # one device of one, two trip rows so far
    assert report.notes == []


def test_each_trip_has_a_track_line_with_its_own_fixes(hel_org, van):
    drive_day(van)
    report = build_report("trips", hel_org, [van], DAY_START, DAY_END)
    first, second = report.tracks
    assert first.name == "Van 7 2026-11-20 10:00"  # local start time in the name
    assert len(first) == 21 and first.time(0) == at(8) and first.time(-1) == at(8, 20)
    assert len(second) == 31 and second.time(-1) == at(10, 30)
    assert first.speed[10] == 54.0 and second.altitude[-1] == 12.0


def test_a_trip_cut_by_the_range_is_kept_and_flagged(hel_org, van):
    drive_day(van)
    report = build_report("trips", hel_org, [van], DAY_START, at(8, 10))
    (row,) = report.tables[0].rows
    assert (row["start"], row["end"]) == (at(8), at(8, 10))
    assert row["distance"] == pytest.approx(6_000, abs=0.01)
    assert row["flags"] == "still running"
    assert report.notes == ["1 trip clipped at the range edges."]


def test_stops_have_duration_place_idle_and_engine_hours(hel_org, van):
    places = drive_day(van)
    report = build_report("stops", hel_org, [van], DAY_START, DAY_END)
    rows = report.tables[0].rows
    assert [(r["start"], r["end"]) for r in rows] == [(at(7), at(8)), (at(8, 20), at(10)), (at(10, 30), at(12))]
    assert [r["duration"] for r in rows] == [3600, 6000, 5400]
    assert [r["idle"] for r in rows] == [0, 600, 0]
    assert [r["engine_hours"] for r in rows] == [0, 600, 0]  # no hour meter: ignition-on time
    assert rows[1]["place"] == pytest.approx(places["b"])
    assert rows[0]["flags"] == rows[2]["flags"] == ""  # the data begins and ends parked: the range cuts nothing
    totals = report.tables[0].totals
    assert totals == {"device": "3 stops", "duration": 15000, "engine_hours": 600, "idle": 600}
    assert [r["driver"] for r in rows] == ["Ville Virtanen"] * 3  # the van's fixed driver


def test_trips_and_stops_name_who_drove_at_the_time(hel_org, van):
    drive_day(van)
    mikko = Driver.objects.create(organization=hel_org, name="Mikko")
    # Mikko from 10:00:20 (his card read 20 s into the second trip), open-ended; before that, the fixed driver
    drivers.save_assignment(DriverAssignment(device=van, driver=mikko, start=at(10) + timedelta(seconds=20)), UTC)
    trips = build_report("trips", hel_org, [van], DAY_START, DAY_END).tables[0].rows
    assert [t["driver"] for t in trips] == ["Ville Virtanen", "Mikko"]
    stops = build_report("stops", hel_org, [van], DAY_START, DAY_END).tables[0].rows
    assert [s["driver"] for s in stops] == ["Ville Virtanen", "Ville Virtanen", "Mikko"]


SUMMARY_DAY = {
    "distance": 27_000,
    "driving": 3000,
    "idle": 600,
    "stopped": 5 * 3600 - 3600,  # the fixes cover 07:00-12:00
    "no_data": 86400 - 5 * 3600,  # the rest of the day: driving + idle + stopped + no data = 24 h
    "no_data_distance": 0,
    "max_speed": 54.0,
    "avg_speed": 32.4,
    "engine_hours": 3600,  # ignition on: 1200 + 600 idling + 1800
    "fuel": 5.0,
    "trips": 2,
    "first_start": at(8),
    "last_stop": at(10, 30),
}


def assert_summary(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert row[key] == (value if isinstance(value, datetime) else pytest.approx(value)), key


def test_summary_over_the_range(hel_org, van):
    drive_day(van)
    report = build_report("summary", hel_org, [van], DAY_START, DAY_END)
    (table,) = report.tables
    (row,) = table.rows
    assert row["device"] == "Van 7"
    assert_summary(row, SUMMARY_DAY)
    assert table.totals["device"] == "Total" and table.totals["distance"] == pytest.approx(27_000)


def test_summary_split_by_local_day(hel_org, van):
    drive_day(van)
    end = DAY_END + timedelta(days=1)
    report = build_report("summary", hel_org, [van], DAY_START, end, options={"split": "day"})
    days, devices = report.tables
    assert [r["day"] for r in days.rows] == [date(2026, 11, 20), date(2026, 11, 21)]
    assert_summary(days.rows[0], SUMMARY_DAY)
    quiet = days.rows[1]
    assert (quiet["distance"], quiet["driving"], quiet["stopped"], quiet["trips"]) == (0, 0, 0, 0)
    assert quiet["no_data"] == 86400  # a day without a fix: no data, not stopped
    (whole,) = devices.rows
    assert whole["stopped"] == 14400 and whole["trips"] == 2
    assert days.totals == devices.totals and days.totals["distance"] == pytest.approx(27_000)


def test_summary_totals_add_up_devices(hel_org, van):
    drive_day(van)
    idle_van = make_device(hel_org, "Van 8")
    report = build_report("summary", hel_org, [van, idle_van], DAY_START, DAY_END)
    (table,) = report.tables
    assert [r["device"] for r in table.rows] == ["Van 7", "Van 8"]
    assert table.rows[1]["distance"] == 0 and table.rows[1]["engine_hours"] is None
    totals = table.totals
    assert totals["distance"] == pytest.approx(27_000) and totals["driving"] == 3000
    assert totals["stopped"] == pytest.approx(14400) and totals["trips"] == 2  # Van 8 has no data
    assert totals["avg_speed"] == pytest.approx(32.4) and totals["engine_hours"] == 3600


def test_route_has_every_fix_in_the_range_and_one_line(hel_org, van):
    drive_day(van)
    Position.objects.filter(device=van, fix_time=at(9)).update(
        valid=False, course=90.0, attributes={"battery_level": 87, "odometer_m": 1500.0, "address": "Mannerheimintie 1"}
    )
    report = build_report("route", hel_org, [van], DAY_START, DAY_END)
    rows = report.tables[0].rows
    assert len(rows) == 101
    assert rows[0]["time"] == at(7) and rows[0]["position"] == (LAT0, LON) and rows[0]["ignition"] is False
    odd = next(r for r in rows if r["time"] == at(9))
    assert (odd["valid"], odd["course"], odd["battery"], odd["odometer"]) == (False, 90.0, 87.0, 1500.0)
    assert odd["address"] == "Mannerheimintie 1" and odd["ignition"] is None and odd["fuel"] is None
    (line,) = report.tracks
    assert len(line) == 100  # the invalid fix is not drawn
    short = build_report("route", hel_org, [van], at(8), at(8, 20))
    assert len(short.tables[0].rows) == 20  # [start, end): the 08:20 fix is out


def test_an_implausible_fix_is_marked_in_the_route_left_off_its_line_and_noted_by_trips_and_summary(hel_org, van):
    drive_day(van)
    # 08:10 of trip 1 reported 55 km east: 3,300 km/h from its neighbours a minute either side
    Position.objects.filter(device=van, fix_time=at(8, 10)).update(longitude=LON + 1.0)
    note = "1 implausible fix ignored (beyond the plausible maximum speed)."

    route = build_report("route", hel_org, [van], DAY_START, DAY_END)
    assert [r["time"] for r in route.tables[0].rows if r["implausible"]] == [at(8, 10)]
    assert len(route.tracks[0]) == 100 and route.notes == [note]
    trips = build_report("trips", hel_org, [van], DAY_START, DAY_END)
    first = trips.tables[0].rows[0]
    assert first["distance"] == pytest.approx(12_000, abs=0.01) and first["max_speed"] < 60  # not 3,300 km/h
    assert trips.notes == [note]
    assert build_report("summary", hel_org, [van], DAY_START, DAY_END).notes == [note]


@pytest.fixture
def events(hel_org, van):
    other = make_device(hel_org, "Van 8")
    depot = Geofence.objects.create(
        organization=hel_org, name="Depot", geometry=Polygon(((25, 60), (25.1, 60), (25.1, 60.1), (25, 60)))
    )
    task = Task.objects.create(
        organization=hel_org, order_ref="ORD-9", title="Deliver", device=van, destination="POINT(25 60)"
    )

    def event(device, when, kind, **kw):
        return Event.objects.create(organization=hel_org, device=device, time=when, type=kind, **kw)

    event(van, at(8), "ignitionOn")
    event(van, at(8, 10), "geofenceEnter", geofence=depot, task=task)
    event(other, at(8, 15), "geofenceExit", geofence=depot)
    event(other, at(9), "alarm", attributes={"alarm": "sos", "battery": 12})
    event(van, DAY_START - timedelta(hours=1), "ignitionOff")  # 23:00 local the day before
    return {"other": other, "depot": depot}


def test_events_newest_first_in_plain_words_with_geofence_task_and_attributes(hel_org, van, events):
    report = build_report("events", hel_org, [van, events["other"]], DAY_START, DAY_END)
    rows = report.tables[0].rows
    assert [(r["time"], r["type"]) for r in rows] == [
        (at(9), "Alarm"),
        (at(8, 15), "Left geofence"),
        (at(8, 10), "Entered geofence"),
        (at(8), "Ignition on"),
    ]
    assert rows[2]["geofence"] == "Depot" and rows[2]["task"] == "ORD-9 Deliver" and rows[2]["device"] == "Van 7"
    assert rows[0]["attributes"] == "alarm=sos, battery=12"


def test_an_event_naming_no_zone_shows_the_geofences_and_task_the_device_was_in(hel_org, van, events):
    depot, task = events["depot"], Task.objects.get(order_ref="ORD-9")
    yard = Geofence.objects.create(organization=hel_org, name="Yard", geometry=depot.geometry)

    def event(when, kind, **kw):
        Event.objects.create(organization=hel_org, device=van, time=when, type=kind, **kw)

    event(DAY_START - timedelta(days=2), "geofenceEnter", geofence=yard, key="y")  # entered before the range
    event(at(8, 12), "taskArrival", task=task, key="t")
    event(at(8, 14), "deviceStopped")
    event(at(8, 16), "taskDeparture", task=task, key="t")
    event(at(8, 20), "deviceMoving", attributes={"vendor": "x"})
    event(at(8, 30), "geofenceExit", geofence=depot, key="d")
    event(at(8, 40), "deviceStopped")
    rows = {
        (r["time"], r["type"]): r for r in build_report("events", hel_org, [van], DAY_START, DAY_END).tables[0].rows
    }
    assert rows[at(8), "Ignition on"]["geofence"] == "Yard" and rows[at(8), "Ignition on"]["task"] == ""
    assert (rows[at(8, 14), "Stopped"]["geofence"], rows[at(8, 14), "Stopped"]["task"]) == (
        "Depot, Yard",
        "ORD-9 Deliver",
    )
    assert (rows[at(8, 20), "Started moving"]["geofence"], rows[at(8, 20), "Started moving"]["task"]) == (
        "Depot, Yard",
        "",
    )
    assert rows[at(8, 20), "Started moving"]["attributes"] == "vendor=x"
    assert rows[at(8, 40), "Stopped"]["geofence"] == "Yard"


def test_a_type_filter_still_follows_the_zone_events_it_hides(hel_org, van, events):
    Event.objects.create(organization=hel_org, device=van, time=at(8, 20), type="deviceMoving")
    report = build_report("events", hel_org, [van], DAY_START, DAY_END, options={"type": "deviceMoving"})
    assert [(r["type"], r["geofence"]) for r in report.tables[0].rows] == [("Started moving", "Depot")]


def test_a_vendor_type_without_a_label_is_shown_by_its_name(hel_org, van):
    Event.objects.create(organization=hel_org, device=van, time=at(8), type="hardBraking")
    assert [r["type"] for r in build_report("events", hel_org, [van], DAY_START, DAY_END).tables[0].rows] == [
        "hardBraking"
    ]


@pytest.mark.parametrize(
    ("options", "devices", "expected"),
    [
        ({"type": "geofenceEnter"}, "both", ["Entered geofence"]),
        ({"geofence": "depot"}, "both", ["Left geofence", "Entered geofence"]),
        ({}, "other", ["Alarm", "Left geofence"]),
        ({"type": "alarm", "geofence": "depot"}, "both", []),
    ],
)
def test_events_filter_by_type_geofence_and_device(hel_org, van, events, options, devices, expected):
    if options.get("geofence"):
        options = {**options, "geofence": events["depot"]}
    chosen = [events["other"]] if devices == "other" else [van, events["other"]]
    report = build_report("events", hel_org, chosen, DAY_START, DAY_END, options=options)
    assert [r["type"] for r in report.tables[0].rows] == expected


def test_attribute_summary_is_sorted_and_cut():
    assert attribute_summary({"b": 1, "a": "x"}) == "a=x, b=1"
    assert attribute_summary(None) == ""
    long = attribute_summary({"k": "v" * 500}, limit=20)
    assert len(long) == 20 and long.endswith("…")


@pytest.mark.django_db
def test_the_organisation_chooses_traccars_either_or_trip_rule(org_a):
    assert Params.for_org(org_a).require_both is True  # default: distance AND duration
    org_a.trip_needs_distance_and_duration = False
    org_a.save()
    org_a.refresh_from_db()
    assert Params.for_org(org_a).require_both is False


def test_defect_6_in_the_reports_a_move_without_data_is_its_own_table_in_trips_and_stops(hel_org, van):
    # Parked at the depot 07:00-07:55, silent 3.5 h while carried 228 km north, parked there 11:25-12:20.
    fixes = [fix(van, at(7, m), LAT0) for m in range(0, 60, 5)]
    far = LAT0 + 228_000 / M_PER_DEG
    fixes += [fix(van, at(11, 25) + timedelta(minutes=m), far) for m in range(0, 60, 5)]
    Position.objects.bulk_create(fixes)

    trips = build_report("trips", hel_org, [van], DAY_START, DAY_END)
    stops = build_report("stops", hel_org, [van], DAY_START, DAY_END)
    assert trips.tables[0].rows == [] and [t.name for t in trips.tables] == ["trips", "no_data"]
    (gap,) = trips.tables[1].rows
    assert (gap["start"], gap["end"], gap["flags"]) == (at(7, 55), at(11, 25), "")
    assert gap["distance"] == pytest.approx(228_000, abs=1) and gap["duration"] == 3.5 * 3600
    assert trips.tables[1].totals["distance"] == pytest.approx(228_000, abs=1)
    # Two stops, one at each place; neither stretches across the silence.
    assert [(r["start"], r["end"]) for r in stops.tables[0].rows] == [(at(7), at(7, 55)), (at(11, 25), at(12, 20))]
    assert stops.tables[1].rows == trips.tables[1].rows
    summary = build_report("summary", hel_org, [van], DAY_START, DAY_END).tables[0].rows[0]
    assert summary["distance"] == 0 and summary["no_data_distance"] == pytest.approx(228_000, abs=1)
    units = Units(HEL)
    assert "Moved without data" in "".join(exports.to_csv(trips, units)) and exports.to_xlsx(stops, units)
