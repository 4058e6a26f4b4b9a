"""Geofence and POI visits on hand-built tracks whose answers are worked out by hand.

Vehicles drive along a meridian (lon 25.01) north of LAT0 = 60.0, where a metre north is exactly
1 / M_PER_DEG degrees, so haversine distances between fixes are the metres written in the tracks.
"""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.geo.models import POI, Geofence
from fleet.reports.kinds.visits import INSIDE_AT_START, OPEN_AT_END, visits_report
from fleet.tracking.models import Position
from tests.conftest import T0, make_device

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
LAT0, LON = 60.0, 25.01
SQUARE_TOP_M = 2100  # the square geofence spans 0 .. 2100 m north of LAT0, lon 25.00 .. 25.02
POI_AT_M, POI_RADIUS = 5000, 300
approx = pytest.approx


def lat(north_m: float) -> float:
    return LAT0 + north_m / M_PER_DEG


def east(metres: float, at_lat: float = LAT0) -> float:
    return metres / (M_PER_DEG * math.cos(math.radians(at_lat)))


def drive(device, fixes, t0=T0):
    """fixes: (minute, metres north of LAT0, speed km/h[, lon])."""
    Position.objects.bulk_create(
        Position(
            device=device,
            fix_time=t0 + timedelta(minutes=f[0]),
            latitude=lat(f[1]),
            longitude=f[3] if len(f) > 3 else LON,
            speed=f[2],
        )
        for f in fixes
    )


def at(minutes: float, base=T0) -> datetime:
    return base + timedelta(minutes=minutes)


@pytest.fixture
def places(org_a):
    square = Geofence.objects.create(
        organization=org_a,
        name="Depot square",
        geometry=Polygon(
            ((25.0, LAT0), (25.02, LAT0), (25.02, lat(SQUARE_TOP_M)), (25.0, lat(SQUARE_TOP_M)), (25.0, LAT0))
        ),
    )
    poi = POI.objects.create(organization=org_a, name="Customer", point=Point(LON, lat(POI_AT_M)), radius_m=POI_RADIUS)
    return square, poi


def run(org, devices, start=None, end=None, **options):
    report = visits_report(org, devices, start or at(-60), end or at(120), options)
    visits, totals = report.tables
    return report, visits.rows, totals.rows


# A van drives north through the square (in at minute 2, out at minute 6), on to the customer POI, parks there
# for ten minutes and leaves (in at 10, out at 22).
THROUGH_AND_PARK = [
    (0, -1000, 36),
    (1, -400, 36),
    (2, 200, 36),
    (3, 800, 36),
    (4, 1400, 36),
    (5, 2000, 36),
    (6, 2600, 36),
    (7, 3200, 36),
    (8, 3800, 36),
    (9, 4400, 24),
    (10, 4800, 12),
    (11, 5000, 0),
    (12, 5000, 0),
    (13, 5000, 0),
    (14, 5000, 0),
    (16, 5000, 0),
    (18, 5000, 0),
    (20, 5000, 0),
    (21, 5200, 12),
    (22, 5600, 36),
    (23, 6200, 36),
]


def test_it_finds_enter_exit_dwell_and_distance_inside_a_square_and_a_circle(org_a, places):
    van = make_device(org_a, "Van 1")
    drive(van, THROUGH_AND_PARK)

    report, rows, totals = run(org_a, [van])

    assert report.kind == "visits" and report.device_ids == [van.pk]
    square, poi = rows
    assert (square["place"], square["place_kind"]) == ("Depot square", "geofence")
    assert (square["enter"], square["exit"]) == (at(2), at(6))
    assert square["dwell_s"] == 240
    # inside fixes at 200, 800, 1400, 2000 m: three 600 m steps
    assert square["distance_m"] == approx(1800, abs=0.01)
    assert (poi["place"], poi["place_kind"]) == ("Customer", "POI")
    assert (poi["enter"], poi["exit"]) == (at(10), at(22))
    assert poi["dwell_s"] == 720
    # 4800 -> 5000 (moving at 4800) and 5000 -> 5200 (moving at 5200); parked steps are 0 m anyway
    assert poi["distance_m"] == approx(400, abs=0.01)
    assert square["note"] == poi["note"] == ""
    assert [(t["place"], t["visits"], t["devices"], t["dwell_s"]) for t in totals] == [
        ("Depot square", 1, 1, 240),
        ("Customer", 1, 1, 720),
    ]


def test_a_single_outlying_fix_is_not_a_visit(org_a, places):
    van = make_device(org_a, "Van 2")
    # parked 1 km south of the square; one fix jumps into it, one into the POI
    drive(van, [(0, -1000, 0), (1, -1000, 0), (2, 1000, 0), (3, -1000, 0), (4, POI_AT_M, 0), (5, -1000, 0)])
    report, rows, totals = run(org_a, [van])
    assert rows == [] and totals == []
    # with min_fixes=1 the same fixes are visits: the debounce is what drops them
    _, rows, _ = run(org_a, [van], min_fixes=1)
    assert [(r["place"], r["enter"], r["exit"]) for r in rows] == [
        ("Depot square", at(2), at(3)),
        ("Customer", at(4), at(5)),
    ]


def test_a_single_outlying_fix_outside_does_not_split_a_visit(org_a, places):
    van = make_device(org_a, "Van 3")
    # parked in the POI; at minute 3 one fix lands 2 km away
    drive(
        van,
        [
            (0, 4000, 36),
            (1, POI_AT_M, 0),
            (2, POI_AT_M, 0),
            (3, 7000, 0),
            (4, POI_AT_M, 0),
            (5, POI_AT_M + 100, 6),
            (6, 6000, 36),
        ],
    )
    _, rows, _ = run(org_a, [van])
    assert [(r["place"], r["enter"], r["exit"], r["dwell_s"]) for r in rows] == [("Customer", at(1), at(6), 300)]
    # the jump to the outlier is not distance: only 5000 -> 5100 (moving at 5100)
    assert rows[0]["distance_m"] == approx(100, abs=0.01)


def test_corridor_is_the_line_buffered_by_half_its_width(org_a):
    line_lat = 60.1
    Geofence.objects.create(
        organization=org_a,
        name="Ring road",
        kind="corridor",
        width_m=100,
        geometry=LineString((25.0, line_lat), (25.05, line_lat)),
    )
    truck = make_device(org_a, "Truck")
    north = (line_lat - LAT0) * M_PER_DEG  # the line, in metres north of LAT0
    drive(truck, [(0, north - 120, 36), (1, north - 40, 36), (2, north + 40, 36), (3, north + 120, 36)])
    _, rows, totals = run(org_a, [truck])
    assert [(r["place"], r["enter"], r["exit"], r["dwell_s"]) for r in rows] == [("Ring road", at(1), at(3), 120)]
    assert rows[0]["distance_m"] == approx(80, abs=0.01)
    assert totals[0]["visits"] == 1


def test_a_visit_open_at_the_range_end_and_one_begun_before_the_range(org_a, places):
    van = make_device(org_a, "Van 4")
    # inside the square since before the range, leaves at minute 3; enters the POI at 10 and stays
    drive(
        van,
        [
            (-30, 500, 0),
            (-20, 500, 0),
            (1, 500, 0),
            (2, 1000, 36),
            (3, 2600, 36),
            (9, 4000, 36),
            (10, POI_AT_M, 0),
            (20, POI_AT_M, 0),
            (30, POI_AT_M, 0),
        ],
    )
    start, end = at(0), at(60)
    report, rows, _ = run(org_a, [van], start, end)
    square, poi = rows
    assert (square["enter"], square["exit"], square["dwell_s"]) == (start, at(3), 180)
    assert square["note"] == INSIDE_AT_START
    # 500 -> 1000 m at minute 1 -> 2 is in the range; the step from minute -20 to 1 is parked (0 m)
    assert square["distance_m"] == approx(500, abs=0.01)
    assert (poi["enter"], poi["exit"], poi["dwell_s"]) == (at(10), None, 50 * 60)
    assert poi["note"] == OPEN_AT_END
    assert any("still open" in note for note in report.notes)


def test_a_visit_across_midnight_is_one_visit(org_a, places):
    van = make_device(org_a, "Van 5")
    midnight = datetime(2026, 11, 21, tzinfo=UTC)
    drive(van, [(-3, -400, 36), (-2, 200, 36), (-1, 800, 36), (0, 1400, 36), (1, 2000, 36), (2, 2600, 36)], t0=midnight)
    _, rows, _ = run(org_a, [van], midnight - timedelta(days=1), midnight + timedelta(days=1))
    assert [(r["enter"], r["exit"], r["dwell_s"]) for r in rows] == [
        (midnight - timedelta(minutes=2), midnight + timedelta(minutes=2), 240)
    ]
    assert rows[0]["distance_m"] == approx(1800, abs=0.01)


def test_options_pick_one_place_and_progress_is_reported_per_device(org_a, places):
    square, poi = places
    vans = [make_device(org_a, "Van 6"), make_device(org_a, "Van 7")]
    for van in vans:
        drive(van, THROUGH_AND_PARK)
    calls = []
    report = visits_report(org_a, vans, at(-60), at(120), {"poi": poi.pk}, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 2), (2, 2)]
    rows = report.tables[0].rows
    assert [(r["device"], r["place"]) for r in rows] == [("Van 6", "Customer"), ("Van 7", "Customer")]
    assert report.tables[1].rows == [
        {
            "place": "Customer",
            "place_kind": "POI",
            "visits": 2,
            "devices": 2,
            "dwell_s": 1440,
            "distance_m": approx(800),
        }
    ]


def test_another_organisations_places_are_not_visited(org_a, org_b, places):
    Geofence.objects.create(
        organization=org_b, name="B everywhere", geometry=Polygon(((24, 59), (26, 59), (26, 61), (24, 61), (24, 59)))
    )
    van = make_device(org_a, "Van 8")
    drive(van, THROUGH_AND_PARK)
    _, rows, _ = run(org_a, [van])
    assert {r["place"] for r in rows} == {"Depot square", "Customer"}


def test_the_visits_page_picks_a_poi_or_geofence_and_refuses_another_organisations(
    org_a, org_b, user_a, client, places
):
    square, poi = places
    van = make_device(org_a, "Van 9")
    drive(van, THROUGH_AND_PARK)
    foreign = POI.objects.create(organization=org_b, name="B customer", point=Point(LON, lat(POI_AT_M)), radius_m=50)
    client.force_login(user_a)
    local_day = T0.date().isoformat()
    query = {"device": van.pk, "preset": "custom", "start": local_day, "end": local_day}

    rows = client.get("/reports/visits/", {**query, "poi": poi.pk}).context["report"].tables[0].rows
    assert [r["place"] for r in rows] == ["Customer"]
    rows = client.get("/reports/visits/", {**query, "geofence": square.pk}).context["report"].tables[0].rows
    assert [r["place"] for r in rows] == ["Depot square"]

    response = client.get("/reports/visits/", {**query, "poi": foreign.pk})
    assert response.status_code in (200, 400) and response.context["form"].errors.get("poi")
    assert "B customer" not in response.content.decode()


def test_a_geofence_with_a_calendar_counts_visits_only_while_it_is_active(org_a, places):
    square, _ = places
    # active from minute 3 to minute 5 of T0's day (UTC): the van is inside from 2 to 6
    square.calendar = f"DTSTART:{at(3):%Y%m%dT%H%M%S}Z\nDTEND:{at(5):%Y%m%dT%H%M%S}Z\nRRULE:FREQ=DAILY"
    square.save()
    van = make_device(org_a, "Van 1")
    drive(van, THROUGH_AND_PARK)
    _, rows, _ = run(org_a, [van])
    visit = next(r for r in rows if r["place"] == "Depot square")
    assert (visit["enter"], visit["exit"]) == (at(3), at(5))  # fixes at 3 and 4 count; at 5 it is no longer active
    assert visit["dwell_s"] == 120
