from datetime import UTC, datetime, timedelta

import pytest

from fleet.live.broadcast import compact
from fleet.tracking.ingest import Stored
from fleet.tracking.models import Device
from fleet.tracking.records import PositionRecord
from fleet.tracking.state import Rules, device_state, rules_for, state_of_device

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RULES = Rules(speed_threshold_kmh=1.852, stale_after_s=900)


def state(seconds_ago: float | None = 10, valid=True, speed=0.0, ignition=None) -> str:
    fix = None if seconds_ago is None else NOW - timedelta(seconds=seconds_ago)
    return device_state(fix, valid, speed, ignition, NOW, RULES.speed_threshold_kmh, RULES.stale_after_s)


def test_a_device_without_a_fix_has_no_fix():
    assert state(None) == "nofix"


def test_an_invalid_newest_fix_counts_as_no_fix_even_when_moving():
    assert state(valid=False, speed=50.0, ignition=True) == "nofix"


def test_a_fix_older_than_the_stale_line_is_stale_whatever_the_speed():
    assert state(901, speed=80.0, ignition=True) == "stale"
    assert state(899, speed=80.0, ignition=True) == "moving"


def test_speed_above_the_threshold_is_moving():
    assert state(speed=1.9) == "moving"
    assert state(speed=1.852, ignition=True) == "idle"


def test_not_moving_with_ignition_on_is_idle_and_off_or_unknown_is_stopped():
    assert state(speed=0.5, ignition=True) == "idle"
    assert state(speed=0.5, ignition=False) == "stopped"
    assert state(speed=0.5, ignition=None) == "stopped"


def test_epoch_seconds_work_like_datetimes():
    now = NOW.timestamp()
    assert device_state(now - 1000, True, 0.0, None, now, 1.852, 900) == "stale"
    assert device_state(now - 10, True, 5.0, None, now, 1.852, 900) == "moving"


def test_a_device_row_is_judged_by_its_last_fields():
    device = Device(last_fix_time=NOW - timedelta(seconds=30), last_speed=0.0, last_attributes={"ignition": True})
    assert state_of_device(device, NOW, RULES) == "idle"
    assert state_of_device(device, NOW, RULES, valid=False) == "nofix"
    assert state_of_device(Device(), NOW, RULES) == "nofix"


@pytest.mark.django_db
def test_organisation_rules_come_from_the_organisation_and_are_cached(org_a, django_assert_num_queries):
    org_a.speed_threshold_kmh, org_a.stale_after_minutes = 5.0, 2
    org_a.save()
    with django_assert_num_queries(1):
        assert rules_for(org_a.pk) == Rules(5.0, 120.0)
        assert rules_for(org_a.pk) == Rules(5.0, 120.0)


def test_the_broadcast_tuple_carries_the_state_last():
    fix = NOW - timedelta(seconds=5)
    moving = PositionRecord("1", fix, 60.17, 24.94, speed=30.0, course=90.0, attributes={"ignition": True})
    parked = PositionRecord("2", fix, 60.18, 24.95, speed=0.0, attributes={"ignition": False})
    old = PositionRecord("3", NOW - timedelta(hours=1), 60.19, 24.96, speed=0.0)
    tuples = compact([Stored(1, 11, moving), Stored(2, 12, parked), Stored(3, 13, old)], RULES, NOW.timestamp())
    assert tuples == [
        [11, fix.timestamp(), 60.17, 24.94, 30.0, 90.0, True, True, "moving"],
        [12, fix.timestamp(), 60.18, 24.95, 0.0, None, True, False, "stopped"],
        [13, (NOW - timedelta(hours=1)).timestamp(), 60.19, 24.96, 0.0, None, True, None, "stale"],
    ]
