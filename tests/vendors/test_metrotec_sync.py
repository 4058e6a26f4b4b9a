"""The Metrotec connector against its simulator over real HTTP: stored data equals the ground truth after a
full sync, an incremental one and every fault; both auth modes; the JWT renewed before expiry and once on a
401."""

import threading
import time
from datetime import timedelta

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon

from fleet.dispatch import services as dispatch_services
from fleet.dispatch.models import Task
from fleet.geo import services as geo_services
from fleet.geo.models import POI, Geofence
from fleet.tracking import services
from fleet.tracking.models import Device, Driver, Position
from fleet.tracking.records import DriverRecord
from fleet.vendors import metrotec as connector_module
from fleet.vendors import reports, sync
from fleet.vendors.models import VendorAccount, VendorLink
from tests.vendors.conftest import metrotec_account, stored_keys, sync_until_ok, truth_keys

pytestmark = pytest.mark.django_db(transaction=True)


def assert_matches_truth(sim, account: VendorAccount) -> None:
    truth = sim.truth(all=True)
    assert stored_keys(account) == truth_keys(truth)
    assert Position.objects.filter(device__account=account).count() == len(truth_keys(truth))


def test_a_full_sync_equals_the_simulators_ground_truth(metrotec):
    sim, account = metrotec
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth(all=True)
    assert len(truth["positions"]) > 100
    assert stored_keys(account) == truth_keys(truth)
    assert run.counts["positions"]["created"] == len(truth["positions"])
    devices = Device.objects.filter(account=account)
    assert sorted(devices.values_list("vendor_id", flat=True)) == sorted(d["id"] for d in truth["devices"])
    assert {d.name for d in devices} == {d["name"] for d in truth["devices"]}  # the alias
    assert Driver.objects.filter(account=account).count() == len(truth["drivers"])


def test_positions_keep_the_vendors_units_and_fields(metrotec):
    sim, account = metrotec
    sync.sync_account(account)
    for device in Device.objects.filter(account=account):
        newest = Position.objects.filter(device=device).order_by("-fix_time").first()
        assert newest.course is not None and 0 <= newest.course < 360  # the latest position: "357°" read
        assert 59 < newest.latitude < 61 and 24 < newest.longitude < 26  # Ypos is latitude, Xpos longitude
    history = Position.objects.filter(device__account=account, attributes__has_key="fuel_l")
    assert history.count() > 50 and all("ignition" in p.attributes for p in history[:20])


def test_an_incremental_sync_fetches_only_what_is_new(simulator):
    sim = simulator("metrotec", devices=4, lag=600)
    account = metrotec_account(sim)
    sync.sync_account(account)
    before = len(stored_keys(account))
    account.refresh_from_db()
    again = sync.sync_account(account)
    assert again.counts["positions"].get("created", 0) == 0
    sim.clock(advance=600)
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert run.counts["positions"]["created"] > 0 and len(stored_keys(account)) > before
    assert_matches_truth(sim, account)


def test_the_api_key_mode_needs_no_login(simulator):
    sim = simulator("metrotec", devices=3)
    account = metrotec_account(sim, token="demo-token")
    assert sync.sync_account(account).status == "ok"
    assert sim.stats()["logins"] == 0
    assert_matches_truth(sim, account)


def test_bad_credentials_disable_the_account_until_fixed(simulator):
    sim = simulator("metrotec", devices=2)
    org = None
    for n, creds in enumerate(({"username": "demo", "password": "wrong"}, {"token": "wrong-key"})):
        account = metrotec_account(sim, org=org, name=f"wrong {n}", **creds)
        org = account.organization
        run = sync.sync_account(account)
        account.refresh_from_db()
        assert run.status == "error" and account.disabled_by_error, run.error
        assert "refused" in account.last_error


def test_every_request_names_the_api_version_and_fleet(metrotec):
    sim, account = metrotec
    sim.set_faults(require_version=True)
    assert sync.sync_account(account).status == "ok"
    assert sim.stats().get("version_missing", 0) == 0
    with sync.connector_for(account) as connector:
        headers = connector.http.client.headers
        assert headers["Accept"] == f"application/json; version={connector_module.API_VERSION}"
        assert headers["User-Agent"].startswith("fleet/")


def test_a_language_setting_becomes_the_language_header(simulator):
    sim = simulator("metrotec", devices=3)
    account = metrotec_account(sim, username="demo", password="demo", language="et")
    assert sync.sync_account(account).status == "ok"
    assert set(Device.objects.filter(account=account).values_list("category", flat=True)) <= {
        "Sõiduauto",
        "Kaubik",
        "Veok",
    }


def test_an_expired_jwt_mid_sync_is_renewed_once(metrotec, monkeypatch):
    sim, account = metrotec
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


def test_history_requests_in_flight_together_that_meet_an_expired_jwt_log_in_once(metrotec, monkeypatch, settings):
    sim, account = metrotec
    settings.METROTEC_CONCURRENCY = 8
    vehicles = len(sim.truth()["devices"])
    barrier = threading.Barrier(vehicles, action=lambda: sim.set_faults(expire_sessions=True), timeout=10)
    real = connector_module.MetrotecConnector.history

    def all_at_once(self, vehicle, since, until):  # every vehicle's request sent with the expired JWT
        barrier.wait()
        yield from real(self, vehicle, since, until)

    monkeypatch.setattr(connector_module.MetrotecConnector, "history", all_at_once)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert 1 < sim.stats()["unauthorized"] <= vehicles  # several were refused (a late one may carry the new JWT)...
    assert sim.stats()["logins"] == 2  # ...and one login served them all
    assert_matches_truth(sim, account)


def test_a_jwt_is_renewed_before_it_expires(metrotec, monkeypatch):
    sim, account = metrotec
    sim.set_faults(jwt_expiry=100)
    with sync.connector_for(account) as connector:
        connector.devices()
        assert sim.stats()["logins"] == 1
        assert 75 < connector.renew_at - time.time() <= 80  # a fifth of the lifetime before it ends
        monkeypatch.setattr(connector_module.time, "time", lambda: connector.renew_at + 1)
        connector.devices()
    assert sim.stats()["logins"] == 2 and sim.stats()["unauthorized"] == 0


def test_history_pages_by_time_and_loses_nothing_when_rows_move_between_pages(metrotec, monkeypatch):
    sim, account = metrotec
    monkeypatch.setattr(connector_module.MetrotecConnector, "history_page", 7)
    sim.set_faults(reorder_pages=True, duplicates=0.2)
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert sim.stats()["requests"] > len(sim.truth()["positions"]) / 7  # page after page
    assert_matches_truth(sim, account)


@pytest.mark.parametrize(
    "knob",
    [
        pytest.param({"errors": {"status": 503, "count": 3}}, id="503-burst"),
        pytest.param({"slow": {"delay": 3, "count": 2}}, id="slower-than-timeout"),
        pytest.param({"malformed": {"count": 2, "mode": "truncated"}}, id="truncated-json"),
        pytest.param({"malformed": {"count": 1, "mode": "garbage"}}, id="garbage-body"),
        pytest.param({"expire_sessions": True}, id="expired-session"),
        pytest.param({"duplicates": 0.3}, id="duplicated-positions"),
        pytest.param({"reorder_pages": True}, id="reordered-pages"),
    ],
)
def test_a_fault_alone_ends_with_the_vendors_data_stored_once(metrotec, knob):
    sim, account = metrotec
    sim.set_faults(**knob)
    runs = sync_until_ok(account, tries=6)
    assert runs[-1].status == "ok", [r.error for r in runs]
    assert_matches_truth(sim, account)


def test_late_positions_are_picked_up_by_the_lookback(simulator):
    sim = simulator("metrotec", devices=4, lag=900)
    account = metrotec_account(sim)
    sim.set_faults(out_of_order={"fraction": 0.3, "delay": 90})
    sim.clock(advance=300)
    assert sync.sync_account(account).status == "ok"
    for _ in range(3):
        sim.clock(advance=200)
        account.refresh_from_db()
        assert sync.sync_account(account).status == "ok"
    assert_matches_truth(sim, account)


def test_bad_positions_are_rejected_and_counted_while_their_batch_is_stored(metrotec):
    sim, account = metrotec
    sim.set_faults(bad_positions=0.05)
    run = sync.sync_account(account)
    truth = sim.truth(all=True)
    bad = [p for p in truth["positions"] if p.get("bad")]
    assert bad and run.status == "ok"
    assert run.rejected == len(bad)
    assert stored_keys(account) == truth_keys(truth)


def test_a_null_body_fails_its_resource_alone(metrotec):
    sim, account = metrotec
    sim.set_faults(missing_ids={"object_body": ["devices"]})
    run = sync.sync_account(account)
    assert run.status == "partial" and "devices" in run.error
    sim.set_faults(reset=True)
    assert sync_until_ok(account)[-1].status == "ok"
    assert_matches_truth(sim, account)


def test_the_vendor_report_tab_gets_the_route_log_and_stops(metrotec):
    sim, account = metrotec
    sync.sync_account(account)
    devices = list(Device.objects.filter(account=account).values_list("vendor_id", flat=True))
    first = Position.objects.filter(device__account=account).order_by("fix_time").first().fix_time
    last = Position.objects.filter(device__account=account).order_by("fix_time").last().fix_time
    trips = reports.fetch("trips", account, devices, [(first, last, None)])
    assert trips["offers"] and not trips["error"] and trips["rows"]
    row = trips["rows"][0][0]
    assert row["device_id"] in devices and row["end"] > row["start"] and row["distance_m"] >= 0
    stops = reports.fetch("stops", account, devices, [(first, last, None)])
    assert len(stops["rows"]) == len(trips["rows"])
    total = reports.fetch("summary", account, devices, [(first, last, None)])
    assert len(total["rows"]) == len(devices)
    assert sum(r["distance_m"] for r, _ in total["rows"]) == pytest.approx(
        sum(r["distance_m"] for r, _ in trips["rows"])
    )


def test_geozones_are_mirrored_and_a_deleted_one_retires(metrotec):
    sim, account = metrotec
    sync.sync_account(account)
    zones = {str(g["id"]): g for g in sim.truth()["geozones"]}
    links = VendorLink.objects.filter(account=account, content_type__model="geofence")
    mirrored = {link.vendor_id: link.target for link in links}
    assert set(mirrored) == set(zones)
    circle = next(g for g in zones.values() if g["geometry"]["type"] == "circle")
    depot = mirrored[str(circle["id"])]
    assert (depot.kind, depot.radius_m) == ("circle", circle["geometry"]["radius"])
    assert depot.geometry.x == pytest.approx(circle["geometry"]["latlng"]["lng"])  # longitude first
    with sync.connector_for(account) as connector:
        connector.delete_geofence(str(circle["id"]))
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert run.counts["geofences"]["retired"] == 1
    depot.refresh_from_db()
    assert depot.retired is not None


def vendor_zone(sim, vendor_id: str) -> dict | None:
    return next((g for g in sim.truth()["geozones"] if str(g["id"]) == vendor_id), None)


def test_a_geofence_created_edited_and_deleted_in_fleet_does_the_same_at_metrotec(metrotec, eager_celery):
    sim, account = metrotec
    yard = geo_services.save_geofence(
        Geofence(
            organization=account.organization, name="Yard", kind="circle", geometry=Point(24.9, 60.2), radius_m=150
        )
    )
    vendor_id = VendorLink.objects.get(account=account, object_id=yard.pk).vendor_id
    geometry = vendor_zone(sim, vendor_id)["geometry"]
    assert geometry == {"latlng": {"lat": 60.2, "lng": 24.9}, "radius": 150, "type": "circle"}
    yard.radius_m = 300
    geo_services.save_geofence(yard)
    assert vendor_zone(sim, vendor_id)["geometry"]["radius"] == 300
    geo_services.delete_geofence(yard)
    assert vendor_zone(sim, vendor_id) is None


def test_a_polygon_drawn_in_fleet_reaches_metrotec_and_a_sync_does_not_echo_it(metrotec, eager_celery):
    sim, account = metrotec
    square = Polygon(((24.90, 60.10), (24.95, 60.10), (24.95, 60.15), (24.90, 60.10)))
    zone = geo_services.save_geofence(Geofence(organization=account.organization, name="Block", geometry=square))
    vendor_id = VendorLink.objects.get(account=account, object_id=zone.pk).vendor_id
    points = vendor_zone(sim, vendor_id)["geometry"]["latlngs"]
    assert points == [{"lat": 60.10, "lng": 24.90}, {"lat": 60.10, "lng": 24.95}, {"lat": 60.15, "lng": 24.95}]
    before = Geofence.objects.filter(organization=account.organization).count()
    sync.sync_account(account)
    assert Geofence.objects.filter(organization=account.organization).count() == before + 2  # the vendor's two
    zone.refresh_from_db()
    assert zone.geometry.equals_exact(square, tolerance=1e-9)


def test_a_corridor_metrotec_cannot_hold_is_logged_once_and_not_retried(metrotec, eager_celery, caplog):
    sim, account = metrotec
    before = len(sim.truth()["geozones"])
    road = LineString((24.90, 60.10), (24.95, 60.12))
    corridor = Geofence(organization=account.organization, name="Ring", kind="corridor", geometry=road, width_m=40)
    with caplog.at_level("WARNING", logger="fleet.vendors.tasks"):
        geo_services.save_geofence(corridor)  # saved in fleet; the push gives up without raising
    assert Geofence.objects.filter(pk=corridor.pk).exists()
    assert len(sim.truth()["geozones"]) == before
    given_up = [r.getMessage() for r in caplog.records if "not retried" in r.getMessage()]
    why = "metrotec has no corridor geozones: 'Ring' is not sent"
    assert given_up == [f"push_geofence_task({corridor.pk}, {account.pk}) not retried: {why}"]


def test_a_vehicle_is_linked_to_a_geozone_at_metrotec(metrotec):
    sim, account = metrotec
    reg, zone = sim.truth()["devices"][0]["id"], sim.truth()["geozones"][0]["id"]
    with sync.connector_for(account) as connector:
        connector.link_geofence(reg, str(zone))
        assert [(link["object_id"], link["geozoneID"]) for link in sim.truth()["zone_links"]] == [(reg, zone)]
        connector.link_geofence(reg, str(zone), unlink=True)
    assert sim.truth()["zone_links"] == []


def test_a_vehicle_whose_latest_fix_is_older_than_the_window_costs_no_history_request(metrotec):
    sim, account = metrotec
    vehicles = [d["id"] for d in sim.truth()["devices"]]
    with sync.connector_for(account) as connector:
        newest = max(r.fix_time for r in connector.latest())
        before = sim.stats()["requests"]
        batches = list(connector.positions(newest + timedelta(seconds=1), newest + timedelta(hours=1), vehicles))
        assert batches == [] and sim.stats()["requests"] == before  # nothing newer, nothing asked
        list(connector.positions(newest, newest + timedelta(hours=1), vehicles))
    assert sim.stats()["requests"] > before  # the vehicle with the newest fix is asked for its history


def sim_api(sim, path: str, method: str = "GET", **body):
    """A dispatcher working in Metrotec's own web app: the simulator's API with its API key."""
    import httpx

    headers = {"Accept": "application/json; version=1.1.0", "Authorization": "Bearer demo-token"}
    response = httpx.request(method, f"{sim.url}/api{path}", headers=headers, json=body or None, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def new_task(account, order_ref: str = "ORD-7", **kw) -> Task:
    device = Device.objects.filter(account=account).order_by("vendor_id").first()
    task = Task(organization=account.organization, order_ref=order_ref, device=device, destination=Point(24.9, 60.2))
    for key, value in kw.items():
        setattr(task, key, value)
    return dispatch_services.save_task(task)


def test_a_task_created_in_fleet_appears_at_metrotec_with_its_order_ref(metrotec, eager_celery):
    sim, account = metrotec
    sync.sync_account(account)
    task = new_task(account, title="Deliver pallets", destination_address="Mannerheimintie 1")
    vendor_id = VendorLink.objects.get(account=account, object_id=task.pk, content_type__model="task").vendor_id
    (theirs,) = [t for t in sim.truth()["tasks"] if str(t["id"]) == vendor_id]
    assert (theirs["order_ref"], theirs["object_id"], theirs["status"]) == ("ORD-7", task.device.vendor_id, 1)
    assert (theirs["lat"], theirs["lon"], theirs["task_description"]) == (60.2, 24.9, "Deliver pallets")
    task.status = Task.Status.IN_PROGRESS
    dispatch_services.save_task(task)
    assert next(t for t in sim.truth()["tasks"] if str(t["id"]) == vendor_id)["status"] == 2
    assert sim.truth()["task_audit"][-1]["fields"] == ["status"]  # sent as an edit


def test_a_status_changed_at_metrotec_comes_back_on_the_next_sync(metrotec, eager_celery):
    sim, account = metrotec
    sync.sync_account(account)
    task = new_task(account)
    vendor_id = VendorLink.objects.get(object_id=task.pk, content_type__model="task").vendor_id
    sim_api(sim, f"/tasks/{vendor_id}", "PUT", status=3, edit=True)
    account.refresh_from_db()
    run = sync.sync_account(account)
    task.refresh_from_db()
    assert task.status == Task.Status.COMPLETED and run.counts["tasks"]["updated"] == 1
    assert "history" not in task.attributes
    step = task.changes.get()  # on the task's timeline, as the vendor's move
    assert (step.old, step.new, step.source, step.note) == ("created", "completed", "vendor", f"from {account.name}")


def test_a_status_changed_on_both_sides_keeps_metrotecs_and_records_fleets_on_the_history(metrotec, eager_celery):
    sim, account = metrotec
    sync.sync_account(account)
    task = new_task(account)
    vendor_id = VendorLink.objects.get(object_id=task.pk, content_type__model="task").vendor_id
    sim_api(sim, f"/tasks/{vendor_id}", "PUT", status=4, edit=True)  # rejected by the driver in Metrotec
    task.status = Task.Status.CANCELLED  # meanwhile cancelled in fleet, pushed at once
    dispatch_services.save_task(task)
    task.refresh_from_db()
    assert task.status == Task.Status.REJECTED
    assert next(t for t in sim.truth()["tasks"] if str(t["id"]) == vendor_id)["status"] == 4
    (entry,) = task.attributes["history"]
    assert (entry["field"], entry["discarded"], entry["kept"]) == ("status", "cancelled", "rejected")


def test_a_conflict_found_by_the_sync_keeps_metrotecs_status_too(metrotec):
    sim, account = metrotec
    sync.sync_account(account)
    task = new_task(account)  # no worker ran: not pushed yet
    from fleet.vendors import writeback

    writeback.push_task(task, account)
    vendor_id = VendorLink.objects.get(object_id=task.pk, content_type__model="task").vendor_id
    sim_api(sim, f"/tasks/{vendor_id}", "PUT", status=3, edit=True)
    Task.objects.filter(pk=task.pk).update(status=Task.Status.CANCELLED)  # changed in fleet, push pending
    account.refresh_from_db()
    sync.sync_account(account)
    task.refresh_from_db()
    assert task.status == Task.Status.COMPLETED
    assert task.attributes["history"][0]["discarded"] == "cancelled"


def test_a_task_created_at_metrotec_appears_in_fleet(metrotec):
    sim, account = metrotec
    reg = sim.truth()["devices"][0]["id"]
    body = {"object_id": reg, "lat": 60.17, "lon": 24.94, "order_ref": "MT-1", "task_description": "Pick up"}
    sim_api(sim, "/tasks", "POST", start_time="2026-11-20 08:00:00", stop_time="2026-11-20 09:00:00", **body)
    run = sync.sync_account(account)
    assert run.counts["tasks"]["created"] == 1
    task = Task.objects.get(organization=account.organization, order_ref="MT-1")
    assert (task.title, task.device.vendor_id, task.status) == ("Pick up", reg, Task.Status.CREATED)
    assert (task.destination.x, task.destination.y) == (24.94, 60.17)
    account.refresh_from_db()
    assert sync.sync_account(account).counts["tasks"]["duplicates"] == 1


def test_pois_are_mirrored_with_their_purpose(metrotec):
    sim, account = metrotec
    run = sync.sync_account(account)
    assert run.counts["pois"]["created"] == 2
    theirs = {str(p["id"]): p for p in sim.truth()["pois"]}
    for link in VendorLink.objects.filter(account=account, content_type__model="poi"):
        poi, row = link.target, theirs[link.vendor_id]
        assert (poi.name, poi.radius_m, poi.point.x, poi.point.y) == (
            row["name"],
            row["radius"],
            row["lon"],
            row["lat"],
        )
    assert set(POI.objects.filter(organization=account.organization).values_list("purpose", flat=True)) == {
        "customer",
        "poi",
    }
    account.refresh_from_db()
    assert sync.sync_account(account).counts["pois"]["duplicates"] == 2


def test_a_poi_saved_in_fleet_is_created_then_updated_at_metrotec(metrotec, eager_celery):
    sim, account = metrotec
    poi = POI(organization=account.organization, name="Warehouse", point=Point(24.95, 60.19), purpose="customer")
    poi.contact_name, poi.radius_m = "Viktor", 75
    geo_services.save_poi(poi)
    vendor_id = VendorLink.objects.get(account=account, content_type__model="poi", object_id=poi.pk).vendor_id
    (theirs,) = [p for p in sim.truth()["pois"] if str(p["id"]) == vendor_id]
    assert (theirs["lat"], theirs["lon"], theirs["purpose"], theirs["radius"]) == (60.19, 24.95, 1, 75)
    assert (theirs["name"], theirs["comment"], theirs["contact_name"]) == ("Warehouse", "Warehouse", "Viktor")
    poi.radius_m = 120
    geo_services.save_poi(poi)
    assert next(p for p in sim.truth()["pois"] if str(p["id"]) == vendor_id)["radius"] == 120
    assert len(sim.truth()["pois"]) == 3  # updated, not created again


def test_each_driver_becomes_the_fixed_driver_of_the_vehicle_metrotec_attaches_them_to(metrotec):
    sim, account = metrotec
    assert sync.sync_account(account).status == "ok"
    truth = sim.truth(all=True)
    attached = {d["object_id"]: d["driverName"] for d in truth["drivers"] if d.get("object_id")}
    assert len(attached) == 4  # the simulator's four drivers, each on a vehicle
    devices = Device.objects.filter(account=account).select_related("driver")
    assert {d.vendor_id: d.driver.name for d in devices if d.driver} == attached
    # the vendor detaches one driver: that vehicle has no fixed driver after the next sync
    reg = next(iter(attached))
    records = [
        DriverRecord(str(d["id"]), d["driverName"], device_id=None if d.get("object_id") == reg else d.get("object_id"))
        for d in truth["drivers"]
    ]
    services.attach_drivers(account.pk, records)
    assert Device.objects.get(account=account, vendor_id=reg).driver is None
    assert Device.objects.filter(account=account, driver__isnull=False).count() == 3
    services.attach_drivers(account.pk, [DriverRecord("1", "x")])  # no vehicle named for anyone: left alone
    assert Device.objects.filter(account=account, driver__isnull=False).count() == 3
