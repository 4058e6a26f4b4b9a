"""Celery's Redis broker transport, mended so that a worker outlives a Redis restart with tasks in flight.

kombu 5.x (5.7.0 at the time of writing, the newest): when the broker's socket drops, Celery's consumer first
``collect()``s the connection — kombu closes the default channel (the restore of its unacknowledged messages
fails on the dead socket: a connection error, ignored, and the channel stays open) and then detaches the
transport (``transport.client = None``) — and then ``close()``s it, which closes that channel again. The second
close restores the unacknowledged messages once more, needs a fresh connection pool, and reads its parameters
from ``transport.client``: ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which neither
kombu nor Celery expect (they ignore connection and channel errors only), so the worker logs "Unrecoverable
error" and exits. The soak saw it at about one Redis restart in two (docs/soak.md).

Here the channel raises a connection error instead once its transport is detached: the close is ignored as
the first one was, and the consumer reconnects as it does for any other broker outage. No message is lost by
it: the unacknowledged ones stay in Redis's ``unacked`` hash, and a worker restores them to their queue after
the visibility timeout, as it does for a worker killed outright (the lost Redis's own, without persistence,
were gone with it anyway).

``fleet.settings`` names this transport for a ``redis://`` broker (``CELERY_BROKER_TRANSPORT``). A ``rediss://``
(TLS) broker keeps kombu's own: naming a transport skips kombu's check that its TLS options were given.
"""

from __future__ import annotations

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:  # the transport was detached from its connection: it is closed
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
