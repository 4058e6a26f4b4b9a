"""A geofence's active calendar: wall-clock rules across a DST change, exceptions, durations, and plain-word
errors for text that cannot be used."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError

from fleet.geo import calendar
from fleet.geo.models import Geofence

HEL = ZoneInfo("Europe/Helsinki")
WORKDAYS = (
    "BEGIN:VEVENT\nDTSTART;TZID=Europe/Helsinki:20260105T080000\nDTEND;TZID=Europe/Helsinki:20260105T170000\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\nEXDATE;TZID=Europe/Helsinki:20260401T080000\nEND:VEVENT"
)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=HEL).timestamp()


@pytest.mark.parametrize(
    ("moment", "active"),
    [
        ("2026-03-27T07:59:59", False),  # Friday before the DST change: 08:00 local starts it
        ("2026-03-27T08:00:00", True),
        ("2026-03-28T12:00:00", False),  # Saturday
        ("2026-03-30T08:00:00", True),  # Monday after the change: still 08:00 local (05:00 UTC, not 06:00)
        ("2026-03-30T07:30:00", False),
        ("2026-03-30T16:59:59", True),
        ("2026-03-30T17:00:00", False),  # DTEND is exclusive
        ("2026-04-01T10:00:00", False),  # EXDATE
        ("2026-04-02T10:00:00", True),
        ("2026-01-05T07:00:00", False),  # before the first occurrence
    ],
)
def test_a_weekday_rule_keeps_local_wall_clock_times_across_dst(moment, active):
    assert calendar.parse(WORKDAYS).is_active(datetime.fromisoformat(moment).replace(tzinfo=HEL)) is active


def test_active_answers_for_an_array_of_times_at_once():
    times = np.array([at("2026-03-30T07:00:00"), at("2026-03-30T09:00:00"), at("2026-03-31T18:00:00")])
    assert calendar.parse(WORKDAYS).active(times).tolist() == [False, True, False]


def test_utc_times_and_a_duration_and_a_bare_block_without_vevent():
    cal = calendar.parse("DTSTART:20260601T220000Z\nDURATION:PT4H\nRRULE:FREQ=DAILY;COUNT=3")
    assert cal.is_active(datetime(2026, 6, 2, 1, 59, tzinfo=UTC))  # crosses midnight
    assert not cal.is_active(datetime(2026, 6, 2, 2, 0, tzinfo=UTC))
    assert cal.is_active(datetime(2026, 6, 3, 23, 0, tzinfo=UTC))
    assert not cal.is_active(datetime(2026, 6, 4, 23, 0, tzinfo=UTC))  # COUNT=3 is over


def test_a_single_event_without_a_rule_and_the_organisation_zone_for_floating_times():
    cal = calendar.parse("DTSTART:20261224T120000\nDTEND:20261224T180000", "Europe/Helsinki")
    assert cal.is_active(datetime(2026, 12, 24, 12, 30, tzinfo=HEL))
    assert not cal.is_active(datetime(2026, 12, 24, 9, 59, tzinfo=UTC))  # 11:59 in Helsinki
    assert cal.is_active(datetime(2026, 12, 24, 10, 0, tzinfo=UTC))  # 12:00 in Helsinki
    assert calendar.parse("") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hello", "no DTSTART"),
        ("DTSTART:2026\nDTEND:20260101T000000", "unreadable time"),
        ("DTSTART:20260101T100000Z\nDTEND:20260101T090000Z", "ends before it starts"),
        ("DTSTART:20260101T100000Z\nDURATION:soon", "unreadable duration"),
        ("DTSTART;TZID=Mars/Olympus:20260101T100000", "unknown time zone"),
        ("DTSTART:20260101T100000Z\nDURATION:PT1H\nRRULE:FREQ=SOMETIMES", "unreadable RRULE"),
        ("X" * (calendar.MAX_TEXT + 1), "longer than"),
    ],
)
def test_unusable_calendars_are_refused_with_a_reason(text, reason):
    assert reason in calendar.validate(text)


@pytest.mark.django_db
def test_a_geofence_with_a_bad_calendar_does_not_validate(org_a):
    fence = Geofence(organization=org_a, name="Yard", kind="circle", geometry=Point(24.9, 60.2), radius_m=100)
    fence.calendar = "DTSTART:20260101T100000Z\nRRULE:FREQ=SOMETIMES"
    with pytest.raises(ValidationError, match="calendar cannot be used"):
        fence.full_clean()
    fence.calendar = WORKDAYS
    fence.full_clean()
