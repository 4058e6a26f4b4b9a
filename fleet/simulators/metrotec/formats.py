"""Metrotec's wire formats in the simulator: its error body, times and request helpers."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request

LOCAL_TZ = ZoneInfo("Europe/Tallinn")  # the account's timezone, for the "local" fields
VENDOR_TIME = re.compile(r"^\s*(\d{4}-\d\d-\d\d)[ T]?(\d\d:\d\d:\d\d)\s*$")


class ApiError(Exception):
    """Rendered as the vendor does: ``{"message": ...}`` with the status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def vendor_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def parse_vendor_time(text: str | None, name: str) -> float:
    """ "YYYY-MM-DD HH:MM:SS" UTC (the excerpt's examples also lost the space: accepted without it)."""
    match = VENDOR_TIME.match(text or "")
    if not match:
        raise ApiError(f"The {name} field must be a date in the format YYYY-MM-DD HH:MM:SS.")
    return datetime.fromisoformat(f"{match[1]} {match[2]}").replace(tzinfo=UTC).timestamp()


def int_query(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(f"The {name} field must be an integer.") from None


def registration(plate: str) -> str:
    """An Estonian-style registration number ("123ABC") from the model's plate ("ABC-123")."""
    letters, _, number = plate.partition("-")
    return f"{int(number):03d}{letters}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ApiError("The body must be a JSON object.")
    return body
