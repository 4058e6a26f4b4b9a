"""Report ranges: presets resolved in the organisation's timezone to aware UTC [start, end)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PRESETS: list[tuple[str, str]] = [
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("this_week", "This week"),
    ("last_week", "Last week"),
    ("this_month", "This month"),
    ("last_7_days", "Last 7 days"),
    ("custom", "Custom"),
]


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

    "today" and "this_*" end now (not at midnight), "last_7_days" is the 7 local days ending today
    (today included, up to now); "custom" takes ``start`` and ``end`` as inclusive local dates.
    """
    zone = ZoneInfo(tz)
    now = (now or datetime.now(UTC)).astimezone(zone)
    today = now.date()
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
