"""iTrack's (Navixy's) wire formats in the simulator: the error envelope, local times in the user's zone and the
request parameters (query, form or JSON body)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request

USER_TZ = ZoneInfo("Europe/Helsinki")  # the demo user's time zone
LOCAL_TIME = re.compile(r"^\s*(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\s*$")
HTTP_STATUS = {1: 500, 2: 403, 6: 500, 8: 503, 9: 412, 11: 403, 13: 403, 14: 503, 15: 429, 204: 404, 208: 403}
DESCRIPTIONS = {
    3: "Wrong user hash",
    4: "User not found or session ended",
    7: "Invalid parameters",
    15: "Too many requests (rate limit exceeded)",
    102: "Wrong login or password",
    201: "Not found in database",
    204: "Entity not found",
    208: "Device blocked",
    211: "Requested time span is too big",
    212: "Requested limit is too big",
    217: "List contains nonexistent entities",
    230: "Not supported for this entity type",
}


class ApiError(Exception):
    """Rendered as Navixy does: ``{"success": false, "status": {"code", "description"}}``, HTTP 400 unless the
    code's table says otherwise."""

    retry_after = 1.0  # seconds, sent as Retry-After with code 15

    def __init__(self, code: int, description: str | None = None) -> None:
        super().__init__(description or DESCRIPTIONS.get(code, "Error"))
        self.code, self.description = code, description or DESCRIPTIONS.get(code, "Error")

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        return {"success": False, "status": {"code": self.code, "description": self.description}}


def local_time(ts: float) -> str:
    """A Unix time as the user sees it: "yyyy-MM-dd HH:mm:ss" in the user's zone."""
    return datetime.fromtimestamp(ts, USER_TZ).strftime("%Y-%m-%d %H:%M:%S")


def parse_local(value: object, name: str) -> float:
    """A "yyyy-MM-dd HH:mm:ss" in the user's zone (the first of an hour that repeats) as a Unix time."""
    match = LOCAL_TIME.match(value) if isinstance(value, str) else None
    if not match:
        raise ApiError(7, f"Invalid parameters: {name} must be yyyy-MM-dd HH:mm:ss")
    return datetime.fromisoformat(f"{match[1]} {match[2]}").replace(tzinfo=USER_TZ).timestamp()


async def params(request: Request) -> dict[str, Any]:
    """The call's parameters: the query, then a form or JSON body over it. A form field holding JSON (an array
    or object, as Navixy's form posts send them) is decoded."""
    out: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return out
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            raise ApiError(5, "Wrong request format") from None
        if not isinstance(body, dict):
            raise ApiError(5, "Wrong request format")
        return out | body
    for key, value in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True):
        out[key] = _decoded(value)
    return out


def _decoded(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def int_param(p: dict[str, Any], name: str, default: int | None = None) -> int:
    value = p.get(name, default)
    try:
        if value is None or isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(7, f"Invalid parameters: {name}") from None


def int_list(p: dict[str, Any], name: str) -> list[int]:
    value = p.get(name)
    if isinstance(value, str):
        value = _decoded(value) if value.startswith("[") else [v for v in value.split(",") if v]
    if not isinstance(value, list):
        raise ApiError(7, f"Invalid parameters: {name}")
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise ApiError(7, f"Invalid parameters: {name}") from None


def flag(p: dict[str, Any], name: str, default: bool = False) -> bool:
    value = p.get(name, default)
    return value.lower() in ("true", "1") if isinstance(value, str) else bool(value)
