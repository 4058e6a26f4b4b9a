"""The channel layer: Redis pub/sub, decoding each group message once per process.

The pub/sub receiver hands the same bytes object to every local channel in a group, and the stock
layer decodes it once per socket; with 10 sockets of one organisation in a process that was the
largest cost of a web process. Consumers must treat layer messages as read-only (ours do).
"""

from collections import deque

from channels_redis.pubsub import RedisPubSubChannelLayer


class SharedDecodePubSubLayer(RedisPubSubChannelLayer):
    recent_size = 32

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._recent: deque[tuple[bytes, dict]] = deque(maxlen=self.recent_size)

    def deserialize(self, message: bytes) -> dict:
        for raw, decoded in self._recent:
            if raw is message:  # the very object, kept alive here, so identity cannot be reused
                return decoded
        decoded = super().deserialize(message)
        self._recent.append((message, decoded))
        return decoded
