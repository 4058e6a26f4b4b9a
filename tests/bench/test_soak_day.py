"""bench/soak.py keeps a run within one UTC day: its "yesterday" and its retention days are the clock's, so a run
that would cross 00:00 UTC waits for the new day first (the eighth full hour crossed it and failed two checks)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.bench.test_benches import ROOT


@pytest.fixture
def soak(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import soak

    return soak


class Clock:
    def __init__(self, at: datetime) -> None:
        self.t = at.timestamp()
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_a_run_that_ends_before_midnight_starts_at_once(soak):
    clock = Clock(datetime(2026, 12, 7, 22, 0, tzinfo=UTC))
    day = soak.within_one_utc_day(3600 + soak.OVERHEAD_FULL_S, clock.now, clock.sleep)
    assert clock.slept == [] and day.isoformat() == "2026-12-07"


def test_a_run_that_would_cross_midnight_waits_for_the_new_day(soak, capsys):
    clock = Clock(datetime(2026, 12, 7, 23, 50, tzinfo=UTC))
    day = soak.within_one_utc_day(150 + soak.OVERHEAD_QUICK_S, clock.now, clock.sleep)
    assert clock.slept == [11 * 60] and day.isoformat() == "2026-12-08"  # ten minutes to midnight, one after
    assert "would cross 00:00 UTC" in capsys.readouterr().out


def test_the_bound_is_the_whole_run_not_its_loaded_phase(soak):
    # at 22:50 the loaded hour alone would end at 23:50, but with its drain and checks it may not
    clock = Clock(datetime(2026, 12, 7, 22, 50, tzinfo=UTC))
    assert soak.within_one_utc_day(3600 + soak.OVERHEAD_FULL_S, clock.now, clock.sleep).isoformat() == "2026-12-08"
    assert len(clock.slept) == 1 and 70 * 60 < clock.slept[0] < 72 * 60


def test_the_hour_yesterdays_reads_settle_is_the_engines(soak):
    """The soak warns a full run that starts before yesterday's reads settle: that hour is the reports' margin
    after midnight plus the archive's settle time, not a number of its own."""
    from fleet.reports.ranges import DEFAULT_MARGIN
    from fleet.tracking.store.archive import SETTLE

    midnight = datetime(2026, 12, 7, tzinfo=UTC)
    assert datetime.combine(midnight.date(), soak.READS_SETTLED_UTC, UTC) == midnight + DEFAULT_MARGIN + SETTLE


def test_a_full_hour_may_start_once_its_summaries_wait_would_see_the_reads_settle(soak):
    """The summaries wait up to 20 minutes for the reads (the tenth hour started at 05:54:30, warmed up at 06:11
    with none open, and met the goal): a full run is warned only when that wait ends before 06:10."""
    day = datetime(2026, 12, 7, tzinfo=UTC)
    hour = 3600.0
    assert soak.ready_wait_s(hour) == 1200 and soak.ready_wait_s(150) == 50
    assert soak.reads_open_after_wait((day + timedelta(hours=5, minutes=45)).timestamp(), hour)
    assert not soak.reads_open_after_wait((day + timedelta(hours=5, minutes=54, seconds=30)).timestamp(), hour)
    assert not soak.reads_open_after_wait((day + timedelta(hours=14)).timestamp(), hour)
    assert soak.reads_open_after_wait((day + timedelta(hours=1, minutes=49)).timestamp(), hour)  # the ninth attempt
