"""Time ranges: presets resolved in the organisation's timezone to aware UTC [start, end), and ranges read
from a query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime

PRESETS: list[tuple[str, str]] = [
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("this_week", "This week"),
    ("last_week", "Last week"),
    ("this_month", "This month"),
    ("last_7_days", "Last 7 days"),
    ("custom", "Custom"),
]
# The times a query may ask for: no position is older (ingest rejects them) and none lies so far ahead.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def resolve(
    preset: str,
    tz: str,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """[start, end) in UTC for a preset, in local days of ``tz`` (weeks start on Monday).

    "hour" is the last hour; "today" and "this_*" end now (not at midnight), "last_7_days" is the 7 local days
    ending today (today included, up to now); "custom" takes ``start`` and ``end`` as inclusive local dates.
    """
    zone = ZoneInfo(tz)
    now = (now or datetime.now(UTC)).astimezone(zone)
    today = now.date()
    if preset == "hour":
        return (now - timedelta(hours=1)).astimezone(UTC), now.astimezone(UTC)
    if preset == "today":
        return _midnight(today, zone), now.astimezone(UTC)
    if preset == "yesterday":
        return _midnight(today - timedelta(days=1), zone), _midnight(today, zone)
    if preset == "this_week":
        return _midnight(today - timedelta(days=today.weekday()), zone), now.astimezone(UTC)
    if preset == "last_week":
        monday = today - timedelta(days=today.weekday())
        return _midnight(monday - timedelta(days=7), zone), _midnight(monday, zone)
    if preset == "this_month":
        return _midnight(today.replace(day=1), zone), now.astimezone(UTC)
    if preset == "last_7_days":
        return _midnight(today - timedelta(days=6), zone), now.astimezone(UTC)
    if preset == "custom":
        if start is None or end is None:
            raise ValueError("a custom range needs a start and an end date")
        if end < start:
            raise ValueError("the end date is before the start date")
        return _midnight(start, zone), _midnight(end + timedelta(days=1), zone)
    raise ValueError(f"unknown range preset {preset!r}")


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime


def parse_range(
    params, tz: str = "UTC", default: timedelta = timedelta(hours=1), longest: timedelta = timedelta(days=31)
) -> Range | None:
    """The range a query asks for: ``preset`` (see ``resolve``; "custom" is not one here) or ``from`` / ``to``
    as ISO 8601 times (naive times are in ``tz``; a missing ``to`` is now, a missing ``from`` ``default``
    before it). None when unreadable, empty, longer than ``longest`` or outside [EARLIEST, LATEST]."""
    span = read_range(params, tz, default, longest)
    return span if isinstance(span, Range) else None


def read_range(
    params, tz: str = "UTC", default: timedelta = timedelta(hours=1), longest: timedelta = timedelta(days=31)
) -> Range | str:
    """``parse_range``, saying in plain words what is wrong with a range it refuses."""
    zone = ZoneInfo(tz)
    try:
        if params.get("preset"):
            if params["preset"] == "custom":
                return "Choose a start and an end time."
            start, end = resolve(params["preset"], tz)
        else:
            end = _parse_time(params.get("to"), zone, "end") or datetime.now(UTC)
            start = _parse_time(params.get("from"), zone, "start") or end - default
    except _Unreadable as exc:
        return str(exc)
    except ValueError:  # resolve: not a preset
        return "Choose a range: the last hour, today, yesterday or your own start and end times."
    except OverflowError:  # a time at the ends of the calendar (year 1 or 9999)
        return "Choose times between the years 2000 and 2100."
    if start >= end:
        return "The start must be before the end."
    if not EARLIEST <= start < end <= LATEST:
        return "Choose times between the years 2000 and 2100."
    if end - start > longest:
        return f"Choose at most {_days(longest)} at a time."
    return Range(start, end)


class _Unreadable(ValueError):
    pass


def _days(span: timedelta) -> str:
    return f"{span.days} days" if span.days != 1 else "1 day"


def _parse_time(value: str | None, zone: ZoneInfo, what: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value.strip().replace(" ", "+"))  # a "+" in a query string arrives as a space
    except ValueError:  # well formed, but no such time (a 30 February, an hour 25)
        parsed = None
    if parsed is None:
        raise _Unreadable(f"The {what} is not a date and time that exists.")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
