"""A geofence's active calendar: iCalendar text (one or more VEVENTs with DTSTART, DTEND or DURATION, RRULE,
EXDATE), parsed once with limits and asked "active at these times?" by the event engine and the visits report.

An empty calendar means always active. Times without a zone (DTSTART:20260105T080000) are in the calendar's
``TZID`` when DTSTART names one (so 08:00 stays 08:00 local across a DST change), else UTC when they end in Z,
else the organisation's zone given by the caller. Parsing uses dateutil's rrule (RFC 5545 rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from dateutil import rrule

MAX_TEXT = 20_000  # characters of calendar text accepted
MAX_EVENTS = 50
MAX_OCCURRENCES = 20_000  # occurrences expanded for one question (a window of the rule, not all of it)
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class CalendarError(ValueError):
    """The calendar text cannot be used; the message says why in plain words."""


@dataclass(frozen=True)
class _Event:
    start: datetime  # aware
    length: timedelta
    rule: rrule.rrule | rrule.rruleset | None


def _unfold(text: str) -> list[str]:
    """RFC 5545 lines: a line starting with a space or tab continues the one before."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw.strip())
    return lines


def _time(value: str, params: dict[str, str], default_zone: ZoneInfo) -> datetime:
    value = value.strip()
    try:
        if "T" not in value:  # a date: midnight
            moment = datetime.strptime(value, "%Y%m%d")
        else:
            moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise CalendarError(f"unreadable time {value!r} (expected e.g. 20260105T080000)") from None
    if value.endswith("Z"):
        return moment.replace(tzinfo=UTC)
    zone = default_zone
    if "TZID" in params:
        try:
            zone = ZoneInfo(params["TZID"])
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"unknown time zone {params['TZID']!r}") from None
    return moment.replace(tzinfo=zone)


def _duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match or not any(match.groups()):
        raise CalendarError(f"unreadable duration {value!r} (expected e.g. PT8H)")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _split(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    name, *params = head.split(";")
    return name.upper(), dict(p.split("=", 1) for p in params if "=" in p), value


@dataclass(frozen=True)
class Calendar:
    events: tuple[_Event, ...]

    def active(self, times: np.ndarray) -> np.ndarray:
        """For epoch seconds ``times``, whether each falls in an occurrence of any event."""
        times = np.asarray(times, dtype=float)
        result = np.zeros(len(times), dtype=bool)
        if not len(times):
            return result
        lo = datetime.fromtimestamp(float(times.min()), UTC)
        hi = datetime.fromtimestamp(float(times.max()), UTC)
        for event in self.events:
            starts = self._starts(event, lo - event.length, hi)
            if not starts:
                continue
            begin = np.array([s.timestamp() for s in starts])
            end = begin + event.length.total_seconds()
            k = np.searchsorted(begin, times, side="right") - 1
            ok = k >= 0
            result[ok] |= times[ok] < end[k[ok]]
        return result

    def is_active(self, moment: datetime) -> bool:
        return bool(self.active(np.array([moment.timestamp()]))[0])

    @staticmethod
    def _starts(event: _Event, lo: datetime, hi: datetime) -> list[datetime]:
        if event.rule is None:
            return [event.start] if lo <= event.start <= hi else []
        found = []
        for start in event.rule.xafter(lo, inc=True):
            if start > hi or len(found) >= MAX_OCCURRENCES:
                break
            found.append(start)
        previous = event.rule.before(lo, inc=False)  # an occurrence begun before the window may cover its start
        return ([previous] if previous is not None else []) + found


def parse(text: str, default_zone: str = "UTC") -> Calendar | None:
    """The calendar, None for an empty text; raises CalendarError with a reason for anything unusable."""
    if not text or not text.strip():
        return None
    if len(text) > MAX_TEXT:
        raise CalendarError(f"the calendar is longer than {MAX_TEXT} characters")
    return _parse(text, default_zone)


@lru_cache(maxsize=512)
def _parse(text: str, default_zone: str) -> Calendar:
    zone = ZoneInfo(default_zone)
    events, current = [], None
    lines = _unfold(text)
    if not any(_split(line)[0] == "BEGIN" and _split(line)[2].upper() == "VEVENT" for line in lines):
        lines = ["BEGIN:VEVENT", *lines, "END:VEVENT"]  # a bare DTSTART / DTEND / RRULE block
    for line in lines:
        name, params, value = _split(line)
        if name == "BEGIN" and value.upper() == "VEVENT":
            current = {"rrules": [], "exdates": []}
        elif name == "END" and value.upper() == "VEVENT" and current is not None:
            events.append(_event(current))
            current = None
            if len(events) > MAX_EVENTS:
                raise CalendarError(f"more than {MAX_EVENTS} events")
        elif current is not None:
            if name == "DTSTART":
                current["start"] = _time(value, params, zone)
                current["zone"] = current["start"].tzinfo
            elif name == "DTEND":
                current["end"] = (value, params)
            elif name == "DURATION":
                current["length"] = _duration(value)
            elif name == "RRULE":
                current["rrules"].append(value)
            elif name == "EXDATE":
                current["exdates"] += [(v, params) for v in value.split(",")]
    if not events:
        raise CalendarError("no event (BEGIN:VEVENT … END:VEVENT) in the calendar")
    return Calendar(tuple(events))


def _event(fields: dict) -> _Event:
    if "start" not in fields:
        raise CalendarError("an event has no DTSTART")
    start, zone = fields["start"], fields["zone"]
    if "end" in fields:
        end = _time(*fields["end"], zone)
        length = end - start
    else:
        length = fields.get("length", timedelta(days=1))
    if length <= timedelta(0):
        raise CalendarError("an event ends before it starts")
    if not fields["rrules"]:
        return _Event(start, length, None)
    rules = rrule.rruleset()
    for text in fields["rrules"]:
        try:
            rule = rrule.rrulestr(text, dtstart=start.replace(tzinfo=None), ignoretz=True)
        except (ValueError, TypeError) as exc:
            raise CalendarError(f"unreadable RRULE {text!r}: {exc}") from None
        rules.rrule(_zoned(rule, zone))
    for value, params in fields["exdates"]:
        rules.exdate(_time(value, params, zone))
    return _Event(start, length, rules)


class _ZonedRule(rrule.rrulebase):
    """A rule expanded in wall-clock time (08:00 local every weekday, whatever the UTC offset that day)."""

    def __init__(self, rule: rrule.rrule, zone) -> None:
        super().__init__(cache=False)
        self.rule, self.zone = rule, zone

    def _iter(self):
        for naive in self.rule:
            yield naive.replace(tzinfo=self.zone)


def _zoned(rule: rrule.rrule, zone) -> _ZonedRule:
    return _ZonedRule(rule, zone)


def validate(text: str, default_zone: str = "UTC") -> str | None:
    """None if the calendar text is usable, else the reason in plain words (for forms)."""
    try:
        parse(text, default_zone)
    except CalendarError as exc:
        return str(exc)
    return None
