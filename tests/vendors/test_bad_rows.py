"""Bad vendor rows end to end: the simulators' row knobs (docs/simulators.md, Bad rows) synced through the
connectors, the validation gate and the services. Every good row is stored as the truth has it; every bad row
is either repaired by the gate and stored, or counted in its resource's SyncRun counts with a reason and an
example vendor id; nothing else is stored, and a resource that fails as a whole fails alone."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import httpx
import pytest
from django.core.management import call_command

from fleet.geo.models import Geofence
from fleet.simulators.badrows import AREA_FAULTS, LIST_FAULTS
from fleet.simulators.server import RunningSimulator
from fleet.tracking.attributes import canonical
from fleet.tracking.models import Beacon, Device, DeviceGroup, Driver, Event, Position
from fleet.vendors import sync
from fleet.vendors.mirror import linked_ids
from fleet.vendors.models import SyncRun, VendorAccount
from fleet.vendors.traccar import parse_position
from tests.vendors.conftest import make_sim_account, stored_keys

pytestmark = pytest.mark.django_db(transaction=True)

EVER = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}

# What the gate makes of each kind of bad row the simulators serve: rejected with this reason; every kind not
# listed is repaired (course normalised, a field or attribute dropped, a zoneless time read as UTC) and stored.
POSITION_REASONS = {
    "latitude: 91": "latitude out of range",
    "latitude: NaN text": "not a finite number",
    "time: 2099": "fix time in the future",
    "speed: negative": "speed implausible",
    "speed: 50000 knots": "speed implausible",
    "null island": "null island (0, 0)",
    "time: unreadable": "fixTime: unreadable",
    "time: empty": "fixTime: missing",
    "time: 1999": "fix time before 2000",
    "time: a day ahead": "fix time in the future",
    "no deviceId": "no deviceId",
    "deviceId: null": "no deviceId",
    "unknown device": "unknown device",
}
EVENT_REASONS = {
    "time: unreadable": "serverTime: unreadable",  # Traccar 4.2's event time
    "time: empty": "serverTime: missing",
    "time: 1999": "time before 2000",
    "time: a day ahead": "time in the future",
    "no deviceId": "no deviceId",
    "deviceId: null": "no deviceId",
    "unknown device": "unknown device",
}
LIST_REASONS = {"no id": "no id", "id: null": "no id"}
AREA_REASONS = {
    "area: plain text": "area: not WKT",
    "area: point": "area: a Point is no geofence",
    "area: self-intersecting": "area: self-intersecting",
    "area: out of range": "area: coordinates out of range",
    "area: negative radius": "radius: not a positive number",
    "area: null": "area: missing",
}
REASONS = {
    "positions": POSITION_REASONS,
    "events": EVENT_REASONS,
    "geofences": AREA_REASONS | LIST_REASONS,
    "devices": LIST_REASONS,
    "groups": LIST_REASONS,
    "drivers": LIST_REASONS,
    "beacons": LIST_REASONS,
}
NON_FINITE = {"NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"}


# --- helpers ----------------------------------------------------------------------------------------


def synced(account: VendorAccount, status: str = "ok") -> SyncRun:
    run = sync.sync_account(account)
    assert run.status == status, run.error
    account.refresh_from_db()
    assert_balanced(run)
    return run


def assert_balanced(run: SyncRun) -> None:
    for resource, c in run.counts.items():
        assert c["fetched"] == c["created"] + c["updated"] + c["duplicates"] + c["rejected"], (resource, c)


def kept(row: dict, resource: str) -> bool:
    """Whether the gate stores this truth row: a good row, or a bad one it can repair."""
    kind = row.get("fault") if "fault" in row else row.get("kind")
    return kind is None or kind not in REASONS[resource]


def expected_keys(truth: dict) -> list[tuple[str, str]]:
    return sorted({(str(p["deviceId"]), p["fixTime"]) for p in truth["positions"] if kept(p, "positions")})


def stored_events(account: VendorAccount) -> set[tuple[str, str, str, str]]:
    rows = Event.objects.filter(device__account=account, source="vendor").values_list(
        "key", "device__vendor_id", "type", "time"
    )
    return {(key, device, kind, _ms(time)) for key, device, kind, time in rows}


def expected_events(truth: dict) -> set[tuple[str, str, str, str]]:
    return {(str(e["id"]), str(e["deviceId"]), e["type"], e["time"]) for e in truth["events"] if kept(e, "events")}


def _ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def assert_counted(run: SyncRun, truth: dict, resource: str) -> None:
    """Each bad row the gate cannot repair is rejected under its kind's reason, with the id of such a row (its
    own, or its device's) as the example; no other row is rejected."""
    counts, reasons = run.counts[resource], REASONS[resource]
    bad = [b for b in truth["bad"][resource] if b["kind"] in reasons]
    assert counts["reasons"] == dict(Counter(reasons[b["kind"]] for b in bad)), resource
    assert counts["rejected"] == len(bad)
    for reason, example in counts["examples"].items():
        rows = [b for b in bad if reasons[b["kind"]] == reason]
        named = {str(b.get(k)) for b in rows for k in ("id", "deviceId")}
        nameless = any(b.get("id") is None for b in rows)  # then its uniqueId or name is the example
        assert example in named or nameless, (resource, reason, example)
    with_ids = {reasons[b["kind"]] for b in bad if b.get("id") is not None}
    assert with_ids <= set(counts["examples"]), (resource, counts["examples"])


def assert_no_placeholder_devices(account: VendorAccount, truth: dict, extra: set[str] = frozenset()) -> None:
    stored = set(Device.objects.filter(account=account).values_list("vendor_id", flat=True))
    assert stored == {str(d["id"]) for d in truth["devices"]} | extra


def assert_no_non_finite_values(account: VendorAccount) -> None:
    rows = Position.objects.filter(device__account=account).values_list("attributes", "course", "altitude", "accuracy")
    for attributes, *values in rows:
        assert all(v is None or math.isfinite(v) for v in values)
        assert _finite_json(attributes), attributes
    for attributes, lat in Device.objects.filter(account=account).values_list("last_attributes", "last_latitude"):
        assert _finite_json(attributes) and (lat is None or math.isfinite(lat))


def _finite_json(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return value not in NON_FINITE
    if isinstance(value, dict):
        return all(_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_json(v) for v in value)
    return True


def served_route(sim: RunningSimulator, device_ids: list[int]) -> list[dict]:
    """The route rows as served now (damaged rows stay damaged, so this is what the sync read)."""
    response = httpx.get(
        f"{sim.url}/api/reports/route", params={"deviceId": device_ids, **EVER}, auth=("demo", "demo"), timeout=30
    )
    response.raise_for_status()
    return response.json()


def extras_kept(truth: dict, resource: str) -> set[str]:
    """The vendor ids of the extra list rows the gate keeps (their odd attributes ignored)."""
    return {str(b["id"]) for b in truth["bad"][resource] if kept(b, resource) and b["id"] is not None}


# --- bad_geofences ----------------------------------------------------------------------------------


def test_bad_geofence_areas_are_rejected_with_reasons_and_an_open_ring_is_closed(simulator):
    sim = simulator("datatrak", devices=4)
    sim.set_faults(bad_geofences=len(AREA_FAULTS))
    account = make_sim_account(sim, "datatrak")
    run = synced(account)
    truth = sim.truth(all=True)
    counts = run.counts["geofences"]
    assert counts["fetched"] == len(truth["geofences"]) + len(AREA_FAULTS)
    assert counts["created"] == len(truth["geofences"]) + 1
    assert_counted(run, truth, "geofences")
    [open_ring] = [b for b in truth["bad"]["geofences"] if b["kind"] == "area: unclosed ring"]
    links = linked_ids(account, Geofence)
    assert set(links) == {str(g["id"]) for g in truth["geofences"]} | {str(open_ring["id"])}
    closed = Geofence.objects.get(pk=links[str(open_ring["id"])]).geometry
    assert closed.geom_type == "Polygon" and closed.valid and closed.num_points == 5
    assert closed.extent == pytest.approx((24.93, 60.16, 24.95, 60.17))  # lon first
    assert stored_keys(account) == expected_keys(truth)
    assert stored_events(account) == expected_events(truth)


def test_positions_and_events_sync_when_every_geofence_is_bad(simulator):
    sim = simulator("datatrak", devices=4)
    good = sim.truth()["geofences"]
    with httpx.Client(base_url=sim.url, auth=("demo", "demo")) as api:
        for geofence in good:
            assert api.delete(f"/api/geofences/{geofence['id']}").status_code == 204
    sim.set_faults(bad_geofences={"count": 6, "kinds": list(AREA_REASONS)})
    account = make_sim_account(sim, "datatrak")
    run = synced(account)
    truth = sim.truth(all=True)
    assert run.counts["geofences"]["rejected"] == run.counts["geofences"]["fetched"] == 6
    assert_counted(run, truth, "geofences")
    assert not Geofence.objects.filter(organization=account.organization).exists()
    assert run.counts["positions"]["created"] > 100
    assert stored_keys(account) == expected_keys(truth)
    assert stored_events(account) and stored_events(account) == expected_events(truth)


# --- nan_attributes ---------------------------------------------------------------------------------


def test_non_finite_and_absurd_position_values_are_repaired_or_rejected(simulator):
    sim = simulator("datatrak", devices=4)
    sim.set_faults(nan_attributes=0.5)
    account = make_sim_account(sim, "datatrak")
    run = synced(account)
    truth = sim.truth(all=True)
    faults = Counter(p.get("fault") for p in truth["positions"])
    assert len(faults) == 11, faults  # every kind, and clean rows
    assert stored_keys(account) == expected_keys(truth)
    assert_counted(run, truth, "positions")
    notes = run.counts["positions"]["notes"]
    assert notes["altitude out of range: dropped"] == faults["altitude: 84916000 m"]
    assert notes["accuracy not a positive number: dropped"] == faults["accuracy: negative"]
    stored = {
        p.pk: p
        for p in Position.objects.filter(device__account=account)
        .select_related("device")
        .only("fix_time", "course", "altitude", "accuracy", "attributes", "device__vendor_id")
    }
    by_key = {(p.device.vendor_id, p.fix_time.strftime("%Y-%m-%dT%H:%M:%SZ")): p for p in stored.values()}
    repaired = {
        "course: 400": lambda p: p.course == pytest.approx(40.0),
        "course: -10": lambda p: p.course == pytest.approx(350.0),
        "course: NaN": lambda p: p.course is None,
        "altitude: 84916000 m": lambda p: p.altitude is None,
        "accuracy: negative": lambda p: p.accuracy is None,
        "attributes: non-finite text": lambda p: not {"fuel_l", "power_v", "battery_level"} & set(p.attributes),
        "attributes: non-finite numbers": lambda p: not {"fuel_l", "power_v", "battery_level"} & set(p.attributes),
    }
    for row in truth["positions"]:
        if row.get("fault") in repaired:
            assert repaired[row["fault"]](by_key[(str(row["deviceId"]), row["fixTime"])]), row
    assert_no_non_finite_values(account)


def test_stored_attributes_are_exactly_what_the_gate_let_through(simulator):
    """The same rows give the same attributes on every database: none lost, none altered on the way in."""
    sim = simulator("datatrak", devices=4)
    sim.set_faults(
        nan_attributes={"fraction": 0.6, "kinds": ["attributes: non-finite text", "attributes: non-finite numbers"]}
    )
    account = make_sim_account(sim, "datatrak")
    synced(account)
    expected = {}
    for row in served_route(sim, [1, 2, 3, 4]):
        record = parse_position(row)
        expected[(record.device_id, record.fix_time)] = canonical(record.attributes)
    rows = Position.objects.filter(device__account=account).values_list("device__vendor_id", "fix_time", "attributes")
    stored = {(device, fix): attributes for device, fix, attributes in rows}
    assert stored == expected
    assert sum(1 for a in stored.values() if "fuel_l" not in a) > 10  # the knob's rows are among them


# --- unknown_devices --------------------------------------------------------------------------------


def test_rows_of_unknown_devices_are_rejected_and_no_placeholder_device_is_made(simulator):
    sim = simulator("datatrak", devices=4)
    sim.set_faults(unknown_devices=2)
    account = make_sim_account(sim, "datatrak")
    run = synced(account)
    truth = sim.truth(all=True)
    assert_no_placeholder_devices(account, truth)
    phantoms = {str(p["deviceId"]) for p in truth["bad"]["positions"]}
    assert phantoms == {"9000001", "9000002"}
    assert run.counts["positions"]["reasons"] == {"unknown device": len(truth["bad"]["positions"])}
    assert run.counts["positions"]["examples"]["unknown device"] in phantoms
    assert_counted(run, truth, "events")
    assert stored_keys(account) == expected_keys(truth)
    assert stored_events(account) == expected_events(truth)
    assert set(account.cursors["positions"]) == {"1", "2", "3", "4"}


# --- missing_ids ------------------------------------------------------------------------------------


def test_rows_without_ids_are_rejected_and_odd_attributes_are_ignored(simulator):
    sim = simulator("datatrak", devices=4)
    sim.set_faults(missing_ids=0.3)
    account = make_sim_account(sim, "datatrak")
    run = synced(account)
    truth = sim.truth(all=True)
    for resource in ("devices", "groups", "drivers", "geofences"):
        assert Counter(b["kind"] for b in truth["bad"][resource]) == dict.fromkeys(LIST_FAULTS, 2), resource
        assert_counted(run, truth, resource)
    assert_no_placeholder_devices(account, truth, extras_kept(truth, "devices"))
    org = account.organization
    groups = DeviceGroup.objects.filter(account=account).values_list("vendor_id", flat=True)
    assert set(groups) == {"1", "2", "3", "4"} | extras_kept(truth, "groups")
    assert Driver.objects.filter(organization=org).count() == 4 + len(extras_kept(truth, "drivers"))
    assert set(linked_ids(account, Geofence)) == {str(g["id"]) for g in truth["geofences"]} | extras_kept(
        truth, "geofences"
    )
    for kind in ("attributes: text", "attributes: list", "attributes: null"):
        [extra] = [b for b in truth["bad"]["devices"] if b["kind"] == kind][:1]
        assert Device.objects.get(account=account, vendor_id=str(extra["id"])).name == extra["name"]
    assert_counted(run, truth, "positions")
    assert_counted(run, truth, "events")
    assert stored_keys(account) == expected_keys(truth)
    assert stored_events(account) == expected_events(truth)
    odd = [p for p in truth["positions"] if str(p.get("fault")).startswith("attributes")]
    assert odd
    for row in odd:
        position = Position.objects.get(
            device__account=account, device__vendor_id=str(row["deviceId"]), fix_time=row["fixTime"]
        )
        assert position.attributes == {}


def test_a_null_body_is_no_rows_and_removes_nothing(simulator):
    sim = simulator("datatrak", devices=4)
    account = make_sim_account(sim, "datatrak")
    synced(account)
    groups = set(DeviceGroup.objects.filter(account=account).values_list("vendor_id", flat=True))
    sim.set_faults(missing_ids={"null_body": ["groups", "drivers"]})
    run = synced(account)
    assert run.counts["groups"]["fetched"] == run.counts["drivers"]["fetched"] == 0
    assert "error" not in run.counts["groups"]
    assert set(DeviceGroup.objects.filter(account=account).values_list("vendor_id", flat=True)) == groups
    assert Driver.objects.filter(organization=account.organization).count() == 4
    assert sim.truth()["bad"]["null_bodies"] == {"groups": 1, "drivers": 1}


def test_a_resource_that_answers_no_list_fails_alone_and_the_run_is_partial(simulator):
    sim = simulator("datatrak", devices=4)
    sim.set_faults(missing_ids={"object_body": "groups"})
    account = make_sim_account(sim, "datatrak")
    run = synced(account, "partial")
    assert run.counts["groups"]["error"] == "groups: expected a list, got dict"
    assert "groups" in run.error and "groups" in account.last_error
    assert not DeviceGroup.objects.filter(account=account).exists()
    truth = sim.truth(all=True)
    assert_no_placeholder_devices(account, truth)
    assert stored_keys(account) == expected_keys(truth)
    assert stored_events(account) == expected_events(truth)
    with pytest.raises(SystemExit) as exited:
        call_command("sync", account.name)
    assert exited.value.code == 2


# --- naive_times ------------------------------------------------------------------------------------


def test_zoneless_times_are_utc_and_unreadable_or_implausible_ones_are_rejected(simulator):
    sim = simulator("datatrak", devices=4)
    sim.set_faults(naive_times=0.5)
    account = make_sim_account(sim, "datatrak")
    run = synced(account)
    truth = sim.truth(all=True)
    assert {p.get("fault") for p in truth["positions"]} >= {None, "time: naive", "time: unreadable", "time: 1999"}
    assert {e.get("fault") for e in truth["events"]} >= {None, "time: naive"}
    assert stored_keys(account) == expected_keys(truth)  # zoneless fixes stored at their UTC time
    assert stored_events(account) == expected_events(truth)
    assert_counted(run, truth, "positions")
    assert_counted(run, truth, "events")


# --- everything at once, twice ----------------------------------------------------------------------


def every_knob(sim: RunningSimulator) -> None:
    sim.set_faults(
        nan_attributes=0.15,
        naive_times=0.15,
        missing_ids=0.15,
        bad_geofences=len(AREA_FAULTS),
        unknown_devices=1,
        bad_positions=0.05,
    )


def snapshot(account: VendorAccount) -> dict:
    org = account.organization
    return {
        "devices": sorted(Device.objects.filter(account=account).values_list("vendor_id", "name", "attributes")),
        "groups": sorted(DeviceGroup.objects.filter(account=account).values_list("vendor_id", "name")),
        "drivers": sorted(Driver.objects.filter(organization=org).values_list("name", "unique_id")),
        "geofences": sorted((g.name, g.geometry.wkt) for g in Geofence.objects.filter(organization=org)),
        "positions": stored_keys(account),
        "events": sorted(stored_events(account)),
    }


def test_a_second_run_over_the_same_bad_rows_stores_nothing_new(simulator):
    sim = simulator("datatrak", devices=4)
    every_knob(sim)
    account = make_sim_account(sim, "datatrak")
    synced(account)
    truth = sim.truth(all=True)
    for resource in ("devices", "groups", "drivers", "geofences", "positions", "events"):
        assert any(not kept(b, resource) for b in truth["bad"][resource]), resource
    before = snapshot(account)
    assert before["positions"] == expected_keys(truth) and set(before["events"]) == expected_events(truth)
    again = synced(account)
    for resource, c in again.counts.items():
        assert c["created"] == c["updated"] == 0, (resource, c)
        assert c["duplicates"] > 0 and c["rejected"] > 0, (resource, c)
    assert snapshot(account) == before
    assert_no_non_finite_values(account)


# --- Safectory --------------------------------------------------------------------------------------


def test_safectory_counts_bad_rows_and_makes_no_placeholder_devices(simulator):
    sim = simulator("safectory", devices=4)
    sim.set_faults(nan_attributes=0.15, naive_times=0.15, missing_ids=0.15, unknown_devices=1)
    account = make_sim_account(sim, "safectory")
    run = synced(account)
    truth = sim.truth(all=True)
    assert_no_placeholder_devices(account, truth, extras_kept(truth, "devices"))
    beacons = set(Beacon.objects.filter(account=account).values_list("vendor_id", flat=True))
    assert beacons == {str(b["id"]) for b in truth["beacons"]} | extras_kept(truth, "beacons")
    for resource in ("devices", "beacons", "events"):
        assert_counted(run, truth, resource)
    assert stored_events(account) == expected_events(truth)
    reasons = run.counts["positions"]["reasons"]
    # (0, 0) is where the row's beacon is placed for Safectory, so no reject; nor are coordinates unreadable
    unseen = {"latitude out of range", "not a finite number", "null island (0, 0)"}
    assert set(reasons) == set(POSITION_REASONS.values()) - unseen
    phantom_fixes = {(b["deviceId"], b["fixTime"]) for b in truth["bad"]["positions"] if b["kind"] == "unknown device"}
    assert reasons["unknown device"] == len(phantom_fixes)  # counted per fix: the rows of one scan merge first
    indoor = {(str(p["deviceId"]), p["fixTime"]) for p in truth["positions"] if p.get("fault") == "null island"}
    assert set(stored_keys(account)) <= set(expected_keys(truth)) | indoor
    assert_no_non_finite_values(account)
    again = synced(account)
    assert again.counts["positions"]["created"] == again.counts["events"]["created"] == 0


def test_safectory_stores_a_fix_when_one_row_of_its_scan_is_good(simulator):
    sim = simulator("safectory", devices=4)
    sim.set_faults(nan_attributes={"fraction": 0.3, "kinds": ["speed: 50000 knots", "null island"]})
    account = make_sim_account(sim, "safectory")
    synced(account)
    truth = sim.truth(all=True)
    fixes = Counter((p["deviceId"], p["fixTime"]) for p in truth["positions"])
    assert any(n > 1 for n in fixes.values())  # scans that heard two beacons
    # Rows of one scan share a fix time and merge into one position: a fix is stored when one of its rows is good.
    # A row at (0, 0) is where its beacon is placed (Safectory sends indoor positions so): not a bad row here.
    indoor = {(str(p["deviceId"]), p["fixTime"]) for p in truth["positions"] if p.get("fault") == "null island"}
    assert stored_keys(account) == sorted(set(expected_keys(truth)) | indoor)
