"""The archive of closed days: what it stores equals what the positions table gives, it is filled by reading,
and no change to a closed day's positions (ingest, ORM, delete, update) ever lets a stale day be used."""

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from fleet.tracking import ingest, store, tasks
from fleet.tracking.models import Position, TrackDay
from fleet.tracking.records import PositionRecord
from fleet.tracking.store import archive
from fleet.tracking.track import FLOAT_FIELDS, Track
from tests.conftest import make_device

DAY1 = datetime(2026, 11, 20, tzinfo=UTC)  # closed days: the database's clock is past them
DAY2 = DAY1 + timedelta(days=1)


def fixes(van, start: datetime, n: int, every_s: int = 600, **attributes) -> None:
    Position.objects.bulk_create(
        Position(
            device=van,
            fix_time=start + timedelta(seconds=every_s * i, microseconds=7),
            latitude=60 + i / 1e4,
            longitude=25 - i / 1e4,
            speed=float(i % 40),
            altitude=None if i % 4 else 12.5 + i,
            valid=i % 9 != 4,
            attributes={"ignition": i % 3 != 0, "odometer_m": 1000 * i, **attributes},
        )
        for i in range(n)
    )


def table(van, lo: datetime, hi: datetime) -> Track:
    """The same fixes straight from the positions table."""
    return Track.concat(list(store.read(van.id, lo, hi)))


def assert_same(a: Track, b: Track) -> None:
    assert len(a) == len(b)
    for name in FLOAT_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.valid, b.valid)


def row(van, day: datetime) -> TrackDay:
    return TrackDay.objects.get(device_id=van.id, day=day.date())


def test_encoding_keeps_every_value_bit_for_bit():
    t = np.array([1.7e9 + 0.000007, 1.7e9 + 5.123456, 1.7e9 + 3600.5])
    track = Track(
        t=t,
        lat=[60.123456789, 60.2, -33.9],
        lon=[24.9, 25.0, 151.2],
        speed=[0, np.nan, 88.25],
        ignition=[1, 0, np.nan],
        odometer=[np.nan, 1e15 + 1, 3],
        valid=[True, False, True],
        altitude=[np.nan, -4.5, 1e4],
    )
    assert_same(archive.decode(archive.encode(track)), track)
    assert len(archive.decode(archive.encode(Track.empty()))) == 0
    with pytest.raises(ValueError):
        archive.decode(b"nonsense")


@pytest.mark.django_db
def test_a_closed_day_is_read_once_then_served_from_the_archive(org_a, table_reads):
    van = make_device(org_a)
    fixes(van, DAY1 + timedelta(hours=1), 100)
    expected = table(van, DAY1, DAY2)
    reads = table_reads
    reads.clear()  # from here on

    first = store.window(van.id, DAY1 + timedelta(hours=2), DAY2)
    assert reads == [(DAY1, DAY2)]  # the whole UTC day, once
    archived = row(van, DAY1)  # the bulk insert raised its version (once on PostgreSQL, per row on SQLite)
    assert archived.count == 100 and archived.built_version == archived.version > 0
    again = store.window(van.id, DAY1, DAY2)
    assert reads == [(DAY1, DAY2)]  # not read again
    assert_same(again, expected)
    assert_same(first, expected.between((DAY1 + timedelta(hours=2)).timestamp(), DAY2.timestamp()))
    assert again.altitude[0] == 12.5 and np.isnan(again.altitude[1])


@pytest.mark.django_db
def test_today_is_read_from_the_positions_table_and_never_archived(org_a, table_reads):
    van = make_device(org_a)
    today = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    now = datetime.now(UTC)
    fixes(van, min(today + timedelta(minutes=1), now - timedelta(minutes=10)), 3, every_s=60)
    reads = table_reads
    reads.clear()  # from here on
    assert len(store.window(van.id, today - timedelta(days=3), now + timedelta(hours=1))) == 3
    assert reads[-1][1] == now + timedelta(hours=1)
    # today's fixes dated more than archive.SETTLE ago have a version (below), never an archived day
    assert not TrackDay.objects.filter(device_id=van.id, day=today.date(), built_version__isnull=False).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["ingest", "orm insert", "delete", "update"])
def test_any_change_to_an_archived_day_makes_it_read_again(org_a, table_reads, change):
    van = make_device(org_a)
    fixes(van, DAY1 + timedelta(hours=1), 50)
    store.window(van.id, DAY1, DAY2)  # archived
    before = row(van, DAY1).version
    assert row(van, DAY1).built_version == before
    late = DAY1 + timedelta(hours=20)
    if change == "ingest":
        result = ingest.positions(org_a.pk, None, [PositionRecord(str(van.pk), late, 61.0, 26.0, speed=50.0)])
        assert result.created == 1
    elif change == "orm insert":
        Position.objects.create(device=van, fix_time=late, latitude=61.0, longitude=26.0, speed=50.0)
    elif change == "delete":
        Position.objects.filter(device=van, fix_time__lt=DAY1 + timedelta(hours=2)).delete()
    else:
        Position.objects.filter(device=van, fix_time__lt=DAY1 + timedelta(hours=2)).update(speed=99.0)
    assert row(van, DAY1).version > before == row(van, DAY1).built_version  # out of date

    reads = table_reads
    reads.clear()  # from here on
    track = store.window(van.id, DAY1, DAY2)
    assert reads == [(DAY1, DAY2)]
    assert_same(track, table(van, DAY1, DAY2))
    assert row(van, DAY1).built_version == row(van, DAY1).version


@pytest.mark.django_db
def test_live_fixes_of_today_leave_the_archive_alone(org_a):
    van = make_device(org_a)
    now = datetime.now(UTC).replace(microsecond=0)
    ingest.positions(org_a.pk, None, [PositionRecord(str(van.pk), now - timedelta(seconds=s), 60, 25) for s in (1, 2)])
    assert not TrackDay.objects.filter(device_id=van.id).exists()


@pytest.mark.django_db
def test_a_fix_dated_before_the_settled_bound_raises_its_days_version_a_later_one_does_not(org_a):
    """The triggers' bound is ``archive.settled_until``: the later of the current UTC day's start and SETTLE
    ago. A fix dated 30 s before it raises its day's version (today's too), one dated 30 s after it does not."""
    van = make_device(org_a)
    settled = archive.settled_until(store.backend().now())
    after = settled + timedelta(seconds=30)
    ingest.positions(org_a.pk, None, [PositionRecord(str(van.pk), after, 60, 25)])
    assert not TrackDay.objects.filter(device_id=van.id).exists()
    late = settled - timedelta(seconds=30)
    assert ingest.positions(org_a.pk, None, [PositionRecord(str(van.pk), late, 60, 25)]).created == 1
    day = TrackDay.objects.get(device_id=van.id)
    assert (day.day, day.version, day.built_version, day.first_change) == (late.date(), 1, None, late)
    versions = []
    for change in (lambda fix: fix.update(speed=5.0), lambda fix: fix.delete()):
        change(Position.objects.filter(device=van, fix_time=late))
        versions.append(TrackDay.objects.get(device_id=van.id).version)
    assert 1 < versions[0] < versions[1]  # (SQLite's row triggers raise an update twice: old and new row)
    assert Position.objects.filter(device=van).count() == 1  # the later fix, which raised nothing


@pytest.mark.django_db
def test_a_day_built_from_positions_that_changed_meanwhile_is_not_kept(org_a, monkeypatch):
    """The loader reads the version, then the positions; a fix that lands in between must not be lost in an
    archive that claims to be current."""
    van = make_device(org_a)
    fixes(van, DAY1 + timedelta(hours=1), 10)
    real = store.read

    def read_then_change(device_id, start, end, chunk=store.DEFAULT_CHUNK):
        chunks = list(real(device_id, start, end, chunk))  # what the archive will hold
        Position.objects.create(device=van, fix_time=DAY1 + timedelta(hours=23), latitude=61, longitude=26)
        return iter(chunks)

    monkeypatch.setattr(store, "read", read_then_change)
    assert len(store.window(van.id, DAY1, DAY2)) == 10
    monkeypatch.undo()
    assert row(van, DAY1).built_version != row(van, DAY1).version
    assert len(store.window(van.id, DAY1, DAY2)) == 11


@pytest.mark.django_db
def test_map_points_come_from_the_archive_and_the_table_alike(org_a):
    van = make_device(org_a)
    fixes(van, DAY1 + timedelta(hours=1), 30)
    spans = [(DAY1 + timedelta(hours=2), DAY1 + timedelta(hours=4))]
    from_table = store.table_points(van.id, DAY1, DAY2, spans)
    archived = store.points(van.id, DAY1, DAY2, spans)
    cut = (from_table["t"] >= spans[0][0].timestamp()) & (from_table["t"] < spans[0][1].timestamp())
    keep = (archived["t"] >= spans[0][0].timestamp()) & (archived["t"] < spans[0][1].timestamp())
    for name in store.POINT_FIELDS:
        np.testing.assert_array_equal(archived[name][keep], from_table[name][cut], err_msg=name)
    assert keep.sum() == 11  # every 10 min over two hours, the invalid one left out


@pytest.mark.django_db
def test_counts_come_from_archived_days_and_the_table_for_the_rest(org_a):
    van, other = make_device(org_a, "Van"), make_device(org_a, "Other")
    fixes(van, DAY1 + timedelta(hours=1), 100)
    fixes(van, DAY2 + timedelta(hours=1), 40)
    fixes(other, DAY1 + timedelta(hours=1), 7)
    store.window(van.id, DAY1, DAY2)  # only day 1 archived
    known, spans = archive.count([van.id, other.id], DAY1, DAY2 + timedelta(days=1))
    assert known == 100 and (van.id, DAY2, DAY2 + timedelta(days=1)) in spans
    assert (other.id, DAY1, DAY2 + timedelta(days=1)) in spans
    assert store.count([van.id, other.id], DAY1, DAY2 + timedelta(days=1), 10_000) == 147
    # from 05:00: the van's 24 fixes of 01:00-04:50 and the other's seven of 01:00-02:00 are out
    assert store.count([van.id, other.id], DAY1 + timedelta(hours=5), DAY2 + timedelta(days=1), 10_000) == 116


@pytest.mark.django_db
def test_the_command_fills_the_archive_and_prune_drops_deleted_devices_and_expired_days(org_a, settings):
    van = make_device(org_a)
    fixes(van, DAY1 + timedelta(hours=1), 20)
    fixes(van, DAY2 + timedelta(hours=1), 20)
    out = io.StringIO()
    call_command("archive_positions", "--days", str((datetime.now(UTC) - DAY1).days + 1), stdout=out)
    assert "device-days archived" in out.getvalue()
    assert row(van, DAY1).count == 20 and row(van, DAY2).count == 20
    assert row(van, DAY2 + timedelta(days=1)).count == 0  # an empty day is archived too: nothing to read
    assert archive.archive_days(van.id, store.table_reader(van.id), DAY1.date(), DAY2.date()) == 0

    settings.POSITION_RETENTION_DAYS = (datetime.now(UTC).date() - DAY2.date()).days  # keeps day 2 on
    archive.prune_expired()
    assert not TrackDay.objects.filter(device_id=van.id, day=DAY1.date()).exists()
    assert TrackDay.objects.filter(device_id=van.id, day=DAY2.date()).exists()
    van.delete()  # the positions go by cascade; the triggers touch its days once more
    archive.prune_expired()
    assert not TrackDay.objects.filter(device_id=van.id).exists()


@pytest.mark.django_db
def test_the_daily_task_archives_what_no_report_read_and_then_finds_nothing_to_do(org_a, org_b):
    vans = [make_device(org_a, "Van"), make_device(org_b, "Van B")]
    for van in vans:
        fixes(van, DAY1 + timedelta(hours=1), 12)
    days = (datetime.now(UTC).date() - DAY1.date()).days  # from DAY1 to yesterday
    closed = archive.utc_days(DAY1, archive.closed_until())  # yesterday only from 01:00 UTC on
    assert tasks.archive_closed_days(days) == 2 * len(closed)  # every closed day of both devices, empty ones too
    assert {row(van, DAY1).count for van in vans} == {12}
    assert tasks.archive_closed_days(days) == 0
    Position.objects.create(device=vans[1], fix_time=DAY1 + timedelta(hours=5), latitude=60, longitude=25)
    assert tasks.archive_closed_days(days) == 1 and row(vans[1], DAY1).count == 13
    with pytest.raises(CommandError):
        call_command("archive_positions", "--org", "nope")


@pytest.mark.django_db
def test_a_database_that_refuses_the_write_still_gives_the_report(org_a, monkeypatch):
    van = make_device(org_a)
    fixes(van, DAY1 + timedelta(hours=1), 10)
    monkeypatch.setattr(archive, "_STORE", "INSERT INTO no_such_table VALUES (%s, %s, %s, %s, %s, %s)")
    assert len(store.window(van.id, DAY1, DAY2)) == 10
    assert not TrackDay.objects.filter(device_id=van.id, data__isnull=False).exists()
    with connection.cursor() as cursor:  # the transaction is still usable
        cursor.execute("SELECT 1")
