"""A token bucket per vendor account (or per vendor client that several accounts share) in Redis, shared by
every worker and the stream process. A bucket can be held shut until a moment: when the vendor's own headers
say its window is spent, or after a 429 (every worker then waits, not only the one that was refused)."""

import time
from functools import cache

import redis
from django.conf import settings

from fleet.vendors.errors import RateLimited

# KEYS[1] bucket; ARGV rate/s, burst, now (s). Returns seconds to wait (0 = token taken).
TAKE = """
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'hold')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, ts, hold = tonumber(b[1]) or burst, tonumber(b[2]) or now, tonumber(b[3]) or 0
if now < hold then return tostring(hold - now) end
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""
# KEYS[1] bucket; ARGV until (s), now (s): keep the bucket shut until then (a later hold wins), and empty it.
HOLD = """
local till, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold')) or 0
if till > hold then redis.call('HSET', KEYS[1], 'hold', till, 'tokens', 0, 'ts', till) end
redis.call('EXPIRE', KEYS[1], math.ceil(math.max(till, hold) - now) + 120)
return 1
"""


@cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@cache
def _script(source: str):
    return client().register_script(source)


def key(bucket: int | str) -> str:
    return f"fleet:bucket:{bucket}"


def take(bucket: int | str, rate: float, burst: int) -> float:
    """Take one token; return how long the caller must wait first (0 when a token was free)."""
    return float(_script(TAKE)(keys=[key(bucket)], args=[rate, burst, time.time()]))


def acquire(bucket: int | str, rate: float, burst: int, max_wait: float = 30.0) -> None:
    """Wait for a token; a wait longer than ``max_wait`` (a bucket held shut after a 429) is not slept in a
    worker: it raises RateLimited, and the sync is scheduled again after it."""
    waited = 0.0
    while (wait := take(bucket, rate, burst)) > 0:
        if waited + wait > max_wait:
            raise RateLimited(wait)
        time.sleep(wait)
        waited += wait


def hold(bucket: int | str, until: float) -> None:
    """No token from ``bucket`` before the Unix time ``until``."""
    _script(HOLD)(keys=[key(bucket)], args=[until, time.time()])


def state(bucket: int | str, rate: float, burst: int) -> dict[str, float]:
    """What the bucket holds now without taking anything: ``tokens`` and ``next_call`` (Unix time)."""
    tokens, ts, held = client().hmget(key(bucket), "tokens", "ts", "hold")
    now = time.time()
    held_until = float(held or 0)
    level = burst if tokens is None else min(burst, float(tokens) + max(0.0, now - float(ts or now)) * rate)
    next_call = max(held_until, now if level >= 1 else now + (1 - level) / rate)
    return {"tokens": round(max(0.0, level), 2), "next_call": next_call, "held_until": held_until}
