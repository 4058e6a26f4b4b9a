"""The closed-day cache: the same results as computing them, from the cache on closed days, never stale."""

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as default_cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.reports import cache, ranges
from fleet.reports.engine import Params
from fleet.tracking import store
from fleet.tracking.models import Position
from fleet.tracking.store import archive
from tests.conftest import make_device

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
TZ = "Europe/Helsinki"  # UTC+2 in November: local midnight is 22:00 UTC
# Local days 2026-11-20 .. 2026-11-22 in Helsinki, all long over (the fixture clock is 2026-11-30 noon).
START = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
END = START + timedelta(days=3)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r4-cache"}}
    default_cache.clear()
    yield
    default_cache.clear()


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(cache, "_now", lambda: NOW)


@pytest.fixture
def loads(monkeypatch):
    """How many windows were computed (cache misses, and the loader's own windows)."""
    calls = []
    real = ranges.compute_window

    def counting(reader, params, win_start, win_end, tz=None, margin=ranges.DEFAULT_MARGIN):
        calls.append((win_start, win_end))
        return real(reader, params, win_start, win_end, tz, margin)

    monkeypatch.setattr(ranges, "compute_window", counting)
    return calls


def drive(van, start: datetime, minutes: int, speed: float = 36.0, lat: float = 60.0) -> float:
    """A parked fix 10 min before ``start``, fixes every minute at ``speed`` km/h northwards from ``lat``, then
    parked fixes for an hour; returns where it parked."""
    fixes, clock = [(start - timedelta(minutes=10), lat, 0.0)], start
    step = speed / 60 * 1000 / M_PER_DEG  # degrees per minute
    for _ in range(minutes):
        fixes.append((clock, lat, speed))
        lat += step
        clock += timedelta(minutes=1)
    for _ in range(7):
        fixes.append((clock, lat, 0.0))
        clock += timedelta(minutes=10)
    Position.objects.bulk_create(
        Position(device=van, fix_time=ts, latitude=la, longitude=25.0, speed=v, attributes={"ignition": v > 0})
        for ts, la, v in fixes
    )
    return lat


def week_of_driving(van) -> None:
    """Day 1: a 30-min drive at 10:00 local; across the first midnight (23:40-00:20 local) a 40-min drive;
    day 3: a 20-min drive at 14:00 local."""
    lat = drive(van, datetime(2026, 11, 20, 8, 0, tzinfo=UTC), 30)
    lat = drive(van, datetime(2026, 11, 20, 21, 40, tzinfo=UTC), 40, lat=lat)
    drive(van, datetime(2026, 11, 22, 12, 0, tzinfo=UTC), 20, lat=lat)


def cached(van, params, start=START, end=END, capture=None):
    with capture(execute=True):
        return cache.detect_range_cached(van.id, params, start, end, TZ)


def test_it_returns_what_detect_range_returns_cold_and_warm(
    org_a, frozen_now, loads, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    expected = ranges.detect_range(van.id, params, START, END, tz=TZ)
    loads.clear()

    cold = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert len(loads) == 3  # three closed days, each loaded once
    warm = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert len(loads) == 3  # nothing loaded the second time

    assert cold == expected and warm == expected
    trips, _, rows, _ = warm
    assert [round(t.distance_m) for t in trips] == [18_000, 24_000, 12_000]  # 36 km/h for 30, 40, 20 min
    assert [r.trips for r in rows] == [2, 0, 1]  # the midnight trip counts on the day it began
    assert [r.driving_s for r in rows] == [1800 + 1200, 1200, 1200]


def test_a_warm_day_costs_one_probe_and_one_stamp_query(
    org_a, frozen_now, django_capture_on_commit_callbacks, django_assert_num_queries
):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    cached(van, params, capture=django_capture_on_commit_callbacks)
    # No position rows: one query for the fixes around every day (store.around: what each day reads), then
    # the closed days' archive versions (one query; on PostgreSQL one more for its clock).
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 2):
        cached(van, params, capture=django_capture_on_commit_callbacks)


@pytest.mark.django_db
def test_the_stamps_of_many_windows_equal_their_one_by_one_stamps(org_a):
    van = make_device(org_a)
    week_of_driving(van)
    hour = timedelta(hours=1)
    windows = [
        (START - 6 * hour, START + 30 * hour),
        (START + 18 * hour, START + 54 * hour),
        (START + 100 * hour, START + 101 * hour),
        (START - 50 * hour, START - 40 * hour),
    ]
    batched = store.backend().data_stamps_many([(van.id, lo, hi) for lo, hi in windows])
    stamps = [tuple(store._plain(v) for v in stamp) for stamp in batched]
    assert stamps == [store.data_stamp(van.id, lo, hi) for lo, hi in windows]
    assert stamps[0][0] > 0 and stamps[3] == (0, None, None, None, None)


@pytest.mark.django_db
def test_a_window_ending_in_todays_settled_part_is_stamped_by_versions_that_a_late_fix_raises(org_a):
    """A window that ends before ``archive.settled_until`` (today's included) is stamped by its days' versions
    alone, no aggregate over its fixes; a late fix into it changes the stamp. A window still open has a data
    stamp."""
    van = make_device(org_a)
    settled = archive.settled_until(store.backend().now())
    settled_window = (settled - timedelta(hours=30), settled - timedelta(minutes=1))
    open_window = (settled - timedelta(hours=1), settled + timedelta(hours=1))
    Position.objects.create(device=van, fix_time=settled - timedelta(hours=2), latitude=60, longitude=25)
    before, still_open = store.stamps(van.id, [settled_window, open_window])
    raised = (settled - timedelta(hours=2)).date()  # the fix's day: its version is 1, the others' 0
    days = archive.utc_days(*settled_window)
    versions = tuple((day.toordinal(), int(day == raised)) for day in days)
    assert before == (versions, None, settled_window[0].timestamp(), settled_window[1].timestamp())
    assert len(still_open[1]) == len(store.STAMP_FIELDS)  # count, max id, ... of its part after the archive
    Position.objects.create(device=van, fix_time=settled - timedelta(minutes=5), latitude=60.1, longitude=25)
    after, _ = store.stamps(van.id, [settled_window, open_window])
    assert after[1] is None and after != before


@pytest.mark.django_db
def test_a_late_fix_after_a_settled_windows_end_leaves_its_stamp_one_before_its_end_changes_it(org_a):
    """Versions are per UTC day, but each day keeps the earliest fix time a change touched (``first_change``):
    a late fix dated after a window's end leaves its stamp alone, one dated inside it changes it."""
    van = make_device(org_a)
    settled = archive.settled_until(store.backend().now())
    window = [(settled - timedelta(hours=3), settled - timedelta(hours=1))]
    (before,) = store.stamps(van.id, window)
    Position.objects.create(device=van, fix_time=settled - timedelta(minutes=30), latitude=60, longitude=25)
    assert store.stamps(van.id, window) == [before]  # a day's version raised, by a fix after the window
    Position.objects.create(device=van, fix_time=settled - timedelta(hours=2), latitude=60, longitude=25)
    (after,) = store.stamps(van.id, window)
    assert after != before and after[1] is None


@pytest.mark.django_db
def test_a_settled_windows_stamp_changes_when_a_fix_appears_after_it_without_raising_a_version(org_a):
    """A day is read up to the first fix after its margin. A fix that arrived while it was fresh (dated
    minutes ago: no version raised) and is settled by now moves what the day reads: the stamp changes with the
    read's bounds though the versions do not."""
    from fleet.tracking.models import TrackDay

    van = make_device(org_a)
    settled = archive.settled_until(store.backend().now())
    Position.objects.create(device=van, fix_time=settled - timedelta(hours=4), latitude=60, longitude=25)
    window = [(settled - timedelta(hours=5), settled - timedelta(hours=2))]
    (before,) = store.stamps(van.id, store.around(van.id, window))
    versions = dict(TrackDay.objects.filter(device_id=van.id).values_list("day", "version"))
    Position.objects.create(device=van, fix_time=settled - timedelta(hours=1), latitude=60.2, longitude=25)
    for day, version in versions.items():  # as it was before the fix: the fix came in fresh, raising nothing
        TrackDay.objects.filter(device_id=van.id, day=day).update(version=version)
    TrackDay.objects.filter(device_id=van.id).exclude(day__in=list(versions)).delete()
    (after,) = store.stamps(van.id, store.around(van.id, window))
    assert before[1] is None and after[1] is None  # both settled: versions, no data stamp
    assert after[0] == before[0] and after[3] > before[3]  # the same versions, a later end of the read


def test_a_position_inserted_into_a_closed_day_is_never_served_stale(
    org_a, frozen_now, loads, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    before = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert [r.trips for r in before[2]] == [2, 0, 1]

    # A buffered upload arrives late: a 15-minute drive on day 2 (local), which had no trip of its own.
    drive(van, datetime(2026, 11, 21, 9, 0, tzinfo=UTC), 15, lat=61.0)
    loads.clear()
    after = cached(van, params, capture=django_capture_on_commit_callbacks)

    assert after == ranges.detect_range(van.id, params, START, END, tz=TZ)
    assert [r.trips for r in after[2]] == [2, 1, 1]
    # Day 2: the midnight trip's second half (12 km) and the late 15 min at 36 km/h (9 km).
    assert after[2][1].distance_m == pytest.approx(12_000 + 9_000)
    # Recomputed: the days whose windows (each local day with 6 h margins) touch the changed UTC day, 2026-11-21:
    # all three here (then the loader's own three days).
    assert len(loads) == 3 + 3


def test_a_deleted_position_and_a_change_in_the_margin_invalidate_the_day(
    org_a, frozen_now, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    cached(van, params, capture=django_capture_on_commit_callbacks)

    # The day-3 drive's arrival fix (12:20) goes: the trip now ends at the next parked fix, 12:30.
    Position.objects.filter(device=van, fix_time=datetime(2026, 11, 22, 12, 20, tzinfo=UTC)).delete()
    trips, _, _, _ = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert trips[-1].duration_s == 30 * 60

    # Fixes 1-5 h after day 3 ended only lie in its margin: the day is recomputed and sees them. They are
    # 170 km from where the van parked (its stop ends at its last fix there, 13:20): the silence after it is
    # now a move without data, cut by the day's end.
    before = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert before.stops[-1].end_time == datetime(2026, 11, 22, 13, 20, tzinfo=UTC) and before.gaps == []
    drive(van, datetime(2026, 11, 23, 0, 0, tzinfo=UTC), 10, lat=62.0)
    again = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert again == ranges.detect_range(van.id, params, START, END, tz=TZ)
    assert again.stops[-1].end_time == datetime(2026, 11, 22, 13, 20, tzinfo=UTC)
    (gap,) = again.gaps
    assert gap.start_time == datetime(2026, 11, 22, 13, 20, tzinfo=UTC) and gap.end_time == END and gap.clipped_end


def test_a_fix_beyond_the_margin_that_a_day_reads_invalidates_it(org_a, frozen_now, django_capture_on_commit_callbacks):
    # Day 3 ends parked and nothing follows: it reads on to no fix. A fix two days later, far away, becomes
    # the fix after it: the silence across which the vehicle moved is no data, no longer a stop to the end.
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    first = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert first.gaps == []
    Position.objects.create(
        device=van, fix_time=END + timedelta(days=2), latitude=63.0, longitude=25.0, speed=0.0, attributes={}
    )
    again = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert again == ranges.detect_range(van.id, params, START, END, tz=TZ)
    (gap,) = again.gaps
    assert gap.clipped_end and gap.end_time == END and gap.distance_m > 0


def test_other_params_are_another_entry(org_a, frozen_now, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    week_of_driving(van)
    cached(van, Params.for_org(org_a), capture=django_capture_on_commit_callbacks)
    strict = Params(min_trip_duration_s=25 * 60)  # the 20-min day-3 drive is no trip under these params
    trips, _, rows, _ = cached(van, strict, capture=django_capture_on_commit_callbacks)
    assert [round(t.duration_s / 60) for t in trips] == [30, 40]
    assert [r.trips for r in rows] == [2, 0, 0]


def test_today_and_partial_days_are_not_cached(org_a, frozen_now, loads, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    # From noon on day 1 to the end of day 2: day 1 is partial, only day 2 is a whole closed day.
    noon = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    cached(van, params, noon, START + timedelta(days=2), capture=django_capture_on_commit_callbacks)
    cached(van, params, noon, START + timedelta(days=2), capture=django_capture_on_commit_callbacks)
    assert len(loads) == 2 + 1  # day 1 twice, day 2 once

    loads.clear()
    today = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)  # local 2026-11-30, still running at NOW
    cached(van, params, today, today + timedelta(days=1), capture=django_capture_on_commit_callbacks)
    cached(van, params, today, today + timedelta(days=1), capture=django_capture_on_commit_callbacks)
    assert len(loads) == 2


def test_a_result_read_inside_a_rolled_back_transaction_is_not_cached(
    org_a, frozen_now, loads, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        cache.detect_range_cached(van.id, params, START, END, TZ)
    assert len(callbacks) == 3  # waiting for a commit that, in a test, never comes
    loads.clear()
    cached(van, params, capture=django_capture_on_commit_callbacks)
    assert len(loads) == 3


def test_a_broken_cache_costs_speed_not_the_report(
    org_a, frozen_now, settings, monkeypatch, django_capture_on_commit_callbacks
):
    nobody = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    settings.CACHES = {**settings.CACHES, "down": nobody}
    monkeypatch.setattr(cache, "CACHE_ALIAS", "down")
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    result = cached(van, params, capture=django_capture_on_commit_callbacks)
    assert result == ranges.detect_range(van.id, params, START, END, tz=TZ)


def test_without_a_timezone_it_is_detect_range(org_a, loads):
    van = make_device(org_a)
    week_of_driving(van)
    params = Params.for_org(org_a)
    assert cache.detect_range_cached(van.id, params, START, END) == ranges.detect_range(van.id, params, START, END)


def test_the_hourly_warm_up_caches_yesterday_for_every_device(
    org_a, frozen_now, loads, django_capture_on_commit_callbacks
):
    org_a.timezone = TZ
    org_a.save()
    van, idle = make_device(org_a, "Van"), make_device(org_a, "Idle van")
    week_of_driving(van)
    van.last_fix_time = datetime(2026, 11, 22, 12, 20, tzinfo=UTC)
    van.save()
    idle.last_fix_time = datetime(2026, 11, 1, tzinfo=UTC)  # silent for weeks: a day of no data, cached too
    idle.save()
    morning = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 08:00 in Helsinki: yesterday is 2026-11-22
    with django_capture_on_commit_callbacks(execute=True):
        assert cache.warm_yesterday(org_a, now=morning) == 2
    assert len(loads) == 2  # each van's one day
    loads.clear()

    day = (START + timedelta(days=2), START + timedelta(days=3))  # local 2026-11-22
    warm = cached(van, Params.for_org(org_a), *day, capture=django_capture_on_commit_callbacks)
    assert loads == []  # served from the cache the warm-up filled
    assert warm == ranges.detect_range(van.id, Params.for_org(org_a), *day, tz=TZ)
    assert [r.trips for r in warm[2]] == [1]
    # and the whole fleet's rows of that day in one row: the summary of "All devices" (by name) reads that
    from fleet.reports.models import FleetRows

    assert FleetRows.objects.count() == 1
    fleet = cache.CachedRange.many([idle.pk, van.pk], Params.for_org(org_a), *day, TZ, rows_only=True)
    assert [p.rows() for p in fleet] == [p.known_rows for p in fleet] and None not in [p.known_rows for p in fleet]
    assert fleet[1].known_rows == warm[2]

    # The next runs compute only what the cache lacks: nothing, then the day a late fix changed.
    loads.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert cache.warm_yesterday(org_a, now=morning + timedelta(hours=1)) == 0
    assert loads == []
    Position.objects.create(device=van, fix_time=day[0] + timedelta(hours=20), latitude=60, longitude=25)
    with django_capture_on_commit_callbacks(execute=True):
        assert cache.warm_yesterday(org_a, now=morning + timedelta(hours=2)) == 1
    assert loads == [day]


def test_many_devices_planned_together_get_the_keys_entries_and_results_of_each_alone(
    org_a, django_capture_on_commit_callbacks
):
    """Batched = per device: fixes across midnights and into today (the part after the archive), one device's
    days archived, one cached and then changed, one without fixes."""
    zone = ZoneInfo(TZ)
    today = datetime.now(zone).date()
    end = datetime.combine(today, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    start = end - timedelta(days=3)
    vans = [make_device(org_a, f"Van {i}") for i in range(4)]
    for i, van in enumerate(vans[:3]):
        lat = drive(van, start + timedelta(hours=8 + i), 30)
        lat = drive(van, start + timedelta(hours=23, minutes=40), 40, lat=lat)  # across the first midnight
        drive(van, end - timedelta(minutes=20), 40, lat=lat)  # across the last one, into today
    store.window(vans[1].id, start - timedelta(days=1), end)  # Van 1's closed UTC days archived
    params, ids = Params.for_org(org_a), [van.id for van in vans]
    for van in (vans[0], vans[2]):
        cached(van, params, start, end, capture=django_capture_on_commit_callbacks)
    Position.objects.create(device=vans[2], fix_time=start + timedelta(hours=30), latitude=61, longitude=25)

    margin = ranges.DEFAULT_MARGIN
    spans = [(a - margin, b + margin) for a, b, _ in cache._day_windows(start, end, TZ)]
    assert store.around_many(ids, spans) == {i: store.around(i, spans) for i in ids}
    reads = {i: store.around(i, spans) for i in ids}
    assert store.stamps_many(reads) == {i: store.stamps(i, reads[i]) for i in ids}

    many = cache.CachedRange.many(ids, params, start, end, TZ)
    alone = [cache.CachedRange(i, params, start, end, TZ) for i in ids]
    assert [m.keys for m in many] == [a.keys for a in alone]
    assert [m.hits for m in many] == [a.hits for a in alone]
    assert [m.closed_misses for m in many] == [0, 3, 3, 3]  # Van 2's change: its UTC day is read by all three
    expected = [ranges.detect_range(i, params, start, end, tz=TZ) for i in ids]
    with django_capture_on_commit_callbacks(execute=True):
        assert [m.result() for m in many] == expected
    again = cache.CachedRange.many(ids, params, start, end, TZ)
    assert [m.closed_misses for m in again] == [0, 0, 0, 0]
    assert [m.rows() for m in again] == [result.rows for result in expected]  # the summary's cheaper decoding

    with CaptureQueriesContext(connection) as one:
        cache.CachedRange.many(ids[:1], params, start, end, TZ)
    with CaptureQueriesContext(connection) as four:
        cache.CachedRange.many(ids, params, start, end, TZ)
    assert len(four) == len(one) <= 4  # around, the archive versions, the data stamps (and PostgreSQL's clock)


def test_a_page_plans_the_fleets_days_once_for_its_question_and_its_report(org_a, frozen_now, monkeypatch):
    """The summary page first asks whether the fleet's report fits the request (``jobs.should_run_in_background``
    plans every device's days through the cache), then builds it: inside ``reuse_plans`` the second plan is the
    first, outside it each call plans again."""
    from fleet.reports import jobs

    vans = [make_device(org_a, name=f"Van {k}") for k in range(3)]
    for van in vans:
        week_of_driving(van)
    stamps, real = [], store.stamps_many
    monkeypatch.setattr(store, "stamps_many", lambda reads: stamps.append(len(reads)) or real(reads))
    params = Params.for_org(org_a)
    with cache.reuse_plans():
        jobs.should_run_in_background(org_a, vans, START, END, "summary")
        first = cache.CachedRange.many([v.pk for v in vans], params, START, END, org_a.timezone, rows_only=True)
        again = cache.CachedRange.many([v.pk for v in vans], params, START, END, org_a.timezone, rows_only=True)
        other = cache.CachedRange.many([vans[0].pk], params, START, END, org_a.timezone)  # other devices: planned
    assert first is again and stamps == [3, 1]
    cache.CachedRange.many([v.pk for v in vans], params, START, END, org_a.timezone)
    assert stamps == [3, 1, 3] and len(other) == 1


def test_a_fleets_rows_come_from_one_entry_and_a_changed_device_is_read_again(
    org_a, frozen_now, loads, monkeypatch, django_capture_on_commit_callbacks
):
    """The summary's plan (``rows_only``) reads the fleet's rows entry (a database row) first: after one
    summary, the next reads that row alone (no day entry from the cache, nothing computed), even after the
    cache lost everything; a fix added to one device's day changes that device's day key, so its days alone
    are read (and computed) again, and every row equals the engine's."""
    from fleet.reports.kinds.summary import summary_report
    from fleet.reports.models import FleetRows

    org_a.timezone = TZ  # the report's local days are START's
    org_a.save()
    vans = [make_device(org_a, name=f"Van {k}") for k in range(3)]
    for van in vans:
        week_of_driving(van)
    reads = []
    real = cache._get_many
    monkeypatch.setattr(cache, "_get_many", lambda keys: reads.append(len(keys)) or real(keys))
    params, ids = Params.for_org(org_a), [van.pk for van in vans]

    def planned():
        return cache.CachedRange.many(ids, params, START, END, TZ, rows_only=True)

    with django_capture_on_commit_callbacks(execute=True):
        first = summary_report(org_a, vans, START, END)
    assert reads == [9] and len(loads) == 9 and FleetRows.objects.count() == 1  # 3 days of 3 vans computed
    default_cache.clear()  # a Redis restart: the day entries are gone, the fleet's rows are not
    reads.clear(), loads.clear()
    again = planned()
    assert reads == [0] and [len(p.known_rows) for p in again] == [3, 3, 3] and loads == []
    assert not any("keys" in vars(p) for p in again)  # no day key hashed for rows the entry gives
    assert sum(p.closed_misses for p in again) == 0 and [p.to_compute for p in again] == [[], [], []]
    with django_capture_on_commit_callbacks(execute=True):
        assert summary_report(org_a, vans, START, END).tables == first.tables
    assert loads == []

    Position.objects.create(device=vans[1], fix_time=START + timedelta(hours=30), latitude=61, longitude=25)
    reads.clear()
    changed = planned()
    assert [p.known_rows is None for p in changed] == [False, True, False] and reads == [3]
    assert ["keys" in vars(p) for p in changed] == [False, True, False]
    expected = [ranges.detect_range(i, params, START, END, tz=TZ).rows for i in ids]
    assert [p.rows() for p in changed] == expected
    assert changed[1].result() == ranges.detect_range(ids[1], params, START, END, tz=TZ)
    assert changed[0].result() == ranges.detect_range(ids[0], params, START, END, tz=TZ)  # its days read now


@pytest.mark.django_db
def test_fleet_rows_entries_not_written_for_the_cache_timeout_are_pruned(frozen_now):
    from fleet.reports.models import FleetRows
    from fleet.reports.tasks import prune_report_jobs

    FleetRows.objects.create(key="old", data=b"x")
    FleetRows.objects.create(key="new", data=b"y")
    FleetRows.objects.filter(key="old").update(updated=NOW - timedelta(seconds=cache.TIMEOUT + 60))
    FleetRows.objects.filter(key="new").update(updated=NOW - timedelta(seconds=cache.TIMEOUT - 60))
    assert prune_report_jobs() == 1
    assert list(FleetRows.objects.values_list("key", flat=True)) == ["new"]
