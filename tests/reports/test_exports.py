"""Exports: CSV, XLSX, GPX and KML of the same report the page shows, in the organisation's units, scoped."""

import csv
import io
import math
import pickle
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import gpxpy
import openpyxl
import pytest
from django.urls import reverse

from fleet.reports import exports
from fleet.reports.tables import (
    BOOL,
    DATE,
    DATETIME,
    DISTANCE,
    DURATION,
    LATLON,
    LINK,
    SPEED,
    Column,
    Report,
    Table,
    TrackLine,
    Units,
)
from fleet.tracking.models import Position
from tests.reports.conftest import cell_texts
from tests.reports.test_kinds import HEL, at

DAY = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20"}
KML = "{http://www.opengis.net/kml/2.2}"


def export_url(kind: str, fmt: str, **params) -> str:
    return f"{reverse('reports:export', args=[kind, fmt])}?{urlencode(params)}"


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def read_xlsx(response) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(response.content))


# ------------------------------------------------------------------------------------------ pure functions


def small_report() -> Report:
    columns = [
        Column("device", "Device"),
        Column("start", "Start", DATETIME),
        Column("day", "Day", DATE),
        Column("place", "Place", LATLON),
        Column("distance", "Distance", DISTANCE, 2),
        Column("speed", "Speed", SPEED, 0),
        Column("duration", "Duration", DURATION),
        Column("moving", "Moving", BOOL),
        Column("replay", "Replay", LINK),
    ]
    rows = [
        {
            "device": '=HYPERLINK("http://evil")',
            "start": datetime(2026, 7, 1, 21, 30, tzinfo=UTC),
            "day": date(2026, 7, 2),
            "place": (60.1, 24.9),
            "distance": 1609.344,
            "speed": 100.0,
            "duration": 3599.6,
            "moving": True,
            "replay": "/devices/1/replay/",
        },
        {
            "device": "Van\x01 2",
            "start": None,
            "day": None,
            "place": None,
            "distance": None,
            "speed": None,
            "duration": 0,
            "moving": False,
        },
    ]
    table = Table("trips", "Trips", columns, rows, totals={"distance": 1609.344, "duration": 3600})
    line = TrackLine.from_fixes("Van <1> & co", 1, [(datetime(2026, 7, 1, 21, 30, tzinfo=UTC), 60.1, 24.9, 36.0, None)])
    return Report("trips", "Trips", 1, rows[0]["start"], rows[0]["start"], [1], [table], tracks=[line])


def test_csv_has_units_in_headers_local_times_and_two_columns_for_a_place():
    units = Units(HEL, distance="mi", speed="mph")
    rows = list(csv.reader(io.StringIO("".join(exports.to_csv(small_report(), units)))))
    assert rows[0] == [
        "Device",
        "Start (Europe/Helsinki)",
        "Day",
        "Place latitude",
        "Place longitude",
        "Distance (mi)",
        "Speed (mph)",
        "Duration (s)",
        "Moving",
    ]  # the LINK column is for the page only
    assert rows[1] == [
        '\'=HYPERLINK("http://evil")',
        "2026-07-02 00:30:00",
        "2026-07-02",
        "60.1",
        "24.9",
        "1.0",
        "62.14",
        "3600",
        "true",
    ]
    assert rows[2] == ["Van\x01 2", "", "", "", "", "", "", "0", "false"]
    assert len(rows) == 3  # no totals row in a CSV


def test_xlsx_cells_are_typed_and_the_header_row_frozen():
    book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(small_report(), Units(HEL, distance="mi"))))
    assert book.sheetnames == ["trips", "About"]
    sheet = book["trips"]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:6] == [
        "Device",
        "Start (Europe/Helsinki)",
        "Day",
        "Place latitude",
        "Place longitude",
        "Distance (mi)",
    ]
    first = [c.value for c in sheet[2]]
    assert first[0] == '=HYPERLINK("http://evil")' and sheet["A2"].data_type == "s"  # text, never a formula
    assert first[1] == datetime(2026, 7, 2, 0, 30) and sheet["B2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert first[2] == datetime(2026, 7, 2) and sheet["C2"].number_format == "yyyy-mm-dd"
    assert first[3:8] == [60.1, 24.9, 1.0, 100.0, 3600]
    assert first[8] is True
    totals = [c.value for c in sheet[4]]
    assert totals[0] == "Total" and totals[5] == 1.0 and totals[7] == 3600 and sheet["F4"].font.b
    about = {row[0].value: row[1].value for row in book["About"].iter_rows()}
    assert about["Time zone"] == HEL and about["Distance unit"] == "mi" and about["From"] == datetime(2026, 7, 2, 0, 30)


def test_sheet_names_are_valid_and_unique():
    tables = [Table(name, name, []) for name in ("a/b:c", "A_B_C", "x" * 40, "History")]
    names = exports.sheet_names(tables)
    assert names == ["a_b_c", "A_B_C (2)", "x" * 31, "History (2)"]


def test_gpx_and_kml_are_well_formed_with_escaped_names():
    report = small_report()
    gpx = gpxpy.parse(exports.to_gpx(report))
    (track,) = gpx.tracks
    assert track.name == "Van <1> & co"
    (point,) = track.segments[0].points
    assert (point.latitude, point.longitude, point.speed) == (60.1, 24.9, 10.0)  # 36 km/h = 10 m/s
    kml = ET.fromstring(exports.to_kml(report))  # noqa: S314 - our own output
    assert kml.tag == f"{KML}kml"
    assert kml.find(f"{KML}Document/{KML}Placemark/{KML}name").text == "Van <1> & co"
    assert kml.find(f".//{KML}Point/{KML}coordinates").text == "24.900000,60.100000"  # one fix: a point
    report.kind = "stops"
    with pytest.raises(exports.NoTracks):
        exports.to_kml(report)


def test_a_track_line_gives_back_its_fixes_with_utc_times_and_none_for_unknown():
    local = datetime(2026, 7, 2, 0, 30, 15, 123456, tzinfo=ZoneInfo(HEL))
    fixes = [(local, 60.1, 24.9, None, 12.5), (local + timedelta(seconds=5), 60.2, 25.0, 36.0, None)]
    line = TrackLine.from_fixes("Van", 1, fixes)
    assert len(line) == 2 and line.t.dtype == float and math.isnan(line.speed[0]) and math.isnan(line.altitude[1])
    assert list(line.fixes()) == fixes  # to the microsecond
    assert {when.tzinfo for when, *_ in line.fixes()} == {UTC} and line.time(-1) == fixes[-1][0]


def test_a_track_line_pickled_with_lists_still_exports():
    """A background job's report stored before lines held arrays unpickles into the new form."""
    when = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)
    old = {
        "name": "Van",
        "device_id": 1,
        "times": [when, when + timedelta(seconds=5)],
        "lats": [60.1, 60.2],
        "lons": [24.9, 25.0],
        "speeds": [None, 36.0],
        "altitudes": [],
    }
    line = TrackLine.__new__(TrackLine)
    line.__setstate__(old)
    assert list(line.fixes()) == [(when, 60.1, 24.9, None, None), (when + timedelta(seconds=5), 60.2, 25.0, 36.0, None)]
    assert pickle.loads(pickle.dumps(line)).name == "Van"  # noqa: S301 - our own bytes


# ------------------------------------------------------------------------------------------ through HTTP


def test_trips_csv_matches_the_page(alice, hel_world):
    query = {**DAY, "device": hel_world["device"].pk}
    response = alice.get(export_url("trips", "csv", **query))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="trips_a-van_2026-11-20.csv"'
    header, first, second = read_csv(response)
    assert header[:9] == [
        "Device",
        "Start (Europe/Helsinki)",
        "End (Europe/Helsinki)",
        "From latitude",
        "From longitude",
        "To latitude",
        "To longitude",
        "Distance (km)",
        "Duration (s)",
    ]
    assert first[:3] == ["a van", "2026-11-20 10:00:00", "2026-11-20 10:20:00"]
    assert first[7:12] == ["12.0", "1200", "54.0", "36.0", "a driver"]
    assert second[7:9] == ["15.0", "1800"]
    assert "Replay" not in header


def test_xlsx_figures_equal_the_page_in_the_organisations_units(alice, hel_world):
    org = hel_world["organization"]
    org.distance_unit, org.speed_unit = "mi", "mph"
    org.save()
    query = {**DAY, "device": hel_world["device"].pk}
    page = alice.get(f"{reverse('reports:report', args=['trips'])}?{urlencode(query)}")
    (table,) = page.context["tables"]
    response = alice.get(export_url("trips", "xlsx", **query))
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = read_xlsx(response)["trips"]
    header = [c.value for c in sheet[1]]
    distance, top, avg = header.index("Distance (mi)"), header.index("Max speed (mph)"), header.index("Avg speed (mph)")
    start = header.index("Start (Europe/Helsinki)")
    for r, html in enumerate(table["rows"], 2):
        row, cells = [c.value for c in sheet[r]], cell_texts(html)
        assert f"{row[distance]:.2f} mi" == cells[5]
        assert f"{row[top]:.0f} mph" == cells[7] and f"{row[avg]:.0f} mph" == cells[8]
        assert isinstance(row[start], datetime) and row[start].strftime("%Y-%m-%d %H:%M:%S") == cells[1]
    first = [c.value for c in sheet[2]]
    assert first[distance] == 7.456 and first[top] == 33.55  # 12 km / 1.609344; 54 km/h / 1.609344
    assert first[start] == datetime(2026, 11, 20, 10, 0)
    totals = [c.value for c in sheet[4]]
    assert totals[0] == "2 trips" and totals[distance] == 16.777  # 27 km in miles


def test_summary_per_day_exports_each_table(alice, hel_world):
    query = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-21", "split": "day"}
    page = alice.get(f"{reverse('reports:report', args=['summary'])}?{urlencode(query)}").content.decode()
    assert "CSV: Per day" in page and "table=days" in page
    rows = read_csv(alice.get(export_url("summary", "csv", **query, table="days")))
    assert rows[0][:4] == ["Device", "Day", "Distance (km)", "Driving (s)"]
    assert [r[1] for r in rows[1:]] == ["2026-11-20", "2026-11-21"]
    assert [r[2] for r in rows[1:]] == ["27.0", "0.0"]
    both = read_csv(alice.get(export_url("summary", "csv", **query)))
    assert both[0] == ["Per day"] and ["Summary"] in both
    book = read_xlsx(alice.get(export_url("summary", "xlsx", **query)))
    assert book.sheetnames == ["days", "summary", "About"]
    assert book["days"]["B2"].value == datetime(2026, 11, 20)
    assert alice.get(export_url("summary", "csv", **query, table="nope")).status_code == 400


def test_gpx_has_one_track_per_trip_with_times_and_speeds(alice, hel_world):
    response = alice.get(export_url("trips", "gpx", **DAY))
    assert response["Content-Type"] == "application/gpx+xml"
    gpx = gpxpy.parse(response.content.decode())
    assert [t.name for t in gpx.tracks] == ["a van 2026-11-20 10:00", "a van 2026-11-20 12:00"]
    first = gpx.tracks[0].segments[0].points
    assert len(first) == 21 and len(gpx.tracks[1].segments[0].points) == 31
    assert first[0].time == at(8) and first[-1].time == at(8, 20)
    assert (first[0].latitude, first[0].longitude) == (60.0, 25.0)
    assert first[0].speed == 10.0 and first[10].speed == 15.0  # 36 and 54 km/h in m/s


def test_kml_has_a_placemark_with_a_line_per_trip(alice, hel_world):
    response = alice.get(export_url("trips", "kml", **DAY))
    assert response["Content-Type"] == "application/vnd.google-earth.kml+xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own output
    marks = root.findall(f"{KML}Document/{KML}Placemark")
    assert [m.find(f"{KML}name").text for m in marks] == ["a van 2026-11-20 10:00", "a van 2026-11-20 12:00"]
    coordinates = marks[0].find(f"{KML}LineString/{KML}coordinates").text.split()
    assert len(coordinates) == 21 and coordinates[0] == "25.000000,60.000000"
    assert marks[0].find(f"{KML}TimeSpan/{KML}begin").text == "2026-11-20T08:00:00Z"
    assert marks[1].find(f"{KML}TimeSpan/{KML}end").text == "2026-11-20T10:30:00Z"


def test_route_exports_have_every_row_beyond_the_pages_2000(alice, world_a):
    device = world_a["device"]
    start = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    Position.objects.bulk_create(
        Position(
            device=device, fix_time=start.replace(hour=1, minute=i // 60, second=i % 60), latitude=60, longitude=25
        )
        for i in range(2100)
    )
    rows = read_csv(alice.get(export_url("route", "csv", **DAY, device=device.pk)))
    assert len(rows) == 1 + 2101  # header, 2100 + the fixture's fix at T0
    gpx = gpxpy.parse(alice.get(export_url("route", "gpx", **DAY, device=device.pk)).content.decode())
    assert len(gpx.tracks[0].segments[0].points) == 2101


@pytest.mark.parametrize("kind", ["stops", "summary", "events", "visits", "tasks"])
@pytest.mark.parametrize("fmt", ["gpx", "kml"])
def test_gpx_and_kml_only_exist_for_route_and_trips(alice, world_a, kind, fmt):
    response = alice.get(export_url(kind, fmt, **DAY))
    assert response.status_code == 400 and b"route and trips" in response.content


@pytest.mark.parametrize("kind", ["route", "trips", "stops", "summary", "events"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_table_exports_open_for_every_kind(alice, world_a, kind, fmt):
    response = alice.get(export_url(kind, fmt, **DAY))
    assert response.status_code == 200
    if fmt == "csv":
        assert read_csv(response)[0][0] == ("Time (UTC)" if kind in ("route", "events") else "Device")
    else:
        assert read_xlsx(response).sheetnames[-1] == "About"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpx", "kml"])
@pytest.mark.parametrize("field", ["device", "group", "organization"])
def test_every_export_of_another_orgs_object_is_404(alice, world_a, world_b, fmt, field):
    key = {"device": "device", "group": "devicegroup", "organization": "organization"}[field]
    assert alice.get(export_url("trips", fmt, **DAY)).status_code == 200
    response = alice.get(export_url("trips", fmt, **DAY, **{field: world_b[key].pk}))
    assert response.status_code == 404 and b"b van" not in response.content


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_events_export_for_another_orgs_geofence_is_404(alice, world_a, world_b, fmt):
    response = alice.get(export_url("events", fmt, **DAY, geofence=world_b["geofence"].pk))
    assert response.status_code == 404 and b"b depot" not in response.content


def test_exports_are_for_signed_in_users_only(client, world_a):
    response = client.get(export_url("trips", "csv", **DAY, device=world_a["device"].pk))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    "params",
    [
        {"preset": "custom", "start": "2026-11-20", "end": "yesterday"},
        {"preset": "custom", "start": "2026-11-21", "end": "2026-11-20"},
        {"preset": "soon"},
    ],
)
def test_a_bad_range_is_a_400_with_the_reason(alice, world_a, params):
    response = alice.get(export_url("trips", "csv", **params))
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    assert response.content.strip()
