"""fleet-v2 (Telemax) against its simulator over real HTTP: what is stored equals what the simulator served."""

import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.utils import timezone

from fleet.tracking import services
from fleet.tracking.models import Device, Event, Position
from fleet.vendors import ratelimit, summary, sync
from fleet.vendors.fleetv2 import renew_at, sunset_key
from fleet.vendors.models import VendorAccount
from tests.vendors.conftest import make_sim_account, stored_keys, sync_until_ok, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "6f1c2d7e-4b1a-4c55-9a3e-2f0d8b7c9e11"


@pytest.fixture(autouse=True)
def short_window(settings):
    """The simulator counts its limits over 6 s in these tests (60 at the vendor); so does the connector."""
    settings.FLEETV2_RATE_WINDOW_S = 6.0


def fleetv2(simulator, **opts):
    opts.setdefault("token", API_KEY)
    opts.setdefault("rate_window", 6.0)
    return simulator("fleetv2", **opts)


def account_on(sim, org=None, name="fleetv2-sim", **creds):
    return make_sim_account(sim, "fleetv2", org=org, name=name, **(creds or {"token": API_KEY}))


def stored_alerts(account) -> list[tuple[str, str, str]]:
    rows = Event.objects.filter(device__account=account, source="vendor").values_list(
        "device__vendor_id", "key", "type"
    )
    return sorted(rows)


def truth_alerts(truth) -> list[tuple[str, str, str]]:
    names = {7: "deviceOverspeed", 18: "ignitionOn", 19: "ignitionOff", 24: "geofenceEnter", 25: "geofenceExit"}
    return sorted((str(a["deviceId"]), f"{a['id']}@{a['utcTime']}", names[a["code"]]) for a in truth["alerts"])


def clear_buckets():
    client = ratelimit.client()
    for key in client.scan_iter("fleet:bucket:fleetv2:*"):
        client.delete(key)
    for key in client.scan_iter("fleet:sunset:*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def fresh_buckets():
    clear_buckets()
    yield
    clear_buckets()


def test_a_full_sync_stores_exactly_what_the_simulator_served(simulator):
    sim = fleetv2(simulator, devices=6, history=1800, frozen=True)
    account = account_on(sim)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert stored_alerts(account) == truth_alerts(truth)
    assert {"ignitionOn", "ignitionOff"} <= {t for _d, _k, t in stored_alerts(account)}
    devices = {d.vendor_id: d for d in Device.objects.filter(account=account)}
    assert {str(v) for v in truth["imeis"].values()} == set(devices)
    assert {d.unique_id: int(d.vendor_id) for d in devices.values()} == truth["imeis"]
    for vendor_id, battery in truth["battery"].items():
        health = devices[vendor_id].attributes["battery_health"]
        assert health["voltage"] == battery["voltage"]
        assert health["prediction"] == battery["prediction"]
    # positions stored after the devices step move last_update on to when fleet heard them (all vendors do)
    assert all(iso(d.last_update) >= truth["last_online"][v] for v, d in devices.items())
    assert run.counts["alert_rules"]["items"] == rules_of(truth)
    assert run.counts["alert_rules"]["fetched"] == run.counts["alert_rules"]["created"] == len(rules_of(truth))
    assert sim.stats()["rate_limited"] == 0


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def rules_of(truth) -> list[dict]:
    events = {"Overspeed": "deviceOverspeed", "Ignition On": "ignitionOn", "Ignition Off": "ignitionOff"}
    events |= {"Geofence Enter": "geofenceEnter", "Geofence Exit": "geofenceExit"}
    return [
        {
            "id": str(c["id"]),
            "name": c["name"],
            "type": c["alertType"],
            "event": events[c["alertType"]],
            "enabled": c["enabled"],
        }
        for c in truth["alert_configs"]
    ]


def devices_step(account) -> dict[str, str | None]:
    """The sync's devices step alone: what it stores as each vehicle's last update."""
    with sync.connector_for(account) as connector:
        services.upsert_devices(account.organization_id, account.pk, connector.devices())
    return {d.vendor_id: iso(d.last_update) for d in Device.objects.filter(account=account)}


def test_the_devices_step_stores_each_vehicles_last_time_online(simulator):
    sim = fleetv2(simulator, devices=4, history=1800, frozen=True)
    account = account_on(sim)
    truth = sim.truth(all=True)
    assert devices_step(account) == truth["last_online"] and None not in truth["last_online"].values()


def test_a_vehicle_never_online_is_listed_with_no_last_update_until_it_reports(simulator):
    sim = fleetv2(simulator, devices=3, history=600, lag=600, frozen=True)  # sim now: the model's start
    account = account_on(sim)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert set(truth["last_online"].values()) == {None}
    stored = {d.vendor_id: d.last_update for d in Device.objects.filter(account=account)}
    assert stored == dict.fromkeys(truth["last_online"]) and set(truth["imeis"].values()) == set(map(int, stored))
    sim.clock(advance=600)
    account.refresh_from_db()
    stored = devices_step(account)
    assert stored == sim.truth(all=True)["last_online"] and None not in stored.values()


def test_an_incremental_sync_adds_only_what_is_new_and_loses_nothing(simulator):
    sim = fleetv2(simulator, devices=5, history=1800, lag=900)
    account = account_on(sim)
    assert sync.sync_account(account).status == "ok"
    sim.clock(advance=900)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    sim.clock(freeze=True)
    account.refresh_from_db()
    sync.sync_account(account)
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert stored_alerts(account) == truth_alerts(truth)


def test_a_vehicle_the_vendor_stops_listing_is_retired_and_the_others_are_kept(simulator):
    sim = fleetv2(simulator, devices=3, history=600, frozen=True)
    account = account_on(sim)
    sync.sync_account(account)
    account.refresh_from_db()
    sync.sync_account(account)
    assert Device.objects.filter(account=account, retired__isnull=True).count() == 3


def assert_matches_truth(sim, account) -> None:
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert Position.objects.filter(device__account=account).count() == len(truth_keys(truth))
    assert stored_alerts(account) == truth_alerts(truth)


@pytest.mark.parametrize(
    "knob",
    [
        pytest.param({"errors": {"status": 503, "count": 3}}, id="503-burst"),
        pytest.param({"slow": {"delay": 3, "count": 2}}, id="slower-than-timeout"),
        pytest.param({"malformed": {"count": 2, "mode": "truncated"}}, id="truncated-json"),
        pytest.param({"malformed": {"count": 1, "mode": "garbage"}}, id="garbage-body"),
        pytest.param({"expire_sessions": True}, id="expired-token"),
        pytest.param({"empty_401": True, "token_expiry": 1.5}, id="short-tokens-401-without-body"),
        pytest.param({"duplicates": 0.3}, id="duplicated-positions"),
        pytest.param({"strict_limits": False}, id="global-limit-only"),
    ],
)
def test_a_fault_alone_ends_with_the_vendors_data_stored_once(simulator, knob):
    sim = fleetv2(simulator, devices=5, history=1800, frozen=True)
    account = account_on(sim)
    sim.set_faults(**knob)
    runs = sync_until_ok(account, tries=8)
    assert runs[-1].status == "ok", [r.error for r in runs]
    assert_matches_truth(sim, account)


def test_late_positions_are_picked_up_by_the_lookback(simulator):
    sim = fleetv2(simulator, devices=4, history=1800, lag=900)
    account = account_on(sim)
    sim.set_faults(out_of_order={"fraction": 0.3, "delay": 90})
    sim.clock(advance=300)
    assert sync.sync_account(account).status == "ok"
    for _ in range(3):
        sim.clock(advance=200)
        account.refresh_from_db()
        assert sync.sync_account(account).status == "ok"
    sim.clock(freeze=True)
    account.refresh_from_db()
    sync.sync_account(account)
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)


def test_bad_positions_are_rejected_and_counted_while_their_batch_is_stored(simulator):
    sim = fleetv2(simulator, devices=4, history=1800, frozen=True)
    account = account_on(sim)
    sim.set_faults(bad_positions=0.05)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    bad = [p for p in truth["positions"] if p["bad"]]
    assert bad and run.counts["positions"]["rejected"] >= len(bad)
    assert stored_keys(account) == truth_keys(truth)


def test_a_token_that_expires_mid_sync_is_bought_again_and_nothing_is_lost(simulator):
    """Tokens that live 0.6 s: the connector renews them before they run out (a fifth of the lifetime early),
    and a token the vendor ends early (a 401 with no body) is bought again once."""
    sim = fleetv2(simulator, devices=10, history=3600, frozen=True)
    sim.set_faults(token_expiry=0.6, empty_401=True)
    account = account_on(sim)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert sim.stats()["logins"] >= 2
    assert_matches_truth(sim, account)


def test_a_401_without_a_body_mid_sync_logs_in_again_once(simulator, monkeypatch):
    sim = fleetv2(simulator, devices=4, history=1800, frozen=True)
    sim.set_faults(empty_401=True)
    account = account_on(sim)
    real = services.upsert_devices

    def expire_after_devices(*args, **kwargs):
        result = real(*args, **kwargs)
        sim.set_faults(expire_sessions=True)
        return result

    monkeypatch.setattr(services, "upsert_devices", expire_after_devices)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert sim.stats()["logins"] == 2 and sim.stats()["unauthorized"] == 1
    assert_matches_truth(sim, account)


def test_tokens_are_renewed_five_minutes_before_they_expire():
    assert renew_at(86399, 1000.0) == 1000.0 + 86399 - 300
    assert renew_at("86399.0", 0.0) == 86099.0
    assert renew_at(3600, 0.0) == 3300.0
    assert renew_at(100, 0.0) == 80.0  # a short lifetime: a fifth of it early
    assert renew_at(None, 0.0) is None and renew_at("soon", 0.0) is None


def test_user_and_password_buy_a_token_on_the_user_route(simulator):
    sim = fleetv2(simulator, devices=2, history=600, frozen=True)
    account = account_on(sim, username="demo", password="demo")
    assert sync.sync_account(account).status == "ok"
    assert sim.stats()["logins"] == 1


def test_wrong_credentials_disable_the_account_with_a_plain_reason(simulator):
    sim = fleetv2(simulator, devices=2, history=600, frozen=True)
    account = account_on(sim, token="not-the-key")
    run = sync.sync_account(account)
    account.refresh_from_db()
    assert run.status == "error" and "login refused" in run.error
    assert account.disabled_by_error


def test_an_answer_without_api_version_2_is_refused(simulator, monkeypatch):
    from fleet.vendors import fleetv2 as module

    sim = fleetv2(simulator, devices=2, history=600, frozen=True)
    account = account_on(sim)
    with sync.connector_for(account) as connector:
        connector.login()
        response = httpx.Response(200, headers={"X-API-Version": "3"})
        with pytest.raises(module.VendorError, match="version 2"):
            connector._seen("/api/v2/companies", response)


def test_alerts_are_marked_read_on_v2_and_the_legacy_route_always_marks_read(simulator):
    sim = fleetv2(simulator, devices=4, history=1800, frozen=True)
    account = account_on(sim)
    sync.sync_account(account)
    first, second = Event.objects.filter(device__account=account, source="vendor").order_by("time")[:2]
    with sync.connector_for(account) as connector:
        connector.mark_alert_read(first.key)
        connector.mark_alert_read(second.key, read=False)
        connector.call(
            "POST",
            "/api/SetAlertAsRead",
            params={"id": second.key.split("@")[0], "date": second.key.split("@")[1], "isRead": "false"},
        )
    read = {f"{a['id']}@{a['utcTime']}": a["isRead"] for a in sim.truth()["alerts"]}
    assert read[first.key] is True
    assert read[second.key] is True  # V1 ignores isRead=false


def test_an_imei_is_looked_up_to_its_vehicle_id(simulator):
    sim = fleetv2(simulator, devices=3, history=600, frozen=True)
    account = account_on(sim)
    imeis = sim.truth()["imeis"]
    with sync.connector_for(account) as connector:
        for imei, vehicle in imeis.items():
            assert connector.vehicle_for_imei(imei) == str(vehicle)
        assert connector.vehicle_for_imei("000000000000000") is None


def test_the_legacy_positions_route_gives_the_same_positions_as_v2(simulator):
    sim = fleetv2(simulator, devices=2, history=1200, frozen=True)
    account = account_on(sim)
    until = datetime.now(UTC)
    since = until - timedelta(hours=2)
    with sync.connector_for(account) as connector:
        vehicle = str(next(iter(sim.truth()["imeis"].values())))
        v2 = [r for batch in connector.positions(since, until, [vehicle]) for r in batch]
        v1 = connector.legacy_positions(vehicle, since, until)
    assert v1 and [(r.fix_time, r.latitude, r.longitude) for r in v1] == [
        (r.fix_time, r.latitude, r.longitude) for r in v2
    ]
    assert [r.attributes["odometer_m"] for r in v1] == [r.attributes["odometer_m"] for r in v2]


def test_the_sunset_of_a_legacy_route_is_logged_once_per_account_and_kept(simulator, caplog):
    sim = fleetv2(simulator, devices=2, history=600, frozen=True)
    account = account_on(sim)
    with caplog.at_level(logging.WARNING, logger="fleet.vendors.fleetv2"):
        for _ in range(2):
            account.refresh_from_db()
            assert sync.sync_account(account).status == "ok"
    warnings = [r for r in caplog.records if "Sunset" in r.getMessage()]
    assert len(warnings) == 1
    assert b"2027" in ratelimit.client().get(sunset_key(account.pk))


def test_a_429_holds_the_shared_bucket_and_reschedules_after_retry_after_doubling(simulator):
    sim = fleetv2(simulator, devices=3, history=600, frozen=True)
    account = account_on(sim)
    sim.set_faults(rate_limit={"every": 1, "retry_after": 2})
    first = sync.sync_account(account)
    account.refresh_from_db()
    assert first.status == "error" and "rate limited" in first.error
    assert timedelta(seconds=1.5) < account.next_run - timezone.now() <= timedelta(seconds=2)
    with sync.connector_for(account) as connector:  # every worker of this vendor client waits it out
        held = ratelimit.state(connector.http.bucket, *connector.rate)
    assert held["next_call"] > time.time() + 1
    sync.sync_account(account)
    account.refresh_from_db()
    assert timedelta(seconds=3.5) < account.next_run - timezone.now() <= timedelta(seconds=4)
    sim.set_faults(reset=True)
    assert sync_until_ok(account)[-1].status == "ok"
    assert_matches_truth(sim, account)


def test_a_chunk_slowed_by_the_vendors_limits_keeps_the_sync_lock(simulator, monkeypatch):
    """The lock lives LOCK_TTL_S and is renewed after every batch, not only every chunk: at the vendor's pace a
    chunk of vehicles can take longer than the lock lives."""
    from fleet.vendors.fleetv2 import FleetV2Connector

    monkeypatch.setattr(sync, "LOCK_TTL_S", 1)
    monkeypatch.setattr(FleetV2Connector, "position_chunk", 50)
    sim = fleetv2(simulator, devices=24, history=1800, frozen=True)
    account = account_on(sim)
    started = time.monotonic()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert time.monotonic() - started > 2  # twice as long as the lock lives
    assert_matches_truth(sim, account)


def test_a_fleet_bigger_than_a_runs_budget_is_current_at_once_and_complete_in_turns(simulator, settings):
    """fleet-v2 fetches history one request per vehicle at 60 a minute: a run starts no chunk after its budget
    (here: none after the first), and ends ok with the rest deferred and the next run due at once. Every
    vehicle's latest position (from the one company list) is stored by the first run, so the map is current;
    the history follows, the vehicles furthest behind first, until stored = truth."""
    settings.SYNC_POSITIONS_BUDGET_S = 0.0
    sim = fleetv2(simulator, devices=25, history=1800, frozen=True)  # chunks of 10: three runs
    account = account_on(sim)
    truth = truth_keys(sim.truth(all=True))
    newest = {}
    for device, fix in truth:
        newest[device] = max(newest.get(device, fix), fix)

    first = sync.sync_account(account)
    account.refresh_from_db()
    assert first.status == "ok", first.error
    assert first.counts["positions"]["deferred"] == 15
    assert "    15 devices left to the next run (catching up)" in summary.describe(first.counts)  # manage.py sync
    assert account.next_run - timezone.now() <= timedelta(seconds=sync.CATCH_UP_S)
    stored = stored_keys(account)
    assert set(newest.items()) <= set(stored)  # every vehicle's latest, although only 10 have their history
    assert len({d for d, _f in stored if sum(1 for x, _ in stored if x == d) > 1}) == 10

    for _ in range(2):  # each run takes the chunk furthest behind: the vehicles without history first
        account.refresh_from_db()
        run = sync.sync_account(account)
        assert run.status == "ok", run.error
        assert run.counts["positions"]["deferred"] == 15
    assert_matches_truth(sim, account)


def test_a_short_retry_after_is_waited_out_and_the_run_goes_on(simulator):
    """The vendor's retry strategy: wait Retry-After, then ask again; a run is not ended by a short one."""
    sim = fleetv2(simulator, devices=6, history=1800, frozen=True)
    account = account_on(sim)
    sim.set_faults(rate_limit={"every": 4, "retry_after": 1})
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert sim.stats()["faults"]["rate_limit"] >= 3
    assert_matches_truth(sim, account)


def test_a_long_retry_after_mid_run_keeps_what_was_stored_and_comes_back_without_doubling(simulator):
    """Retry-After longer than a worker waits (30 s) after the run stored positions: the run is partial, not
    failed: the errors count is not raised, the next run is due after Retry-After, and nothing is lost."""
    sim = fleetv2(simulator, devices=12, history=1800, frozen=True)
    account = account_on(sim)
    VendorAccount.objects.filter(pk=account.pk).update(consecutive_errors=2)
    sim.set_faults(rate_limit={"every": 16, "retry_after": 45})
    run = sync.sync_account(account)
    account.refresh_from_db()
    assert run.status == "partial" and "rate limited by the vendor, retry after 4" in run.error, run.error
    assert run.fetched > 0 and Position.objects.filter(device__account=account).exists()
    assert account.consecutive_errors == 0
    assert timedelta(seconds=40) < account.next_run - timezone.now() <= timedelta(seconds=45)
    sim.set_faults(reset=True)
    clear_buckets()
    assert sync_until_ok(account)[-1].status == "ok"
    assert_matches_truth(sim, account)
