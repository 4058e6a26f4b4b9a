"""The store's SQL readers (PostgreSQL arrays, SQLite rows) against decoding each row's JSON in Python by the
coercion's rules: what ingest stores is read in SQL alone, rows stored before ingest coerced attributes are
still read by the same rules, and window-by-window loading reads each fix once."""

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection

from fleet.reports import ranges
from fleet.tracking import ingest, store
from fleet.tracking.models import Position
from fleet.tracking.records import PositionRecord
from fleet.tracking.store import sqlite
from fleet.tracking.track import FLOAT_FIELDS, Track
from tests.conftest import T0, make_device

IGNITIONS = [True, False, "true", " TRUE ", "off", "Yes", "no", 1, 0, 2, 0.0, 0.5, "maybe", None, [], [0], {}, {"a": 1}]
NUMBERS = [1200.5, 0, -3, 10**15 + 1, "1300.25", " 42 ", "1e3", None, 7, 2.5e-7]
END = T0 + timedelta(days=1)


def odd_rows() -> list[dict]:
    rows = [
        {"ignition": ign, "odometer_m": NUMBERS[i % len(NUMBERS)], "fuel_l": NUMBERS[(i + 3) % len(NUMBERS)]}
        for i, ign in enumerate(IGNITIONS)
    ]
    rows += [{}, {"engine_hours_s": 3600}, {"ignition": None, "engine_hours_s": "7200.5", "other": [1, 2]}]
    rows += [
        {"battery_level": 87},
        {"battery": 12.6},
        {"battery_level": 55, "battery": 12.1},
        {"battery_level": None, "battery": 11.9},
        {"battery_level": "40"},
    ]
    return rows


def add(van, rows: list[dict], micro: int = 0) -> None:
    """One fix a minute from T0 (plus ``micro`` microseconds), with the given attributes, written straight to
    the table (as rows stored before ingest coerced attributes were)."""
    Position.objects.bulk_create(
        Position(
            device=van,
            fix_time=T0 + timedelta(minutes=i, microseconds=micro),
            latitude=60 + i / 1000,
            longitude=25.0,
            speed=float(i),
            valid=i % 3 != 0,
            attributes=attrs,
        )
        for i, attrs in enumerate(rows)
    )


def ingested(van, rows: list[dict], micro: int = 0) -> None:
    """The same fixes through ingest."""
    records = [
        PositionRecord(
            str(van.pk),
            T0 + timedelta(minutes=i, microseconds=micro),
            60 + i / 1000,
            25.0,
            speed=float(i),
            valid=i % 3 != 0,
            attributes=attrs,
        )
        for i, attrs in enumerate(rows)
    ]
    assert ingest.positions(van.organization_id, None, records).created == len(rows)


def decoded(van, chunk: int = 1000) -> list[Track]:
    """The reference: every row's JSON decoded in Python by the coercion's rules."""
    return list(store._decoded_chunks(van.id, T0, END, chunk))


def sql_only(monkeypatch, van, chunk: int = 1000) -> list[Track]:
    """The store's reader, failing if it decoded any row in Python."""
    with monkeypatch.context() as patch:
        patch.setattr(store, "_decoded_chunks", fail_if_called)  # PostgreSQL: no fallback to the ORM
        patch.setattr(sqlite, "attribute_values", fail_if_called)  # SQLite: no value by value
        return list(store.read(van.id, T0, END, chunk))


def assert_same(a: list, b: list) -> None:
    assert [len(x) for x in a] == [len(x) for x in b]
    for x, y in zip(a, b, strict=True):
        for name in FLOAT_FIELDS:
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)
        np.testing.assert_array_equal(x.valid, y.valid)


def test_what_ingest_stores_is_read_in_sql_as_python_reads_it(org_a, monkeypatch):
    van = make_device(org_a)
    ingested(van, odd_rows(), micro=123_457)
    fast = sql_only(monkeypatch, van)

    assert_same(fast, decoded(van))
    track = fast[0]
    assert list(track.ignition[:12]) == [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1]  # up to 0.5 (non-zero: on)
    assert np.isnan(track.ignition[12:18]).all()  # "maybe", None, and containers are no flag
    assert track.t[0] == (T0 + timedelta(microseconds=123_457)).timestamp()
    assert list(track.odometer[:7]) == [1200.5, 0, -3, 10**15 + 1, 1300.25, 42, 1000]
    assert track.hours[-7:-5].tolist() == [3600, 7200.5]
    assert track.battery[-5:].tolist() == [87, 12.6, 55, 11.9, 40]  # battery_level when a number, else battery


def test_rows_stored_before_ingest_coerced_them_are_read_by_the_same_rules(org_a):
    van, twin = make_device(org_a, "Van 1"), make_device(org_a, "Van 2")
    add(van, odd_rows(), micro=123_457)
    ingested(twin, odd_rows(), micro=123_457)
    old, new = list(store.read(van.id, T0, END)), list(store.read(twin.id, T0, END))
    assert_same(old, decoded(van))
    assert_same(old, new)


def fail_if_called(*args, **kwargs):
    raise AssertionError("the SQL reader fell back to decoding values in Python")


@pytest.mark.parametrize("odd", [True, "bad", {"km": 3}, [1], 10**400])
def test_values_sql_cannot_cast_still_load_as_python_reads_them(org_a, odd):
    """PostgreSQL's casts fail on these and the reader decodes in Python instead; SQLite reads them in SQL."""
    van = make_device(org_a)
    add(van, [{"ignition": True, "odometer_m": 5000}, {"ignition": False, "odometer_m": odd}, {"fuel_l": 3}])
    fast = list(store.read(van.id, T0, END))
    assert_same(fast, decoded(van))
    odometer = fast[0].odometer
    assert odometer[0] == 5000 and np.isnan(odometer[2])
    assert np.isnan(odometer[1])  # not a number, or beyond float
    assert fast[0].fuel[2] == 3 and fast[0].ignition.tolist()[:2] == [1.0, 0.0]


def test_plain_numbers_and_booleans_take_the_fast_way_and_read_the_same(org_a, monkeypatch):
    van = make_device(org_a)
    ignitions = [True, False, 2, 0, 0.5, None, True]
    batteries = [{"battery_level": 80 - i} if i % 2 else {"battery": 12.5} for i in range(len(ignitions))]
    ingested(
        van,
        [
            {"ignition": v, "odometer_m": 10**6 + i, "fuel_l": 40 - i / 3, "speed_limit": 50, **batteries[i]}
            for i, v in enumerate(ignitions)
        ],
    )
    fast = sql_only(monkeypatch, van, chunk=4)
    assert_same(fast, decoded(van, chunk=4))
    ignition = np.concatenate([c.ignition for c in fast])
    assert ignition[:5].tolist() == [1, 0, 1, 0, 1] and np.isnan(ignition[5]) and ignition[6] == 1
    assert np.concatenate([c.fuel for c in fast])[3] == 39
    assert np.concatenate([c.battery for c in fast]).tolist() == [12.5, 79, 12.5, 77, 12.5, 75, 12.5]


def test_chunks_split_at_the_chunk_size_and_an_empty_range_gives_none(org_a):
    van = make_device(org_a)
    add(van, [{"odometer_m": 100 + i} for i in range(6)])
    end = T0 + timedelta(hours=1)
    assert [len(c) for c in store.read(van.id, T0, end, 3)] == [3, 3]
    assert [len(c) for c in store.read(van.id, T0, end, 6)] == [6]
    assert [len(c) for c in store.read(van.id, T0, end, 4)] == [4, 2]
    assert [c.odometer.tolist() for c in store.read(van.id, T0, end, 4)] == [[100, 101, 102, 103], [104, 105]]
    assert list(store.read(van.id, end, end + timedelta(hours=1), 3)) == []


def test_windows_read_each_fix_once_and_get_the_same_tracks(org_a, table_reads, monkeypatch):
    van = make_device(org_a)
    Position.objects.bulk_create(
        Position(
            device=van,
            fix_time=T0 + timedelta(minutes=20 * i),
            latitude=60,
            longitude=25,
            speed=i % 5,
            attributes={"ignition": i % 2 == 0, "odometer_m": 1000 + i},
        )
        for i in range(3 * 72)
    )
    reads = table_reads
    margin = timedelta(hours=6)
    windows = list(ranges.iter_tracks(van.id, T0, T0 + timedelta(days=3), margin=margin))

    # Past days: each UTC day read from the positions table once, whole (and archived); never twice.
    assert reads[0][0] <= T0 - margin and reads[-1][1] >= T0 + timedelta(days=3) + margin
    assert all(a[1] <= b[0] for a, b in zip(reads, reads[1:], strict=False))
    assert all(lo.hour == lo.minute == 0 == hi.hour == hi.minute for lo, hi in reads)
    monkeypatch.undo()
    for win_start, win_end, track in windows:
        fresh = Track.concat(list(store.read(van.id, win_start - margin, win_end + margin)))
        assert len(track) == len(fresh) > 0
        assert_same([track], [fresh])


def test_load_points_gives_the_valid_fixes_of_a_range_as_arrays(org_a):
    van, other = make_device(org_a, "Van 1"), make_device(org_a, "Van 2")
    for minute, valid, altitude in [(0, True, 12.5), (1, False, 13.0), (2, True, None), (3, True, 14.0)]:
        Position.objects.create(
            device=van,
            fix_time=T0 + timedelta(minutes=minute, microseconds=250_001),
            latitude=60 + minute / 100,
            longitude=25.0,
            speed=10.0 * minute,
            valid=valid,
            altitude=altitude,
        )
    Position.objects.create(device=other, fix_time=T0, latitude=1, longitude=2)

    points = store.points(van.id, T0, T0 + timedelta(minutes=3))  # half-open: minute 3 is out

    assert sorted(points) == ["altitude", "lat", "lon", "speed", "t"]
    assert points["t"].tolist() == [(T0 + timedelta(minutes=m, microseconds=250_001)).timestamp() for m in (0, 2)]
    assert points["lat"].tolist() == [60.0, 60.02] and points["lon"].tolist() == [25.0, 25.0]
    assert points["speed"].tolist() == [0.0, 20.0]
    assert points["altitude"][0] == 12.5 and np.isnan(points["altitude"][1])
    assert store.points(van.id, T0 + timedelta(hours=1), T0 + timedelta(hours=2))["t"].shape == (0,)
    valid = Position.objects.filter(device=van, fix_time__lt=T0 + timedelta(minutes=3), valid=True).order_by("fix_time")
    np.testing.assert_array_equal(points["t"], [p.fix_time.timestamp() for p in valid])


def test_load_points_over_spans_keeps_every_fix_inside_them(org_a):
    van = make_device(org_a, "Van 1")
    Position.objects.bulk_create(
        Position(device=van, fix_time=T0 + timedelta(minutes=m), latitude=60 + m / 1000, longitude=25.0, speed=m)
        for m in range(60)
    )
    minute = timedelta(minutes=1)
    spans = [(T0 + 5 * minute, T0 + 10 * minute), (T0 + 30 * minute, T0 + 31 * minute)]
    whole = store.points(van.id, T0, T0 + timedelta(hours=1))
    narrowed = store.points(van.id, T0, T0 + timedelta(hours=1), spans)

    def inside(points):
        keep = np.zeros(len(points["t"]), dtype=bool)
        for a, b in spans:
            keep |= (points["t"] >= a.timestamp()) & (points["t"] < b.timestamp())
        return {name: values[keep].tolist() for name, values in points.items() if name != "altitude"}  # NaN != NaN

    assert inside(narrowed) == inside(whole)
    assert inside(whole)["speed"] == [5, 6, 7, 8, 9, 30]
    if connection.vendor == "postgresql":  # narrowed in SQL; elsewhere the whole range comes back
        # (closed days come whole from the archive; the positions table's reader narrows in SQL)
        narrowed = store.table_points(van.id, T0, T0 + timedelta(hours=1), spans)
        assert narrowed["speed"].tolist() == [5, 6, 7, 8, 9, 30]
