"""Stored reports and cached day results: versioned msgpack that gives back what was stored, and never
unpickles anything."""

import dataclasses
import math
import pickle
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from fleet.reports import serial
from fleet.reports.engine import Stop, SummaryRow, Trip, WindowResult
from fleet.reports.models import ReportJob
from fleet.reports.tables import DATE, DATETIME, DISTANCE, LATLON, Column, Report, Table, TrackLine

T = datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=UTC)


def a_report() -> Report:
    columns = [
        Column("when", "When", DATETIME),
        Column("day", "Day", DATE),
        Column("place", "Place", LATLON),
        Column("distance", "Distance", DISTANCE, 2),
        Column("name", "Name"),
    ]
    rows = [
        {"when": T, "day": date(2026, 11, 20), "place": (60.1, 24.9), "distance": 1234.5, "name": "Ä <b>", "n": None},
        {"when": T + timedelta(hours=1), "day": None, "place": None, "distance": np.float64(2.5), "name": ""},
    ]
    line = TrackLine(
        "Van",
        7,
        np.array([1.7e9, 1.7e9 + 5]),
        np.array([60.1, 60.2]),
        np.array([24.9, 25.0]),
        np.array([math.nan, 36.0]),
        np.array([12.5, math.nan]),
    )
    table = Table("trips", "Trips", columns, rows, totals={"name": "Total", "distance": 1237.0})
    return Report("trips", "Trips", 3, T, T + timedelta(days=1), [7, 8], [table], [line], ["2 trips clipped"])


def test_a_report_comes_back_as_it_was_stored():
    report = a_report()
    back = serial.loads(serial.dumps(report, compress=True))
    assert isinstance(back, Report) and back.tables[0].columns == report.tables[0].columns
    assert back.tables[0].rows == report.tables[0].rows
    assert back.tables[0].rows[0]["place"] == (60.1, 24.9) and isinstance(back.tables[0].rows[0]["place"], tuple)
    assert back.tables[0].rows[0]["when"] == T and back.tables[0].rows[0]["when"].tzinfo is not None
    assert (back.start, back.end, back.device_ids, back.notes) == (report.start, report.end, [7, 8], report.notes)
    (line,) = back.tracks
    assert line.name == "Van" and line.device_id == 7 and line.t.dtype == np.float64
    np.testing.assert_array_equal(line.speed, report.tracks[0].speed)  # NaN where unknown
    np.testing.assert_array_equal(line.altitude, report.tracks[0].altitude)


def test_a_days_engine_result_comes_back_equal():
    trip = Trip(
        0,
        9,
        T,
        T + timedelta(minutes=20),
        60.0,
        25.0,
        60.1,
        25.1,
        12000.0,
        1200.0,
        54.0,
        36.0,
        None,
        False,
        True,
        "odometer",
    )
    stop = Stop(9, 12, T + timedelta(minutes=20), T + timedelta(hours=1), 60.1, 25.1, 2400.0, 60.0, None, False, True)
    row = SummaryRow(
        T,
        T + timedelta(days=1),
        date(2026, 11, 20),
        12000.0,
        1200.0,
        60.0,
        85140.0,
        54.0,
        36.0,
        None,
        1.5,
        1,
        1,
        T,
        None,
    )
    result = ([trip], [stop], [row])
    assert serial.loads(serial.dumps(result)) == result

    # A summary decodes of the trips, stops and no-data spans only the first and last; the rows it asks for whole.
    trips = [dataclasses.replace(trip, distance_m=float(k)) for k in range(5)]
    day = WindowResult(trips, [stop], [row, dataclasses.replace(row, trips=7), row], [])
    for stored in (serial.dumps(day), serial.dumps(day, compress=True), serial.dumps(list(day))):
        assert serial.loads_ends(stored, whole=(2,)) == [[trips[0], trips[4]], [stop], day.rows, []]
    with pytest.raises(serial.FormatError):
        serial.loads_ends(b"FRS-\x00" + serial._pack([1]))


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps({"a": 1}),
        b"FRS-\x00" + serial._pack([1]),  # another version
        b"FRS?\x01",  # another envelope
        b"FRSz\x01not zlib",
        b"",
    ],
)
def test_bytes_of_another_format_or_version_are_refused(data):
    with pytest.raises(serial.FormatError):
        serial.loads(data)


def test_only_known_types_are_stored_or_built():
    with pytest.raises(TypeError):
        serial.dumps({"when": datetime(2026, 1, 1)})  # naive
    with pytest.raises(TypeError):
        serial.dumps(object())
    forged = (
        serial.MAGIC + b"-" + bytes([serial.FORMAT]) + serial._pack(0)[:0] + b"\xc7\x0b\x05" + b"\x92\xa6system\x80"
    )
    with pytest.raises(serial.FormatError):
        serial.loads(forged)


@pytest.mark.django_db
def test_a_job_stored_in_an_older_format_loads_as_nothing(org_a):
    job = ReportJob.objects.create(organization=org_a, kind="trips", status="done", result=pickle.dumps(a_report()))
    assert job.load_report() is None
    job.store_report(a_report())
    job.save()
    assert ReportJob.objects.get(pk=job.pk).load_report().tables[0].rows[0]["name"] == "Ä <b>"


def test_a_fleets_rows_entry_comes_back_equal_as_plain_lists():
    """``dumps_rows``: summary rows without an extension type per row (the fleet's entry of 6,000 devices);
    every field back equal, None and numpy values included, and every datetime or date field converted."""
    full = SummaryRow(
        T, T + timedelta(days=1), date(2026, 11, 20), np.float64(1234.5), 60.0, 30.0, 90.0, 88.5, 44.2,
        np.float64(3600.0), 12.5, 3, 2, T + timedelta(hours=1), T + timedelta(hours=20, microseconds=7),
        5.0, 250.0, 4,
    )  # fmt: skip
    empty = SummaryRow(T, T + timedelta(days=1), None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, 0, 0, None, None)
    rows = {"(7, [(3, 99)])": [full, empty], "(8, [])": []}
    stored = serial.dumps_rows(rows)
    plain = serial.loads(stored)["(7, [(3, 99)])"][0]  # stored without an extension type: ints, not datetimes
    assert type(plain) is list and plain[:3] == [serial._micros(T), serial._micros(T + timedelta(days=1)), 739940]
    back = serial.loads_rows(stored)
    assert back == rows and back["(7, [(3, 99)])"][0].last_stop == T + timedelta(hours=20, microseconds=7)
    # the fields held as other than plain values are exactly SummaryRow's datetime and date fields
    hints = {f.name: str(f.type) for f in dataclasses.fields(SummaryRow)}
    assert {name for name, hint in hints.items() if hint.startswith("datetime")} == serial._ROW_TIMES
    assert {name for name, hint in hints.items() if hint.startswith("date ")} == serial._ROW_DATES


@pytest.mark.parametrize(
    "stored", [[1, 2], {"k": [[1, 2]]}, {"k": [["x"] * len(dataclasses.fields(SummaryRow))]}, {"k": 5}]
)
def test_a_rows_entry_of_another_shape_is_refused(stored):
    with pytest.raises(serial.FormatError):
        serial.loads_rows(serial.dumps(stored, compress=True))
