"""A token bucket per vendor account (or per vendor client that several accounts share) in Redis, shared by
every worker and the stream process. A bucket can be held shut until a moment: when the vendor's own headers
say its window is spent, or after a 429 (every worker then waits, not only the one that was refused).

An **adaptive** bucket (for vendors that publish no rate: Metrotec, iTrack/Navixy) keeps its own rate in Redis,
as TCP keeps its window: it starts at the configured rate and grows by a tenth per request until the vendor
first refuses or fails one (slow start), then by ``step`` requests/s for every second of traffic it lets through
(additive increase), never past a ceiling, and halves whenever the vendor refuses or fails a request
(``slow_down``: a 429 / Navixy's code 15, a 5xx, a timeout). Shared by every worker, so the whole installation
backs off together."""

import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

from fleet.vendors.errors import RateLimited

# KEYS[1] bucket; ARGV rate/s, burst, now (s), ceiling, step (ceiling 0: a fixed rate). Returns seconds to wait
# (0 = token taken). Adaptive: the bucket's own rate (ARGV rate at first) grows by a tenth per token taken until the
# vendor first refuses (slow start: doubling in about seven requests); after that by step/rate per token, i.e. by
# ``step`` requests/s per second of traffic, and by a tenth at most (climbing back from a slow rate takes a few
# dozen requests, not one); never past the ceiling. The burst is two seconds' worth of the rate.
TAKE = """
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'hold', 'rate', 'slowed')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ceiling, step = tonumber(ARGV[4]) or 0, tonumber(ARGV[5]) or 0
if ceiling > 0 then
  rate = math.min(ceiling, tonumber(b[4]) or rate)
  burst = math.max(1, rate * 2)
end
local tokens, ts, hold = tonumber(b[1]) or burst, tonumber(b[2]) or now, tonumber(b[3]) or 0
if now < hold then return tostring(hold - now) end
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
if ceiling > 0 and wait == 0 then
  local grow = rate / 10
  if b[5] then grow = math.min(step / rate, grow) end
  redis.call('HSET', KEYS[1], 'rate', math.min(ceiling, rate + grow))
end
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 600)
return tostring(wait)
"""
# KEYS[1] bucket; ARGV rate/s (when the bucket has none yet), floor: halve an adaptive bucket's rate.
SLOW = """
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate')) or tonumber(ARGV[1])
rate = math.max(tonumber(ARGV[2]), rate / 2)
redis.call('HSET', KEYS[1], 'rate', rate, 'slowed', 1)
redis.call('HSETNX', KEYS[1], 'ts', ARGV[3])
redis.call('EXPIRE', KEYS[1], 900)
return tostring(rate)
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


FLOOR = 0.5  # requests/s: the least an adaptive bucket slows down to


@dataclass(frozen=True)
class Adaptive:
    """An adaptive bucket's ceiling (requests/s) and its additive step (requests/s per second of traffic)."""

    ceiling: float
    step: float


def take(bucket: int | str, rate: float, burst: int, adaptive: Adaptive | None = None) -> float:
    """Take one token; return how long the caller must wait first (0 when a token was free)."""
    ceiling, step = (adaptive.ceiling, adaptive.step) if adaptive else (0, 0)
    return float(_script(TAKE)(keys=[key(bucket)], args=[rate, burst, time.time(), ceiling, step]))


def slow_down(bucket: int | str, rate: float) -> float:
    """Halve an adaptive bucket's rate (the vendor refused or failed a request); return the new rate."""
    return float(_script(SLOW)(keys=[key(bucket)], args=[rate, FLOOR, time.time()]))


def acquire(
    bucket: int | str, rate: float, burst: int, max_wait: float = 30.0, adaptive: Adaptive | None = None
) -> None:
    """Wait for a token; a wait longer than ``max_wait`` (a bucket held shut after a 429) is not slept in a
    worker: it raises RateLimited, and the sync is scheduled again after it."""
    waited = 0.0
    while (wait := take(bucket, rate, burst, adaptive)) > 0:
        if waited + wait > max_wait:
            raise RateLimited(wait)
        time.sleep(wait)
        waited += wait


def hold(bucket: int | str, until: float) -> None:
    """No token from ``bucket`` before the Unix time ``until``."""
    _script(HOLD)(keys=[key(bucket)], args=[until, time.time()])


def state(bucket: int | str, rate: float, burst: int, adaptive: Adaptive | None = None) -> dict[str, float]:
    """What the bucket holds now without taking anything: ``tokens``, ``next_call`` (Unix time) and ``rate``."""
    tokens, ts, held, learnt = client().hmget(key(bucket), "tokens", "ts", "hold", "rate")
    if adaptive is not None and learnt is not None:
        rate = min(adaptive.ceiling, float(learnt))
        burst = max(1, rate * 2)
    now = time.time()
    held_until = float(held or 0)
    level = burst if tokens is None else min(burst, float(tokens) + max(0.0, now - float(ts or now)) * rate)
    next_call = max(held_until, now if level >= 1 else now + (1 - level) / rate)
    return {"tokens": round(max(0.0, level), 2), "next_call": next_call, "held_until": held_until, "rate": rate}
