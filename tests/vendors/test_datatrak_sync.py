import pytest

from fleet.geo.models import Geofence
from fleet.tracking.models import Device, DeviceGroup, Driver, DriverAssignment, Event, Position
from fleet.vendors import sync
from tests.vendors.conftest import make_sim_account, stored_keys, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_full_sync_equals_the_simulators_ground_truth(simulator):
    sim = simulator("datatrak", devices=6)
    account = make_sim_account(sim, "datatrak")
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert len(truth["positions"]) > 100
    assert stored_keys(account) == truth_keys(truth)
    assert Device.objects.filter(account=account).count() == len(truth["devices"])
    assert run.counts["positions"]["created"] == len(truth["positions"])


def test_a_second_sync_fetches_nothing_new(simulator):
    sim = simulator("datatrak")
    account = make_sim_account(sim, "datatrak")
    sync.sync_account(account)
    before = stored_keys(account)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.status == "ok"
    assert run.counts["positions"].get("created", 0) == 0
    assert stored_keys(account) == before


def test_new_positions_arrive_on_the_next_sync(simulator):
    sim = simulator("datatrak", lag=600)
    account = make_sim_account(sim, "datatrak")
    sync.sync_account(account)
    sim.clock(advance=600)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.counts["positions"]["created"] > 0
    assert stored_keys(account) == truth_keys(sim.truth(all=True))


def test_groups_drivers_geofences_and_events_are_mirrored(simulator):
    sim = simulator("datatrak")
    account = make_sim_account(sim, "datatrak")
    sync.sync_account(account)
    truth = sim.truth(all=True)
    assert DeviceGroup.objects.filter(account=account).exists()
    assert Driver.objects.filter(account=account).exists()
    geofences = Geofence.objects.filter(organization=account.organization)
    assert geofences.count() == len(truth["geofences"])
    # Traccar WKT is latitude first; ours is longitude first (Helsinki: lon ~25, lat ~60).
    centroid = geofences.first().geometry.centroid
    assert 59 < centroid.y < 61 and 24 < centroid.x < 26
    assert Event.objects.filter(organization=account.organization).exists()


def test_bad_credentials_disable_the_account_until_fixed(simulator):
    sim = simulator("datatrak")
    account = make_sim_account(sim, "datatrak", username="demo", password="wrong")
    run = sync.sync_account(account)
    account.refresh_from_db()
    assert run.status == "error"
    assert account.disabled_by_error
    assert "credentials" in account.last_error


def test_without_a_session_endpoint_it_falls_back_to_basic_auth(simulator):
    sim = simulator("datatrak", devices=3)
    sim.set_faults(no_session=True)
    account = make_sim_account(sim, "datatrak")
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert stored_keys(account) == truth_keys(sim.truth(all=True))
    assert sim.stats()["logins"] == 0


def test_a_geofence_can_be_linked_to_a_device_at_the_vendor(simulator):
    sim = simulator("datatrak", devices=3)
    account = make_sim_account(sim, "datatrak")
    with sync.connector_for(account) as connector:
        geofence_id = next(iter(sim.truth()["geofences"]))["id"]
        connector.link_geofence("2", str(geofence_id))
        assert {"deviceId": 2, "geofenceId": geofence_id} in sim.truth()["permissions"]
        connector.link_geofence("2", str(geofence_id), unlink=True)
        assert {"deviceId": 2, "geofenceId": geofence_id} not in sim.truth()["permissions"]


def test_a_sync_run_counts_each_resource(simulator):
    sim = simulator("datatrak", devices=4)
    account = make_sim_account(sim, "datatrak")
    run = sync.sync_account(account)
    truth = sim.truth(all=True)
    devices = run.counts["devices"]
    assert {k: devices[k] for k in ("fetched", "created", "updated", "duplicates", "rejected")} == {
        "fetched": 4,
        "created": 4,
        "updated": 0,
        "duplicates": 0,
        "rejected": 0,
    }
    for counts in run.counts.values():  # every row is accounted for
        assert counts["fetched"] == counts["created"] + counts["updated"] + counts["duplicates"] + counts["rejected"]
    assert run.counts["geofences"]["fetched"] == len(truth["geofences"])
    assert run.fetched >= 4 + len(truth["positions"])
    assert run.duration is not None and run.finished >= run.started


def test_the_driver_ids_on_positions_assign_the_synced_drivers_to_their_vehicles(simulator):
    sim = simulator("datatrak", devices=6)
    account = make_sim_account(sim, "datatrak")
    assert sync.sync_account(account).status == "ok"
    reported = {}  # device pk -> (first fix time with a driver id, that id)
    for p in Position.objects.filter(device__account=account, attributes__has_key="driver_unique_id").order_by(
        "fix_time"
    ):
        reported.setdefault(p.device_id, (p.fix_time, p.attributes["driver_unique_id"]))
    assert len(reported) >= 3  # the simulator gives four of every five vehicles a driver, read while ignition is on
    assignments = DriverAssignment.objects.filter(device__account=account).select_related("driver")
    assert {a.device_id: (a.start, a.driver.unique_id, a.end, a.source) for a in assignments} == {
        device: (start, uid, None, "vendor") for device, (start, uid) in reported.items()
    }
