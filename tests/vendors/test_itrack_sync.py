"""The iTrack connector against its simulator over real HTTP: stored data equals the ground truth after a full
sync, an incremental one and every fault of the vendor (session ends, rate limit, time spans too big, history
limits, blocked trackers); both auth modes; times in the user's zone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fleet.tracking.models import Device, Driver, Event, Position
from fleet.vendors import ratelimit, sync
from fleet.vendors.models import VendorAccount
from tests.vendors.conftest import itrack_account, stored_keys, sync_until_ok, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)


def served_keys(truth: dict, blocked: set | None = None) -> list[tuple[str, str]]:
    blocked = blocked or set()
    return [k for k in truth_keys(truth) if int(k[0]) not in blocked]


def stored_events(account: VendorAccount) -> list[tuple[str, str]]:
    rows = Event.objects.filter(device__account=account, source="vendor").values_list("key", "type")
    return sorted((v, t) for v, t in rows)


def truth_events(truth: dict) -> list[tuple[str, str]]:
    names = {"track_start": "deviceMoving", "track_end": "deviceStopped", "speedup": "deviceOverspeed"}
    return sorted((str(e["id"]), names.get(e["event"], e["event"])) for e in truth["events"])


@pytest.fixture
def itrack(simulator):
    sim = simulator("itrack", devices=5)
    return sim, itrack_account(sim)


def test_a_full_sync_equals_the_simulators_ground_truth(itrack):
    sim, account = itrack
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert len(truth["positions"]) > 100
    assert stored_keys(account) == truth_keys(truth)
    devices = Device.objects.filter(account=account)
    assert sorted(devices.values_list("vendor_id", flat=True)) == sorted(str(d["id"]) for d in truth["devices"])
    assert {d.name for d in devices} == {d["name"] for d in truth["devices"]}
    assert {d.unique_id for d in devices} == {d["uniqueId"] for d in truth["devices"]}
    assert Driver.objects.filter(account=account).count() == len(truth["employees"])
    attached = {
        str(e["tracker_id"]): f"{e['first_name']} {e['last_name']}" for e in truth["employees"] if e["tracker_id"]
    }
    assert {d.vendor_id: d.driver.name for d in devices.select_related("driver") if d.driver} == attached
    served = sim.truth()
    assert stored_events(account) == truth_events(served) and len(served["events"]) > 5
    assert Event.objects.filter(device__account=account, type="parking").exists()  # unknown: kept by name


def test_times_in_the_users_zone_become_utc(itrack):
    sim, account = itrack
    sync.sync_account(account)
    truth = {(str(p["deviceId"]), p["fixTime"]): p for p in sim.truth(all=True)["positions"]}
    for position in Position.objects.filter(device__account=account)[:50]:
        key = (position.device.vendor_id, position.fix_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert key in truth  # Helsinki wall clock read back to the UTC instant the simulator served
        assert abs(truth[key]["latitude"] - position.latitude) < 1e-9


def test_an_incremental_sync_fetches_only_what_is_new(simulator):
    sim = simulator("itrack", devices=4, lag=600)
    account = itrack_account(sim)
    assert sync.sync_account(account).status == "ok"
    before = len(stored_keys(account))
    account.refresh_from_db()
    assert sync.sync_account(account).counts["positions"].get("created", 0) == 0
    sim.clock(advance=600)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert run.counts["positions"]["created"] > 0 and len(stored_keys(account)) > before
    assert stored_keys(account) == truth_keys(sim.truth(all=True))
    assert stored_events(account) == truth_events(sim.truth())


def test_the_api_key_mode_needs_no_login(simulator):
    sim = simulator("itrack", devices=3)
    account = itrack_account(sim, token="demo-token")
    assert sync.sync_account(account).status == "ok"
    assert sim.stats()["logins"] == 0
    assert stored_keys(account) == truth_keys(sim.truth(all=True))


def test_bad_credentials_disable_the_account(simulator):
    sim = simulator("itrack", devices=2)
    org = None
    wrong = ({"username": "demo", "password": "wrong"}, {"token": "f" * 32}, {"username": "demo", "password": "demo"})
    for n, creds in enumerate(wrong):
        creds |= {"dealer_id": "7"} if n == 2 else {}  # a dealer the platform does not know
        account = itrack_account(sim, org=org, name=f"wrong {n}", **creds)
        org = account.organization
        run = sync.sync_account(account)
        account.refresh_from_db()
        assert run.status == "error" and account.disabled_by_error, run.error
        assert "refused" in account.last_error


def test_a_dealer_id_goes_with_the_login(simulator):
    sim = simulator("itrack", devices=2)
    account = itrack_account(sim, username="demo", password="demo", dealer_id="1")
    assert sync.sync_account(account).status == "ok"
    assert sim.stats()["logins"] == 1


def test_an_ended_session_is_renewed_once(itrack):
    sim, account = itrack
    sim.set_faults(session_expire=0.001)  # every hash ends as soon as it is issued
    run = sync.sync_account(account)
    assert run.status != "ok" and "still refused after logging in again" in run.error
    sim.set_faults(session_expire=None, expire_sessions=True)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert sim.stats()["logins"] >= 2
    assert stored_keys(account) == truth_keys(sim.truth(all=True))


def test_too_many_requests_take_the_shared_rate_limit_path(itrack, settings):
    """Code 15 (HTTP 429): the account's learnt rate halves, the bucket is held for Retry-After, the request is
    asked again, and the sync ends complete; a Retry-After too long to wait in a worker reschedules the run."""
    sim, account = itrack
    sim.set_faults(too_many_requests={"every": 5, "retry_after": 0.5})
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert sim.stats()["faults"]["too_many_requests"] >= 2
    adaptive = ratelimit.Adaptive(settings.ITRACK_RATE_MAX, settings.ITRACK_RATE)
    assert ratelimit.state(str(account.pk), settings.ITRACK_RATE, 40, adaptive)["rate"] < settings.ITRACK_RATE
    assert stored_keys(account) == truth_keys(sim.truth(all=True))
    sim.set_faults(too_many_requests={"every": 1, "retry_after": 45})
    sim.clock(advance=300)
    account.refresh_from_db()
    run = sync.sync_account(account)
    account.refresh_from_db()
    assert run.status != "ok" and "rate limited by the vendor, retry after 4" in run.error  # 44.x or 45 s
    assert account.next_run - timezone.now() > timedelta(seconds=40) and not account.disabled_by_error
    sim.set_faults(too_many_requests=None)
    ratelimit.client().delete(ratelimit.key(account.pk))  # the 45 s pass
    assert sync_until_ok(account)[-1].status == "ok"
    assert stored_keys(account) == truth_keys(sim.truth(all=True))


@pytest.mark.parametrize("in_flight", [1, 8])
def test_history_needing_span_splitting_and_from_paging_is_complete(simulator, settings, in_flight):
    """Several trackers read at once learn the same limits as one at a time: a 211 or 212 answered to requests
    in flight together shrinks the window once, from what was asked (not once more per refusal)."""
    settings.ITRACK_CONCURRENCY = in_flight
    sim = simulator("itrack", devices=3, history=5400)
    account = itrack_account(sim)
    sim.set_faults(span_limit_days=0.02, history_limit=20)  # windows under 29 minutes, 20 rows an answer
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    stats = sim.stats()
    assert stats["faults"]["history_limit"] >= 6  # every window of every tracker paged by ``from``
    assert stats["requests"] < 100  # a 22-minute window learnt once, not halved by every parallel refusal
    assert stored_keys(account) == truth_keys(sim.truth(all=True))
    assert stored_events(account) == truth_events(sim.truth())
    with sync.connector_for(account) as connector:
        connector.devices()  # a fresh connector learns the limits again
        assert connector.max_span.total_seconds() > 0


def test_a_range_beyond_the_tariffs_storage_is_noted_not_asked_again(simulator):
    sim = simulator("itrack", devices=3)
    account = itrack_account(sim)
    sim.set_faults(storage_days=0.005)  # the last 7.2 minutes are kept
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert run.counts["positions"]["notes"] == {"beyond the tariff's storage period": 3}  # one per tracker
    served = sim.truth()
    assert stored_keys(account) == truth_keys(served)  # the latest states: what the vendor gave, nothing lost
    assert len(truth_keys(served)) == 3 < len(truth_keys(sim.truth(all=True)))
    assert sim.stats()["faults"]["storage_days"] == 3  # asked once per tracker, not again


def test_blocked_trackers_are_counted_not_fatal(simulator):
    sim = simulator("itrack", devices=4)
    account = itrack_account(sim)
    assert sync.sync_account(account).status == "ok"
    sim.set_faults(tracker_blocked={"count": 1, "code": 204})
    sim.clock(advance=300)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    blocked = set(sim.truth()["blocked"])
    assert len(blocked) == 1
    reasons = run.counts["positions"]["reasons"]
    assert any("blocked" in r or "tracker" in r for r in reasons), reasons
    assert run.counts["events"]["rejected"] >= 1
    stored = {k for k in stored_keys(account) if int(k[0]) not in blocked}
    assert sorted(stored) == served_keys(sim.truth(all=True), blocked)


def test_a_tracker_blocked_by_tariff_is_disabled(simulator):
    sim = simulator("itrack", devices=3)
    account = itrack_account(sim)
    sim.set_faults(tracker_blocked={"count": 1, "code": 208})
    assert sync.sync_account(account).status == "ok"
    blocked = set(sim.truth()["blocked"])
    assert set(Device.objects.filter(account=account, disabled=True).values_list("vendor_id", flat=True)) == {
        str(b) for b in blocked
    }
    assert sorted(stored_keys(account)) == served_keys(sim.truth(all=True), blocked)


@pytest.mark.parametrize(
    "knobs",
    [
        {"errors": {"count": 2, "status": 500}},
        {"malformed": {"count": 2}},
        {"duplicates": 0.2},
        {"bad_positions": 0.05},
    ],
)
def test_shared_faults_lose_nothing(itrack, knobs):
    sim, account = itrack
    sim.set_faults(**knobs)
    assert sync_until_ok(account)[-1].status == "ok"
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    if "bad_positions" in knobs:
        assert any(p["bad"] for p in truth["positions"])
