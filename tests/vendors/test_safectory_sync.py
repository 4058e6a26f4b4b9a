from collections import defaultdict

import pytest

from fleet.tracking.models import Beacon, Position
from fleet.tracking.records import BeaconRecord
from fleet.vendors import sync
from tests.vendors.conftest import make_sim_account, stored_keys, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_full_sync_equals_the_truth_with_shared_times_merged_into_one_position(simulator):
    sim = simulator("safectory", devices=6, history=1200)
    account = make_sim_account(sim, "safectory")
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    heard = defaultdict(set)
    for p in truth["positions"]:
        heard[(str(p["deviceId"]), p["fixTime"])].add(str(p["beaconId"]))
    assert any(len(b) > 1 for b in heard.values()), "the simulator served no shared-time rows"
    for position in Position.objects.filter(device__account=account).select_related("device"):
        key = (position.device.vendor_id, position.fix_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert {b["beacon_id"] for b in position.attributes["beacons"]} == heard[key]
        assert position.attributes["beacon_id"] in heard[key]
        assert isinstance(position.attributes["floor"], int)


def test_beacons_are_mirrored_with_their_place_and_battery(simulator):
    sim = simulator("safectory", devices=2)
    account = make_sim_account(sim, "safectory")
    sync.sync_account(account)
    truth = {str(b["id"]): b for b in sim.truth()["beacons"]}
    beacons = Beacon.objects.filter(account=account)
    assert beacons.count() == len(truth)
    for beacon in beacons:
        expected = truth[beacon.vendor_id]
        assert (beacon.major, beacon.minor, beacon.uuid) == (expected["major"], expected["minor"], expected["uuid"])
        assert beacon.point.y == pytest.approx(expected["latitude"])
        assert beacon.floor == expected["floor"]


def test_moving_a_beacon_is_written_back_to_the_vendor(simulator):
    sim = simulator("safectory", devices=2)
    account = make_sim_account(sim, "safectory")
    sync.sync_account(account)
    beacon = Beacon.objects.filter(account=account).first()
    with sync.connector_for(account) as connector:
        connector.update_beacon(
            BeaconRecord(beacon.vendor_id, beacon.uuid, beacon.major, beacon.minor, beacon.name, 49.9, 10.88)
        )
    moved = next(b for b in sim.truth()["beacons"] if str(b["id"]) == beacon.vendor_id)
    assert (moved["latitude"], moved["longitude"]) == (49.9, 10.88)
    account.refresh_from_db()
    sync.sync_account(account)
    beacon.refresh_from_db()
    assert (beacon.point.y, beacon.point.x) == (49.9, 10.88)
