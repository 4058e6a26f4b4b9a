"""Exports: CSV, XLSX, GPX and KML of the same report the page shows, in the organisation's units, scoped."""

import csv
import io
import math
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
from tests.reports.test_kinds import HEL

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
