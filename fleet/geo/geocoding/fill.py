"""Asking the provider for the queued cells: one run at a time (a lock in Django's cache, i.e. Redis, shared by
every worker), at most GEOCODER_BATCH requests, GEOCODER_RATE requests/s at most across runs, through the
address guard (``fleet.core.egress.CheckedTransport``), never following a redirect.

A 429 holds every run until its Retry-After; a 5xx, a timeout or a refused connection ends the run and the cell
is asked again later (backing off); an answer of the wrong shape counts against its cell only. A cell that
failed MAX_ATTEMPTS times is given up (asked again once its row expires). Nothing is raised: the run returns
its counts, which are logged."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import orjson
from django.conf import settings
from django.core.cache import cache as shared
from django.db.models import Q
from django.utils import timezone

from fleet.core import egress
from fleet.geo.geocoding import cache
from fleet.geo.geocoding.providers import PROVIDERS, Provider, Unreadable
from fleet.geo.models import CachedAddress

log = logging.getLogger(__name__)

LOCK, NEXT_AT, HOLD = "geo.geocode.lock", "geo.geocode.next_at", "geo.geocode.hold_until"
MAX_ATTEMPTS = 5
RETRY_BASE_S, RETRY_MAX_S = 60.0, 86400.0
HOLD_DEFAULT_S, HOLD_MAX_S = 60.0, 3600.0


class Stop(Exception):
    """The provider cannot be asked now: the run ends, the cell is left as it is."""


def run(limit: int | None = None) -> dict[str, int]:
    """Ask for up to ``limit`` (GEOCODER_BATCH) due cells; the counts of what happened."""
    counts: Counter[str] = Counter()
    if not cache.configured():
        return dict(counts)
    limit = settings.GEOCODER_BATCH if limit is None else limit
    budget = limit * (1 / settings.GEOCODER_RATE + settings.GEOCODER_TIMEOUT_S) + 60
    if not shared.add(LOCK, 1, timeout=budget):
        counts["busy"] += 1
        return dict(counts)
    try:
        counts["pruned"] = cache.prune()
        if (shared.get(HOLD) or 0) > time.time():
            counts["held"] += 1
        else:
            _ask_due(limit, counts)
    finally:
        shared.delete(LOCK)
    if counts["errors"] or counts["rate_limited"] or counts["refused"]:
        log.warning("geocoding run: %s", dict(counts))
    else:
        log.info("geocoding run: %s", dict(counts))
    return dict(counts)


def due(limit: int) -> list[CachedAddress]:
    now = timezone.now()
    pending = CachedAddress.objects.filter(provider=cache.provider(), state=CachedAddress.State.PENDING)
    pending = pending.filter(Q(next_try__isnull=True) | Q(next_try__lte=now))
    return list(pending.order_by("attempts", "created", "pk")[:limit])


def _ask_due(limit: int, counts: Counter) -> None:
    provider = PROVIDERS[settings.GEOCODER_KIND]
    with client() as http:
        for row in due(limit):
            try:
                ask(http, provider, row, counts)
            except Stop:
                break


def client() -> httpx.Client:
    headers = {"User-Agent": settings.GEOCODER_USER_AGENT, "Accept": "application/json"}
    if settings.GEOCODER_LANGUAGE:
        headers["Accept-Language"] = settings.GEOCODER_LANGUAGE
    timeout = settings.GEOCODER_TIMEOUT_S
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers=headers,
        transport=egress.CheckedTransport(allow_private=settings.GEOCODER_ALLOW_PRIVATE_NETWORKS),
        follow_redirects=False,
        trust_env=False,
    )


def reverse_url() -> str:
    """GEOCODER_URL's ``/reverse`` endpoint (the URL may name it already)."""
    url = settings.GEOCODER_URL.rstrip("/")
    return url if urlsplit(url).path.endswith("/reverse") else f"{url}/reverse"


def ask(http: httpx.Client, provider: Provider, row: CachedAddress, counts: Counter) -> None:
    """One request for one cell, its outcome stored on the row. Raises Stop when the run should end."""
    pace()
    counts["asked"] += 1
    query = provider.query(row.latitude, row.longitude, settings.GEOCODER_LANGUAGE.split(",")[0].strip())
    try:
        response = http.get(reverse_url(), params=query)
    except egress.RefusedAddress as exc:
        counts["refused"] += 1
        log.error("geocoder refused: %s (see GEOCODER_ALLOW_PRIVATE_NETWORKS)", exc)
        raise Stop from exc
    except httpx.TimeoutException as exc:
        failed(row, f"no answer within {settings.GEOCODER_TIMEOUT_S:g} s", counts)
        raise Stop from exc
    except httpx.HTTPError as exc:
        failed(row, f"could not connect: {type(exc).__name__}", counts)
        raise Stop from exc
    if response.status_code == 429:
        hold(response, counts)
        raise Stop
    if response.status_code >= 500:
        failed(row, f"HTTP {response.status_code}", counts)
        raise Stop
    if response.status_code != 200:
        failed(row, f"HTTP {response.status_code}", counts)
        return
    try:
        text = provider.text(orjson.loads(response.content))
    except (orjson.JSONDecodeError, Unreadable) as exc:
        failed(row, f"unreadable answer: {exc}"[:200], counts)
        return
    answered(row, text, counts)


def pace() -> None:
    """Wait for this request's turn: GEOCODER_RATE requests/s at most, across runs."""
    interval = 1.0 / settings.GEOCODER_RATE
    wait = (shared.get(NEXT_AT) or 0.0) - time.time()
    if wait > 0:
        time.sleep(min(wait, interval))
    shared.set(NEXT_AT, time.time() + interval, timeout=max(60, int(interval) + 1))


def hold(response: httpx.Response, counts: Counter) -> None:
    try:
        seconds = float(response.headers.get("Retry-After", HOLD_DEFAULT_S))
    except ValueError:
        seconds = HOLD_DEFAULT_S
    seconds = min(max(seconds, 1.0), HOLD_MAX_S)
    shared.set(HOLD, time.time() + seconds, timeout=int(seconds) + 1)
    counts["rate_limited"] += 1
    log.warning("geocoder: HTTP 429, no request for %g s", seconds)


def answered(row: CachedAddress, text: str, counts: Counter) -> None:
    row.text, row.state, row.error = text, CachedAddress.State.DONE, ""
    row.fetched, row.next_try = timezone.now(), None
    row.save(update_fields=["text", "state", "error", "fetched", "next_try"])
    counts["answered" if text else "empty"] += 1


def failed(row: CachedAddress, error: str, counts: Counter) -> None:
    """Count the failure on the row; back off (doubling) or, after MAX_ATTEMPTS, give the cell up."""
    now = timezone.now()
    row.attempts += 1
    row.error = error[:200]
    if row.attempts >= MAX_ATTEMPTS:
        row.state, row.fetched, row.next_try = CachedAddress.State.FAILED, now, None
        counts["given_up"] += 1
    else:
        row.next_try = now + timedelta(seconds=min(RETRY_BASE_S * 2 ** (row.attempts - 1), RETRY_MAX_S))
    row.save(update_fields=["attempts", "error", "state", "fetched", "next_try"])
    counts["errors"] += 1
    log.info("geocoder: cell %s: %s (attempt %d)", row.cell, error, row.attempts)
