"""The learnt rate of vendors that publish none (Metrotec, iTrack): real Redis, real simulators."""

import time

import pytest

from fleet.vendors import ratelimit, sync
from tests.vendors.conftest import itrack_account, metrotec_account, stored_keys, truth_keys

ADAPTIVE = ratelimit.Adaptive(ceiling=40.0, step=10.0)


def fresh(bucket: str) -> str:
    ratelimit.client().delete(ratelimit.key(bucket))
    return bucket


def test_an_adaptive_bucket_starts_fast_then_grows_by_its_step_per_second_of_traffic_up_to_its_ceiling():
    bucket = fresh("adaptive-test-grow")
    for _ in range(10):  # slow start: a tenth more per token until the first refusal
        assert ratelimit.take(bucket, 10.0, 20, ADAPTIVE) == 0.0
    assert ratelimit.state(bucket, 10.0, 20, ADAPTIVE)["rate"] == pytest.approx(10 * 1.1**10)
    assert ratelimit.slow_down(bucket, 10.0) == pytest.approx(5 * 1.1**10)  # 12.97
    for _ in range(13):  # about a second of traffic at the halved rate: additive now, 10/s per second
        ratelimit.acquire(bucket, 10.0, 20, adaptive=ADAPTIVE)
    grown = ratelimit.state(bucket, 10.0, 20, ADAPTIVE)["rate"]
    assert 19.5 < grown < 22.0  # 12.97 + 10/s per second × (13 tokens at ~17/s): not slow start's 12.97 × 1.1^13
    quick = ratelimit.Adaptive(ceiling=40.0, step=200.0)
    for _ in range(60):  # tokens waited for, as a worker does
        ratelimit.acquire(bucket, 10.0, 20, adaptive=quick)
    assert ratelimit.state(bucket, 10.0, 20, quick)["rate"] == 40.0
    assert ratelimit.state(bucket, 10.0, 20)["rate"] == 10.0  # read as a fixed bucket: the configured rate


def test_a_refusal_halves_the_rate_down_to_a_floor_and_growth_starts_from_there():
    bucket = fresh("adaptive-test-slow")
    assert ratelimit.slow_down(bucket, 10.0) == 5.0  # no traffic yet: half the configured rate
    assert ratelimit.slow_down(bucket, 10.0) == 2.5
    for _ in range(10):
        ratelimit.slow_down(bucket, 10.0)
    assert ratelimit.slow_down(bucket, 10.0) == ratelimit.FLOOR
    waits = [ratelimit.take(bucket, 10.0, 20, ADAPTIVE) for _ in range(3)]
    assert waits[0] == 0.0 and waits[-1] > 0.5  # the burst is two seconds' worth of the learnt rate (1 token)


def test_a_fixed_bucket_is_not_changed_by_the_adaptive_script():
    bucket = fresh("adaptive-test-fixed")
    waits = [ratelimit.take(bucket, 10.0, 3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] > 0
    assert ratelimit.client().hget(ratelimit.key(bucket), "rate") is None


@pytest.mark.django_db(transaction=True)
def test_metrotec_refusals_slow_the_account_down_and_the_sync_still_ends_complete(simulator, settings):
    settings.METROTEC_RATE, settings.METROTEC_RATE_MAX = 30.0, 300.0
    sim = simulator("metrotec", devices=6)
    account = metrotec_account(sim)
    sim.set_faults(rate_limit={"every": 6, "retry_after": 0.2})
    run = sync.sync_account(account)
    assert run.status == "ok", run.error  # each 429 asked again once the bucket lets it, not a rescheduled run
    refused = sim.stats()["faults"]["rate_limit"]
    assert refused >= 2
    learnt = ratelimit.state(str(account.pk), 30.0, 60, ratelimit.Adaptive(300.0, 15.0))["rate"]
    assert learnt < 30.0  # halved at each refusal, more than the little traffic grew it back
    assert stored_keys(account) == truth_keys(sim.truth(all=True))


@pytest.mark.django_db(transaction=True)
def test_an_answering_vendor_lets_the_rate_grow_past_where_it_started(simulator, settings):
    settings.ITRACK_RATE, settings.ITRACK_RATE_MAX = 5.0, 100.0
    sim = simulator("itrack", devices=20, history=600)
    account = itrack_account(sim)
    started = time.monotonic()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    learnt = ratelimit.state(str(account.pk), 5.0, 10, ratelimit.Adaptive(100.0, 2.5))["rate"]
    assert learnt > 5.0
    # 20 track/read calls and the rest: at a fixed 5/s (burst 10) this takes over 3 s; learning, less
    assert sim.stats()["requests"] >= 25 and time.monotonic() - started < 60
    assert stored_keys(account) == truth_keys(sim.truth(all=True))
