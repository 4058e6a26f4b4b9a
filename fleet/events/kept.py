"""Per-organisation values each process builds from the database and keeps (the zones, the notification
rules): rebuilt when the organisation's version in the shared cache moves (a signal raised it, so every process
sees the change) or at the latest after the TTL (for changes that bypass signals, such as a vendor mirror's bulk
update). While the shared cache cannot be read (Redis restarting) a kept value goes by its TTL alone: failing
there would lose its caller's work (a batch's evaluation, the notices of its events)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache

log = logging.getLogger(__name__)
T = TypeVar("T")


class Kept(Generic[T]):
    def __init__(self, name: str, ttl_s: float, build: Callable[[int], T]) -> None:
        self.name, self.ttl_s, self.build = name, ttl_s, build
        self._kept: dict[int, tuple[int, float, T]] = {}  # organisation -> (version, built at, value)

    def key(self, organization_id: int) -> str:
        return f"events:{self.name}:{organization_id}"

    def changed(self, organization_id: int) -> None:
        """Tell every process that the organisation's value changed."""
        key = self.key(organization_id)
        try:
            cache.incr(key)
        except ValueError:  # not set yet
            cache.set(key, 1, None)

    def get(self, organization_id: int) -> T:
        try:
            version = cache.get(self.key(organization_id)) or 0
        except Exception:
            log.warning("%s of organisation %s: the shared cache is unreachable", self.name, organization_id)
            version = None
        kept = self._kept.get(organization_id)
        if kept and time.monotonic() - kept[1] < self.ttl_s and version in (None, kept[0]):
            return kept[2]
        value = self.build(organization_id)
        self._kept[organization_id] = (-1 if version is None else version, time.monotonic(), value)
        return value

    def forget(self) -> None:
        self._kept.clear()
