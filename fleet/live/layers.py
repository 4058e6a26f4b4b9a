"""The channel layer: Redis pub/sub, decoding each group message once per process.

The pub/sub receiver hands the same bytes object to every local channel in a group, and the stock
layer decodes it once per socket; with 10 sockets of one organisation in a process that was the
largest cost of a web process. Consumers must treat layer messages as read-only (ours do).

The stock layer's per-channel queues are unbounded (its ``capacity`` applies to the list-based layer only):
a socket whose consumer stops reading keeps every message of its groups. Once a minute, while sockets
receive, the process logs its channels, groups and queued messages (a warning when one socket has
``LONG_QUEUE`` waiting), so that an operator (and the soak) can tell a web process's growing memory from
such a queue.
"""

import logging
import sys
import time
from collections import deque

from channels_redis.pubsub import RedisPubSubChannelLayer

log = logging.getLogger(__name__)
STATS_EVERY_S = 60.0
LONG_QUEUE = 1000  # messages waiting for one socket: logged as a warning (a socket that stopped reading)


class SharedDecodePubSubLayer(RedisPubSubChannelLayer):
    recent_size = 32

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._recent: deque[tuple[bytes, dict]] = deque(maxlen=self.recent_size)
        self._stats_at = time.monotonic()

    def deserialize(self, message: bytes) -> dict:
        for raw, decoded in self._recent:
            if raw is message:  # the very object, kept alive here, so identity cannot be reused
                return decoded
        decoded = super().deserialize(message)
        self._recent.append((message, decoded))
        return decoded

    async def receive(self, channel):
        if time.monotonic() - self._stats_at >= STATS_EVERY_S:
            self._stats_at = time.monotonic()
            stats = self.stats()
            level = logging.WARNING if stats["longest"] >= LONG_QUEUE else logging.INFO
            log.log(level, "channel layer: %s", stats)
        return await self._get_layer().receive(channel)  # what the stock layer's proxy does

    def stats(self) -> dict:
        """Local channels and groups, messages waiting in their queues (all, and the longest queue), and the
        interpreter's allocated blocks (a growing figure with flat queues points elsewhere)."""
        loops = list(self._layers.values())  # one per event loop (a web process has one)
        sizes = [queue.qsize() for layer in loops for queue in layer.channels.values()]
        return {
            "channels": len(sizes),
            "groups": sum(len(layer.groups) for layer in loops),
            "members": sum(len(members) for layer in loops for members in layer.groups.values()),
            "queued": sum(sizes),
            "longest": max(sizes, default=0),
            "blocks": sys.getallocatedblocks(),
        }
