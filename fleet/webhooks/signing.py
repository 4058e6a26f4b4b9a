"""Webhook signatures, Stripe's way: ``Fleet-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
with the endpoint's secret. A receiver recomputes the HMAC over the raw body and refuses a timestamp older than
its tolerance, so a captured message cannot be replayed later."""

import hashlib
import hmac
import time

HEADER = "Fleet-Signature"
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(secret: str, body: bytes, value: str, tolerance_s: int = TOLERANCE_S, now: float | None = None) -> bool:
    """Whether ``value`` (the header) signs ``body`` with ``secret`` within ``tolerance_s`` of now."""
    parts: dict[str, list[str]] = {}
    for item in value.split(","):
        key, _, v = item.strip().partition("=")
        parts.setdefault(key, []).append(v)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))
