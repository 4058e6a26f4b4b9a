"""Robust vendor data: rows mapped one by one, objects the vendor stopped listing retired, times never moved
back, (0, 0) fixes believed only where the device was, and the sync command's exit codes."""

import io
import math
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.utils import timezone

from fleet.geo.models import Geofence
from fleet.tracking import ingest, services
from fleet.tracking.models import Device
from fleet.tracking.records import DeviceRecord, PositionRecord
from fleet.vendors import base, stream, sync
from fleet.vendors.datatrak import DataTrakConnector
from fleet.vendors.errors import VendorError
from fleet.vendors.http import parse_json
from fleet.vendors.models import VendorAccount
from fleet.vendors.traccar import parse_device
from tests.conftest import make_account, make_device, make_org
from tests.vendors.conftest import make_sim_account

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def connector() -> DataTrakConnector:
    return DataTrakConnector(1, "http://127.0.0.1:1", {})


def test_rows_are_mapped_one_by_one_and_the_unreadable_ones_counted_with_an_example():
    c = connector()
    rows = [{"id": 1, "name": "A"}, {"name": "no id"}, "not an object", {"id": 2, "attributes": "not an object"}]
    records = c.map_rows(base.DEVICES, rows, parse_device)
    assert [r.vendor_id for r in records] == ["1", "2"]
    rejects = c.rejects[base.DEVICES]
    assert (rejects.received, rejects.rejected) == (2, 2)
    assert rejects.reasons == {"no id": 1, "unreadable row (AttributeError)": 1}
    assert c.listed[base.DEVICES] == {"1", "2"}
    assert c.map_rows(base.DEVICES, None, parse_device) == []
    with pytest.raises(VendorError, match="devices: expected a list, got dict"):
        c.map_rows(base.DEVICES, {"id": 1}, parse_device)


def test_a_body_with_nan_tokens_is_read_and_the_values_refused_later():
    assert parse_json(b'[{"fuel": NaN, "power": Infinity, "x": -Infinity}]')[0]["fuel"] != 0
    assert math.isnan(parse_json(b'{"a": NaN}')["a"])
    assert parse_json(b"") is None


@pytest.mark.django_db
def test_objects_the_vendor_stops_listing_are_retired_and_come_back_when_listed_again():
    org = make_org("a")
    account = make_account(org)
    services.upsert_devices(org.pk, account.pk, [DeviceRecord("1", "One"), DeviceRecord("2", "Two")])
    assert services.retire(Device, account.pk, {"1"}) == 1
    assert Device.objects.get(vendor_id="2").retired is not None
    assert Device.objects.get(vendor_id="1").retired is None
    assert services.retire(Device, account.pk, {"1"}) == 0  # already retired
    tally = services.upsert_devices(org.pk, account.pk, [DeviceRecord("2", "Two")])
    assert tally.updated == 1 and Device.objects.get(vendor_id="2").retired is None


@pytest.mark.django_db
def test_a_device_list_never_moves_status_or_last_update_back_in_time():
    org = make_org("a")
    account = make_account(org)
    heard = timezone.now()
    make_device(org, "Van", account, vendor_id="1", status="online", last_update=heard)
    older = DeviceRecord("1", "Van", status="offline", last_update=heard - timedelta(hours=1))
    tally = services.upsert_devices(org.pk, account.pk, [older])
    van = Device.objects.get(vendor_id="1")
    assert (van.status, van.last_update) == ("online", heard) and tally.duplicates == 1
    newer = DeviceRecord("1", "Van", status="offline", last_update=heard + timedelta(minutes=1))
    services.upsert_devices(org.pk, account.pk, [newer])
    assert Device.objects.get(vendor_id="1").status == "offline"


@pytest.mark.django_db
def test_a_fix_at_zero_zero_is_believed_only_from_a_device_last_seen_near_it():
    org = make_org("a")
    account = make_account(org)
    make_device(org, "Buoy", account, vendor_id="buoy", last_latitude=0.2, last_longitude=-0.3)
    make_device(org, "Van", account, vendor_id="van", last_latitude=60.2, last_longitude=24.9)
    when = timezone.now() - timedelta(minutes=1)
    records = [
        PositionRecord("buoy", when, 0.0, 0.0),
        PositionRecord("van", when, 0.0, 0.0),
        PositionRecord("buoy", when - timedelta(minutes=1), 0.0, 0.0, valid=False),
    ]
    result = ingest.positions(org.pk, account.pk, records)
    assert (result.created, result.rejected) == (1, 2)
    assert result.reasons == {"null island (0, 0)": 2}


@pytest.mark.django_db
def test_the_organisations_plausible_speed_bounds_ingest():
    org = make_org("a")
    org.max_speed_kmh = 120
    org.save()
    account = make_account(org)
    make_device(org, "Van", account, vendor_id="1")
    ingest._max_speeds.clear()
    when = timezone.now() - timedelta(minutes=1)
    result = ingest.positions(org.pk, account.pk, [PositionRecord("1", when, 60, 25, speed=150.0)])
    assert result.reasons == {"speed implausible": 1}


@pytest.mark.django_db(transaction=True)
def test_the_sync_command_exits_0_for_a_sync_and_1_for_a_failure(simulator):
    sim = simulator("datatrak", devices=2)
    good = make_sim_account(sim, "datatrak", name="good")
    out = io.StringIO()
    call_command("sync", good.name, stdout=out)  # exit 0: no SystemExit
    assert "ok: fetched" in out.getvalue() and "devices: fetched 2, created 2" in out.getvalue()
    bad = make_sim_account(sim, "datatrak", org=good.organization, name="bad", username="demo", password="wrong")
    with pytest.raises(SystemExit) as exited:
        call_command("sync", bad.name, stdout=io.StringIO(), stderr=io.StringIO())
    assert exited.value.code == 1
    bad.refresh_from_db()
    assert bad.disabled_by_error and "credentials" in bad.last_error


@pytest.mark.django_db(transaction=True)
def test_a_sync_retires_a_geofence_the_vendor_no_longer_lists(simulator):
    sim = simulator("datatrak", devices=2)
    account = make_sim_account(sim, "datatrak")
    sync.sync_account(account)
    listed = Geofence.objects.filter(organization=account.organization, retired__isnull=True).count()
    assert listed > 0
    vendor_id = str(sim.truth()["geofences"][0]["id"])
    with DataTrakConnector(account.pk, account.base_url, account.credentials) as c:
        c.delete_geofence(vendor_id)
    run = sync.sync_account(account)
    assert run.counts["geofences"]["retired"] == 1
    assert Geofence.objects.filter(organization=account.organization, retired__isnull=True).count() == listed - 1


@pytest.mark.django_db(transaction=True)
def test_a_socket_position_of_an_unknown_device_schedules_a_poll_now():
    org = make_org("a")
    account = make_account(org)
    VendorAccount.objects.filter(pk=account.pk).update(next_run=timezone.now() + timedelta(hours=1))
    account.refresh_from_db()
    parsed = {"positions": [PositionRecord("nobody", timezone.now() - timedelta(seconds=5), 60.0, 25.0)]}
    assert async_to_sync(stream._apply)(account, parsed) == 0
    account.refresh_from_db()
    assert account.next_run <= timezone.now()
    assert not Device.objects.filter(vendor_id="nobody").exists()


@pytest.mark.django_db
def test_a_vendor_link_to_another_organisations_geofence_is_never_followed():
    from django.contrib.gis.geos import Point

    from fleet.tracking.records import GeofenceRecord
    from fleet.vendors import mirror
    from fleet.vendors.models import VendorLink

    ours, theirs = make_org("a"), make_org("b")
    account = make_account(ours)
    their_yard = Geofence.objects.create(
        organization=theirs, name="Their yard", kind="circle", geometry=Point(25, 60), radius_m=50
    )
    VendorLink.objects.create(account=account, target=their_yard, vendor_id="7")
    record = GeofenceRecord("7", "Renamed by the vendor", "circle", "POINT (24 61)", radius_m=80)
    tally = mirror.pull_geofences(account, [record])
    their_yard.refresh_from_db()
    assert (their_yard.name, their_yard.radius_m) == ("Their yard", 50)
    assert tally.created == 1 and Geofence.objects.get(organization=ours).name == "Renamed by the vendor"
    assert mirror.retire_geofences(account, set()) == 1  # ours, not theirs
    their_yard.refresh_from_db()
    assert their_yard.retired is None


@pytest.mark.django_db
def test_nul_characters_never_reach_the_database():
    """PostgreSQL refuses NUL in text and JSON: one such string must not cost its batch on either database."""
    from fleet.tracking.records import EventRecord

    org = make_org("a")
    account = make_account(org)
    services.upsert_devices(org.pk, account.pk, [DeviceRecord("1", "Van\x00 1", attributes={"k\x00": "v\x00"})])
    van = Device.objects.get(vendor_id="1")
    assert van.name == "Van 1"
    when = timezone.now() - timedelta(minutes=1)
    fix = PositionRecord("1", when, 60.0, 25.0, attributes={"alarm": "sos\x00", "address": "x\x00y"})
    assert ingest.positions(org.pk, account.pk, [fix]).created == 1
    assert van.positions.get().attributes == {"alarm": "sos", "address": "xy"}
    event = EventRecord("1", "alarm\x00", when, vendor_id="e\x001", attributes={"note": "\x00"})
    assert services.store_events(org.pk, account.pk, [event], {}).created == 1


def test_devices_with_a_newer_latest_fix_are_fetched_before_caught_up_ones():
    """Furthest behind first, but a device whose latest fix (the vendor's vehicle list) is no newer than its
    cursor has nothing new: it goes after every device that has. By cursors alone a device that stopped keeps
    the oldest cursor and took a budget-bound run's first chunk every time (the soak's fleet-v2: the same 60 of
    200 vehicles a run for 20 minutes, the others never fetched again)."""
    at = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)

    def fix(device, minutes):
        return PositionRecord(device, at + timedelta(minutes=minutes), 52.0, 13.0)

    cursors = {d: (at + timedelta(minutes=m)).isoformat() for d, m in (("parked", 0), ("driving", 10), ("old", 5))}
    latest = [fix("parked", 0), fix("driving", 20), fix("new", 15)]
    devices = ["driving", "new", "old", "parked"]
    assert sync._fetch_order(devices, cursors, latest) == ["new", "driving", "parked", "old"]
    assert sorted(devices, key=lambda d: cursors.get(d, "")) == ["new", "parked", "old", "driving"]  # before
    assert sync._fetch_order(devices, cursors, []) == ["new", "parked", "old", "driving"]  # no latest: cursors
