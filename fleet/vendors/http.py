"""The one HTTP layer every connector uses: timeouts, retries with backoff and jitter on
connection errors, timeouts, 5xx and truncated bodies; a 429 holds the bucket for the vendor's Retry-After and
is asked again once it has passed, as the vendors ask, when that is a short wait (``ratelimit.acquire``'s
``max_wait``): a longer one, or a 429 on every attempt, is surfaced as RateLimited (the sync task reschedules
instead of sleeping that long); 401 surfaced as AuthExpired; a shared per-account
token bucket; a clear User-Agent; connections only to addresses ``fleet.core.egress`` allows,
checked on every request, and no redirects followed. Error messages name the path, never the
query (tokens), and never hold the vendor's reply: an error body goes to the log only."""

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from django.conf import settings
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

import fleet
from fleet.core import egress
from fleet.core.egress import CheckedTransport
from fleet.vendors import ratelimit
from fleet.vendors.errors import AuthExpired, RateLimited, VendorError

log = logging.getLogger(__name__)


class _Transient(Exception):
    """A failure worth retrying at once (5xx, truncated body)."""


class _Refused(_Transient):
    """A 429: asked again once the bucket, held for the vendor's Retry-After, lets it (an adaptive bucket has
    halved its rate meanwhile)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"HTTP 429 from the vendor (retry after {retry_after:g} s)")
        self.retry_after = retry_after


RETRYABLE = (httpx.TransportError, _Transient)


def user_agent() -> str:
    return f"fleet/{fleet.__version__}"


def retry_after(response: httpx.Response, default: float = 1.0) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default


def window_spent(response: httpx.Response, reserve: int = 1) -> float | None:
    """When the vendor's ``X-RateLimit-Remaining`` says at most ``reserve`` calls are left, the Unix time its
    ``X-RateLimit-Reset`` names (at least a second from now); None when there is room or no such header."""
    try:
        remaining = int(response.headers["X-RateLimit-Remaining"])
    except (KeyError, ValueError):
        return None
    if remaining > reserve:
        return None
    now = time.time()
    try:
        reset = float(response.headers.get("X-RateLimit-Reset", ""))
    except ValueError:
        reset = now + 1.0
    if reset > 10 * 365 * 86400:  # a Unix time; a small value is seconds from now
        return max(reset, now + 1.0)
    return now + max(reset, 1.0)


class VendorHTTP:
    """``rate`` (requests/s, burst) is taken from the bucket ``bucket`` (the account's own, unless accounts that
    share a vendor client share one); a call made with ``scope=`` also takes from that scope's bucket
    (``scopes``: the vendor's stricter per-endpoint limits). When a response's rate-limit headers say the
    vendor's window is spent, or on a 429, the buckets are held shut until the vendor says (for every worker).
    ``on_response`` sees each successful response (version and deprecation headers)."""

    def __init__(
        self,
        account_id: int,
        base_url: str,
        rate: tuple[float, int] = (20.0, 40),
        secrets: tuple[str, ...] = (),
        bucket: str | None = None,
        scopes: dict[str, tuple[float, int]] | None = None,
        on_response: Callable[[str, httpx.Response], None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.rate = rate
        self.adaptive: ratelimit.Adaptive | None = None  # set for a vendor that publishes no rate (see ratelimit)
        self.bucket = bucket or str(account_id)
        self.scopes = scopes or {}
        self.on_response = on_response
        self.secrets = tuple(s for s in secrets if s)  # masked in the error bodies this logs
        timeout = getattr(settings, "VENDOR_HTTP_TIMEOUT", 20.0)
        self.attempts = getattr(settings, "VENDOR_HTTP_ATTEMPTS", 4)
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            transport=CheckedTransport(limits=httpx.Limits(max_connections=8, max_keepalive_connections=8)),
            follow_redirects=False,  # a redirect is the vendor's answer, never a second request
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, once: bool = False, **kwargs: Any) -> httpx.Response:
        """``once``: no retry (a request the vendor may have acted on although it failed: a device command)."""
        attempts = 1 if once else self.attempts
        retrying = Retrying(
            retry=retry_if_exception_type(RETRYABLE),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
            reraise=True,
        )
        try:
            return retrying(self._once, method, path, **kwargs)
        except httpx.TimeoutException as exc:
            tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
            raise VendorError(f"{method} {path}: timed out after {tries} ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise VendorError(f"{method} {path}: connection failed ({type(exc).__name__})") from None
        except _Refused as exc:
            raise RateLimited(exc.retry_after) from None
        except _Transient as exc:
            raise VendorError(f"{method} {path}: {exc}") from None
        except egress.RefusedAddress as exc:
            raise VendorError(f"{method} {path}: {exc}", permanent=True) from None

    def json(self, method: str, path: str, envelope: bool = False, **kwargs: Any) -> Any:
        """The parsed body. With ``envelope``, a 4xx other than 401 and 429 whose body is a JSON object is
        returned too, for the connector to read the vendor's error code in it (Navixy's ``status.code``)."""
        return self.request(method, path, parse=True, envelope=envelope, **kwargs)._parsed

    def _buckets(self, scope: str | None) -> list[tuple[str, tuple[float, int]]]:
        buckets = [(self.bucket, self.rate)]
        if scope is not None:
            buckets.append((f"{self.bucket}:{scope}", self.scopes[scope]))
        return buckets

    def _once(
        self,
        method: str,
        path: str,
        parse: bool = False,
        scope: str | None = None,
        envelope: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        buckets = self._buckets(scope)
        for bucket, rate in reversed(buckets):  # the scope's (slower) first: no global token idles meanwhile
            ratelimit.acquire(bucket, *rate, adaptive=self.adaptive if bucket == self.bucket else None)
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            self.slow_down()
            raise
        if response.status_code == 429 or response.status_code >= 500:
            self.slow_down()
        if (until := window_spent(response)) is not None or response.status_code == 429:
            until = until if response.status_code != 429 else time.time() + retry_after(response)
            for bucket, _rate in buckets:
                ratelimit.hold(bucket, until)
        if envelope and 400 <= response.status_code < 500 and response.status_code not in (401, 429):
            body = _object_or_none(response.content)
            if body is not None:
                response._parsed = body
                return response
        if response.status_code >= 300:
            raise self._error(method, path, response)
        if parse:
            response._parsed = parse_json(response.content)
        if self.on_response is not None:
            self.on_response(path, response)
        return response

    def slow_down(self) -> None:
        """The vendor refused (429) or failed (5xx, timeout) a request: an adaptive rate halves."""
        if self.adaptive is not None:
            rate = ratelimit.slow_down(self.bucket, self.rate[0])
            log.info("account %s: the vendor refused or failed a request: %.1f requests/s now", self.account_id, rate)

    def _error(self, method: str, path: str, response: httpx.Response) -> Exception:
        """The exception of an error status. The vendor's reply goes to the log only (users see the status)."""
        status = response.status_code
        if status == 429:
            return _Refused(retry_after(response))
        if status == 401:
            return AuthExpired(f"{method} {path}: HTTP 401")
        if status < 400:  # followed, a redirect could lead anywhere: the base URL should name the server itself
            return VendorError(f"{method} {path}: HTTP {status} from the vendor (a redirect: fleet follows none)")
        excerpt = _excerpt(response, self.secrets)
        log.warning(
            "account %s: %s %s: HTTP %s from the vendor, saying %r", self.account_id, method, path, status, excerpt
        )
        if status >= 500:
            return _Transient(f"HTTP {status} from the vendor")
        error = VendorError(f"{method} {path}: HTTP {status} from the vendor", status=status)
        error.detail = excerpt  # for a caller that shows the vendor's reason (a refused command's log)
        return error


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


def _object_or_none(content: bytes) -> dict | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _excerpt(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
    """The first line of an error body, for the log only: at most 200 characters, the account's credentials
    masked (a server may echo what it was sent)."""
    lines = response.text.strip().splitlines()
    text = lines[0] if lines else ""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:200]
