"""The one HTTP layer every connector uses: timeouts, retries with backoff and jitter on
connection errors, timeouts, 5xx and truncated bodies; 429 surfaced as RateLimited (the sync
task reschedules instead of sleeping); 401 surfaced as AuthExpired; a shared per-account
token bucket; a clear User-Agent. Error messages name the path, never the query (tokens)."""

import json
import logging
from typing import Any

import httpx
import orjson
from django.conf import settings
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

import fleet
from fleet.vendors import ratelimit
from fleet.vendors.errors import AuthExpired, RateLimited, VendorError

log = logging.getLogger(__name__)


class _Transient(Exception):
    """A failure worth retrying at once (5xx, truncated body)."""


RETRYABLE = (httpx.TransportError, _Transient)


def user_agent() -> str:
    return f"fleet/{fleet.__version__}"


def retry_after(response: httpx.Response, default: float = 1.0) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default


class VendorHTTP:
    def __init__(self, account_id: int, base_url: str, rate: tuple[float, int] = (20.0, 40)) -> None:
        self.account_id = account_id
        self.rate = rate
        timeout = getattr(settings, "VENDOR_HTTP_TIMEOUT", 20.0)
        self.attempts = getattr(settings, "VENDOR_HTTP_ATTEMPTS", 4)
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        retrying = Retrying(
            retry=retry_if_exception_type(RETRYABLE),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
            reraise=True,
        )
        try:
            return retrying(self._once, method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise VendorError(
                f"{method} {path}: timed out after {self.attempts} attempts ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise VendorError(f"{method} {path}: connection failed ({type(exc).__name__})") from None
        except _Transient as exc:
            raise VendorError(f"{method} {path}: {exc}") from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, parse=True, **kwargs)._parsed

    def _once(self, method: str, path: str, parse: bool = False, **kwargs: Any) -> httpx.Response:
        ratelimit.acquire(self.account_id, *self.rate)
        response = self.client.request(method, path, **kwargs)
        status = response.status_code
        if status == 429:
            raise RateLimited(retry_after(response))
        if status == 401:
            raise AuthExpired(f"{method} {path}: HTTP 401")
        if status >= 500:
            raise _Transient(f"HTTP {status}: {_excerpt(response)}")
        if status >= 400:
            raise VendorError(f"{method} {path}: HTTP {status}: {_excerpt(response)}", status=status)
        if parse:
            response._parsed = parse_json(response.content)
        return response


def parse_json(content: bytes) -> Any:
    """A JSON body; the non-standard NaN / Infinity tokens some servers write are read too (as floats that the
    mappers then refuse). A body that is not JSON is worth another try (a truncated response)."""
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        raise _Transient(f"malformed JSON ({len(content)} bytes)") from None


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().splitlines()
    return (text[0] if text else "")[:200]
