"""A token bucket per vendor account in Redis, shared by every worker and the stream process."""

import time
from functools import cache

import redis
from django.conf import settings

# KEYS[1] bucket; ARGV rate/s, burst, now (s). Returns seconds to wait (0 = token taken).
TAKE = """
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


@cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@cache
def _script():
    return client().register_script(TAKE)


def take(account_id: int, rate: float, burst: int) -> float:
    """Take one token; return how long the caller must wait first (0 when a token was free)."""
    return float(_script()(keys=[f"fleet:bucket:{account_id}"], args=[rate, burst, time.time()]))


def acquire(account_id: int, rate: float, burst: int, max_wait: float = 30.0) -> None:
    waited = 0.0
    while (wait := take(account_id, rate, burst)) > 0 and waited < max_wait:
        time.sleep(wait)
        waited += wait
