"""Telemax's formats: times without a zone (V2) or with ``Z`` (V1), the user's local time, .NET TimeSpans,
the paging envelope (with its inconsistent ``lastResultIndex``), errors, and alert types."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

USER_OFFSET_S = 10 * 3600  # the demo company's time zone (AEST, +10:00)
MAX_PAGE_SIZE = 500
DOC_URL = "https://docs.telemax.com.au/v2/errors#"
# alertType codes, and the labels an old page uses for them
ALERT_TYPES = {7: "Overspeed", 18: "Ignition On", 19: "Ignition Off", 24: "Geofence Enter", 25: "Geofence Exit"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description

    def body(self, request_id: str) -> dict[str, Any]:
        kind = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 422: "Validation", 429: "RateLimit"}
        return {
            "type": kind.get(self.status, "Error"),
            "code": self.code,
            "description": self.description,
            "requestId": request_id,
            "docUrl": DOC_URL + self.code.lower(),
        }


def utc_time(ts: float) -> str:
    """V2: ``2026-04-28T06:14:22`` (UTC, no zone, no fraction)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


def utc_time_z(ts: float) -> str:
    return utc_time(ts) + "Z"


def user_time(ts: float, offset: bool = False) -> str:
    local = utc_time(ts + USER_OFFSET_S)
    return local + "+10:00" if offset else local


def user_formatted(ts: float) -> str:
    return time.strftime("%d/%m/%Y %I:%M %p", time.gmtime(ts + USER_OFFSET_S))


def timespan(seconds: float, iso: bool = False) -> str:
    """A .NET TimeSpan ``"02:30:00"`` (``"1.02:30:00"`` past a day), or ISO 8601 ``"PT2H30M"``."""
    s = max(0, int(seconds))
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    if iso:
        return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"
    days, hours = divmod(hours, 24)
    return (f"{days}." if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


def parse_request_time(value: str | None, name: str) -> float:
    """What ``DateTime.Parse`` accepts, taken as UTC with or without ``Z``."""
    if not value:
        raise ApiError(422, "INVALID_DATE_FORMAT", f"'{name}' is required.")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise ApiError(422, "INVALID_DATE_FORMAT", f"'{name}' is not a valid date.") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def int_param(request: Request, name: str, default: int | None = None, low: int = 1, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if default is None:
            raise ApiError(422, "INVALID_PARAMETER", f"'{name}' is required.")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "INVALID_PARAMETER", f"'{name}' must be an integer.") from None
    if value < low or (high is not None and value > high):
        raise ApiError(422, "INVALID_PARAMETER", f"'{name}' must be between {low} and {high or 'any'}.")
    return value


def paging(request: Request, default_size: int = 50) -> tuple[int, int]:
    return int_param(request, "page", 1), int_param(request, "pageSize", default_size, high=MAX_PAGE_SIZE)


def envelope(rows: list[Any], page: int, size: int) -> dict[str, Any]:
    return page_envelope(rows[(page - 1) * size : page * size], len(rows), page, size)


def page_envelope(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    """The V2 page envelope of ``items`` (page ``page`` of ``total`` rows). ``lastResultIndex`` is documented
    as the zero-based index of the page's last record, but the vendor's examples show it 1-based, or equal to
    the total on a single page: this serves all three, so a client that trusts it loses or repeats rows."""
    pages = max(1, math.ceil(total / size))
    end = min(total, (page - 1) * size + len(items))
    last = total if pages == 1 else end if page % 2 else end - 1
    return {"items": items, "currentPage": page, "numberOfPages": pages, "totalResults": total, "lastResultIndex": last}


def battery_envelope(rows: list[Any], page: int, size: int) -> dict[str, Any]:
    return {"items": rows[(page - 1) * size : page * size], "page": page, "pageSize": size, "totalCount": len(rows)}


def alert_type(code: int, key: int) -> int | str:
    """The alert type as the three forms the docs show: an int, a numeric string, a label."""
    form = key % 3
    return code if form == 0 else str(code) if form == 1 else ALERT_TYPES[code]
