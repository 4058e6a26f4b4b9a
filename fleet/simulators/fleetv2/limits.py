"""Telemax's rate limits as the vendor enforces them on V2: a sliding window per client (the API key or user
behind a token), 60 requests per window, and stricter or looser windows per endpoint (20 on company-wide
lists, 120 on one vehicle's last position). A request refused with 429 does not count."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

GLOBAL = "global"
COMPANY_LISTS = "company-lists"
VEHICLE_LAST = "vehicle-last-position"
LIMITS = {GLOBAL: 60, COMPANY_LISTS: 20, VEHICLE_LAST: 120}


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix time the tightest window frees a request
    retry_after: int  # seconds, when refused


class SlidingWindows:
    """Request times per (client, scope); ``window`` seconds long (60 at the vendor, shorter in tests)."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.seen: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.accepted: defaultdict[str, list[float]] = defaultdict(list)  # every accepted request, per client
        self.lock = threading.Lock()

    def check(self, client: str, scopes: tuple[str, ...], now: float | None = None) -> Verdict:
        """Count the request in every scope when each has room; otherwise refuse it (and count nothing)."""
        now = time.time() if now is None else now
        with self.lock:
            states = [(scope, LIMITS[scope], self._trimmed(client, scope, now)) for scope in (GLOBAL, *scopes)]
            full = [(scope, limit, times) for scope, limit, times in states if len(times) >= limit]
            if full:
                free_at = max(times[len(times) - limit] + self.window for _s, limit, times in full)
                _scope, limit, times = full[0]
                wait = max(1, math.ceil(free_at - now))
                return Verdict(False, limit, 0, math.ceil(free_at), wait)
            for _scope, _limit, times in states:
                times.append(now)
            self.accepted[client].append(now)
            scope, limit, times = min(states, key=lambda s: s[1] - len(s[2]))
            reset = times[0] + self.window
            return Verdict(True, limit, limit - len(times), math.ceil(reset), 0)

    def _trimmed(self, client: str, scope: str, now: float) -> deque[float]:
        times = self.seen[client, scope]
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def busiest(self, client: str | None = None) -> int:
        """The most requests accepted from one client in any window (what the vendor would have allowed)."""
        with self.lock:
            series = [self.accepted[client]] if client is not None else list(self.accepted.values())
        best = 0
        for times in series:
            start = 0
            for end, t in enumerate(times):
                while times[start] <= t - self.window:
                    start += 1
                best = max(best, end - start + 1)
        return best
