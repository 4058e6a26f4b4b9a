"""Canonical position attributes: the one place where their values are coerced (at ingest), so that every
reader can trust them. Names and units are listed in docs/architecture.md (Canonical records)."""

from __future__ import annotations

import math
from typing import Any

# Attributes that are flags: stored as JSON true / false.
FLAGS = frozenset({"ignition", "motion", "charge", "blocked", "door", "armed"})
# Attributes that are numbers: stored as finite JSON numbers (integers that a float holds exactly stay integers).
NUMBERS = frozenset(
    {
        "battery_level",
        "battery",
        "power_v",
        "fuel_l",
        "odometer_m",
        "engine_hours_s",
        "rssi",
        "satellites",
        "hdop",
        "floor",
    }
)
INT64 = (-(2**63), 2**63 - 1)
TRUE_WORDS = frozenset({"true", "1", "on", "yes"})
FALSE_WORDS = frozenset({"false", "0", "off", "no"})


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, a boolean, a word, NaN, an overflowing integer)."""
    if value.__class__ is float:  # the common case: no conversion
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def flag(value: Any) -> bool | None:
    """True / False from a boolean, a number (non-zero is on) or a word (true/false, on/off, yes/no, 1/0);
    None for anything else."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value != 0
    return None


def _plain(value: Any) -> Any:
    """A JSON-safe copy: non-finite floats (and containers' members that are) dropped; None when dropped."""
    if value.__class__ is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): v for k, v in ((k, _plain(v)) for k, v in value.items()) if v is not None}
    if isinstance(value, list | tuple):
        return [v for v in (_plain(v) for v in value) if v is not None]
    if value.__class__ is str:
        return value.replace("\x00", "")  # PostgreSQL refuses NUL in text, JSON included
    if value.__class__ is int and not INT64[0] <= value <= INT64[1]:
        return str(value)  # beyond what JSON encoders and PostgreSQL's casts take as a number
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _count_or_number(value: Any) -> int | float | None:
    """An integer stays one while a float holds it exactly; anything else as ``number``."""
    if value.__class__ is int and -(2**53) <= value <= 2**53:
        return value
    return number(value)


def json_safe(value: Any) -> dict:
    """A dict that both databases store alike: non-finite numbers dropped, huge integers as text, keys as text."""
    return _plain(value) if isinstance(value, dict) else {}


def _canonical_value(key: str, value: Any) -> Any:
    if key in FLAGS:
        return flag(value)
    if key in NUMBERS:
        return _count_or_number(value)
    if key == "temperatures":
        values = value if isinstance(value, list | tuple) else [value]
        return [t for t in (number(v) for v in values) if t is not None] or None
    return _plain(value)


def canonical(attributes: Any) -> dict:
    """``attributes`` with every value in its canonical type; values that cannot be read are dropped."""
    if not isinstance(attributes, dict):
        return {}
    out = {}
    for key, value in attributes.items():
        if (value := _canonical_value(key, value)) is not None:
            out[str(key)] = value
    return out


def is_canonical(attributes: dict) -> bool:
    """Whether ``canonical(attributes)`` would return it unchanged (the ingest fast path)."""
    for key, value in attributes.items():
        kind = value.__class__
        if key in FLAGS:
            if kind is not bool:
                return False
        elif key in NUMBERS:
            if kind is float:
                if not math.isfinite(value):
                    return False
            elif kind is not int or not -(2**53) <= value <= 2**53:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is int:
            if not INT64[0] <= value <= INT64[1]:
                return False
        elif kind is str:
            if "\x00" in value:
                return False
        elif kind is not bool:
            return False  # containers and anything else take the full check
    return True
