"""The row knobs of the Data Trak and Safectory simulators over real HTTP: what each serves, and that the
truth names every bad row served, by kind."""

from __future__ import annotations

import json
import math
from collections import Counter

import httpx
import pytest
from websockets.sync.client import connect

from fleet.simulators.badrows import AREA_FAULTS, LIST_FAULTS, ROW_FAULTS, TIME_FAULTS, VALUE_FAULTS
from tests.simulators.conftest import MakeSimulator, login, session_cookie

EVER = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
DATATRAK_IDS = [1, 2, 3, 4]
SAFECTORY_IDS = [44_969_282 + 7 * d for d in range(3)]


@pytest.fixture
def datatrak(simulator: MakeSimulator):
    sim = simulator("datatrak", devices=4, seed=3)
    sim.clock(advance=1800)
    client = login(sim)
    yield sim, client
    client.close()


@pytest.fixture
def safectory(simulator: MakeSimulator):
    sim = simulator("safectory", devices=3, seed=2)
    sim.clock(advance=900)
    client = login(sim)
    yield sim, client
    client.close()


def route(api: httpx.Client, ids: list[int]) -> list[dict]:
    response = api.get("/api/reports/route", params={"deviceId": ids, **EVER})
    assert response.status_code == 200, response.text
    return response.json()


def events(api: httpx.Client, ids: list[int]) -> list[dict]:
    response = api.get("/api/reports/events", params={"deviceId": ids, **EVER})
    assert response.status_code == 200, response.text
    return response.json()


def by_id(rows: list[dict]) -> dict:
    return {r["id"]: r for r in rows}


def value_fault(row: dict) -> str:
    """Which nan_attributes kind a served position shows, read from the row alone."""
    attrs = row["attributes"]
    if isinstance(attrs.get("fuel"), float) and math.isnan(attrs["fuel"]):
        assert math.isinf(attrs["power"]) and attrs["batteryLevel"] == -math.inf
        return "attributes: non-finite numbers"
    if attrs.get("fuel") == "NaN":
        assert (attrs["power"], attrs["batteryLevel"], attrs["odometer"]) == ("Infinity", "-Infinity", "NaN")
        return "attributes: non-finite text"
    if math.isnan(row["course"]):
        return "course: NaN"
    if (row["latitude"], row["longitude"]) == (0.0, 0.0):
        return "null island"
    checks = {
        "speed: negative": row["speed"] < 0,
        "speed: 50000 knots": row["speed"] == 50_000,
        "course: 400": row["course"] == 400,
        "course: -10": row["course"] == -10,
        "altitude: 84916000 m": row["altitude"] == 84_916_000,
        "accuracy: negative": row["accuracy"] < 0,
    }
    [kind] = [k for k, hit in checks.items() if hit]
    return kind


# --- nan_attributes ---------------------------------------------------------------------------------


def test_nan_attributes_serves_bare_nan_tokens_and_absurd_values_and_truth_names_each_row(datatrak):
    sim, api = datatrak
    sim.set_faults(nan_attributes=1.0)
    response = api.get("/api/reports/route", params={"deviceId": DATATRAK_IDS, **EVER})
    assert b'"fuel":NaN' in response.content and b'"power":Infinity' in response.content
    rows = json.loads(response.content)  # Python's json reads the bare tokens, as Jackson's reader does
    served = {r["id"]: value_fault(r) for r in rows}
    assert set(served.values()) == set(VALUE_FAULTS)
    truth = sim.truth()
    assert {p["id"]: p["fault"] for p in truth["positions"]} == served
    assert all(p["bad"] for p in truth["positions"])
    assert {p["id"]: p["kind"] for p in truth["bad"]["positions"]} == served
    assert sim.stats()["faults"]["nan_attributes"] == len(served)


def test_a_damaged_position_stays_damaged_and_a_clean_one_clean(datatrak):
    sim, api = datatrak
    clean = {r["id"] for r in route(api, [1])}
    sim.set_faults(nan_attributes={"fraction": 1.0, "kinds": ["null island"]})
    again = route(api, [1, 2])
    assert all(r["latitude"] != 0.0 for r in again if r["id"] in clean)
    damaged = {r["id"] for r in again if r["id"] not in clean}
    assert damaged and all(r["latitude"] == 0.0 for r in again if r["id"] in damaged)
    sim.set_faults(reset=True)
    assert {r["id"] for r in route(api, [1, 2]) if r["latitude"] == 0.0} == damaged
    assert {p["id"] for p in sim.truth()["bad"]["positions"]} == damaged


def test_the_kinds_of_a_row_knob_can_be_chosen_and_unknown_kinds_are_refused(datatrak):
    sim, api = datatrak
    sim.set_faults(nan_attributes={"fraction": 0.5, "kinds": ["course: 400"]})
    rows = route(api, DATATRAK_IDS)
    bad = [r for r in rows if r["course"] == 400]
    assert 0 < len(bad) < len(rows)
    assert {p["kind"] for p in sim.truth()["bad"]["positions"]} == {"course: 400"}
    with pytest.raises(httpx.HTTPStatusError):
        sim.set_faults(nan_attributes={"kinds": ["course: 9000"]})


# --- naive_times ------------------------------------------------------------------------------------


def test_naive_times_serves_zoneless_unreadable_and_out_of_window_times(datatrak):
    sim, api = datatrak
    sim.set_faults(naive_times=1.0)
    rows = route(api, DATATRAK_IDS)
    truth = sim.truth()
    kinds = {p["id"]: p["kind"] for p in truth["bad"]["positions"]}
    assert set(kinds.values()) == set(TIME_FAULTS) and set(kinds) == {r["id"] for r in rows}
    fix_time = {p["id"]: p["fixTime"] for p in truth["positions"]}
    for row in rows:
        kind, served, real = kinds[row["id"]], row["fixTime"], fix_time[row["id"]]
        expected = {
            "time: naive": real[:19] + ".000",
            "time: unreadable": "yesterday",
            "time: empty": "",
        }
        if kind in expected:
            assert served == expected[kind]
        elif kind == "time: 1999":
            assert served.startswith("1999-06-15T") and served[11:19] == real[11:19]
        else:
            assert served[:10] > real[:10] and served[11:] == real[11:19] + ".000+0000"
    naive = [r for r in rows if kinds[r["id"]] == "time: naive"]
    assert all(len(r["serverTime"]) == 23 for r in naive)


def test_naive_times_damages_events_and_truth_lists_every_event_served(datatrak):
    sim, api = datatrak
    sim.set_faults(naive_times=1.0)
    served = events(api, DATATRAK_IDS)
    assert len(served) >= len(TIME_FAULTS)
    truth = sim.truth()
    assert {e["id"] for e in truth["events"]} == {e["id"] for e in served}
    assert all(e["bad"] for e in truth["events"])
    kinds = {e["id"]: e["kind"] for e in truth["bad"]["events"]}
    assert set(kinds.values()) == set(TIME_FAULTS)
    for event in served:
        if kinds[event["id"]] == "time: naive":
            assert event["serverTime"] == next(e["time"] for e in truth["events"] if e["id"] == event["id"])[:23]
        if kinds[event["id"]] == "time: unreadable":
            assert event["serverTime"] == "yesterday"


def test_truth_events_are_the_served_events_with_their_millisecond_times(datatrak):
    sim, api = datatrak
    assert sim.truth()["events"] == []
    served = events(api, [1, 2])
    truth = sim.truth()
    assert [e["id"] for e in truth["events"]] == sorted(e["id"] for e in served)
    for event in served:
        row = next(e for e in truth["events"] if e["id"] == event["id"])
        assert row["time"] == event["serverTime"][:23] + "Z" and row["type"] == event["type"]
        assert row["deviceId"] == event["deviceId"] and row["positionId"] == event["positionId"]
        assert row["bad"] is False and "fault" not in row
    assert len(sim.truth(all=True)["events"]) >= len(served)
    resources = ("devices", "groups", "drivers", "geofences", "positions", "events")
    assert truth["bad"] == {r: [] for r in resources} | {"null_bodies": {}, "object_bodies": {}}


# --- unknown_devices --------------------------------------------------------------------------------


def test_unknown_devices_serves_positions_and_events_of_devices_the_list_does_not_have(datatrak):
    sim, api = datatrak
    sim.set_faults(unknown_devices=2)
    listed = {d["id"] for d in api.get("/api/devices").json()}
    rows = route(api, DATATRAK_IDS)
    strangers = {r["deviceId"] for r in rows} - listed
    assert strangers == {9_000_001, 9_000_002}
    phantom_rows = [r for r in rows if r["deviceId"] in strangers]
    real_rows = [r for r in rows if r["deviceId"] in listed]
    assert len(phantom_rows) == sum(1 for r in real_rows if r["deviceId"] in (1, 2))
    served_events = events(api, DATATRAK_IDS)
    assert {e["deviceId"] for e in served_events} - listed == strangers
    truth = sim.truth()
    assert {p["id"] for p in truth["positions"]} == {r["id"] for r in real_rows}  # the truth of listed devices
    bad = truth["bad"]
    assert {(p["id"], p["deviceId"]) for p in bad["positions"]} == {(r["id"], r["deviceId"]) for r in phantom_rows}
    assert {p["kind"] for p in bad["positions"] + bad["events"]} == {"unknown device"}
    assert {e["id"] for e in bad["events"]} == {e["id"] for e in served_events if e["deviceId"] in strangers}
    latest = api.get("/api/positions").json()
    assert {p["deviceId"] for p in latest} == listed | strangers


def test_unknown_devices_reach_the_socket_too(datatrak):
    sim, api = datatrak
    sim.set_faults(unknown_devices=1)
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        first = json.loads(ws.recv(timeout=5))
    assert 9_000_001 in {p["deviceId"] for p in first["positions"]}
    assert [p["deviceId"] for p in sim.truth()["bad"]["positions"]] == [9_000_001]


# --- missing_ids ------------------------------------------------------------------------------------


def test_missing_ids_adds_rows_without_ids_or_with_odd_attributes_to_every_list(datatrak):
    sim, api = datatrak
    sim.set_faults(missing_ids=0.25)
    truth_before = sim.truth()
    for resource, good in [("devices", 4), ("groups", 4), ("drivers", 4), ("geofences", 4)]:
        rows = api.get(f"/api/{resource}").json()
        extras = rows[good:]
        assert len(extras) == len(LIST_FAULTS)  # a quarter of four rows: one round, one row of each kind
        assert "id" not in extras[0] and extras[1]["id"] is None
        assert [e["attributes"] for e in extras[2:]] == ["ignition=true; fuel=20", [{"fuel": 20}], None]
        ledger = sim.truth()["bad"][resource]
        expected = [(e.get("id"), k) for e, k in zip(extras, LIST_FAULTS, strict=True)]
        assert [(b["id"], b["kind"]) for b in ledger] == expected
    assert sim.truth()["devices"] == truth_before["devices"]  # the truth's devices are the good ones


def test_an_extra_device_row_answers_with_no_positions(datatrak):
    sim, api = datatrak
    sim.set_faults(missing_ids={"fraction": 0.25, "kinds": ["attributes: text"]})
    [extra] = [d for d in api.get("/api/devices").json() if d["id"] not in DATATRAK_IDS]
    assert route(api, [extra["id"]]) == [] and events(api, [extra["id"]]) == []
    assert api.get("/api/positions", params={"deviceId": extra["id"]}).json() == []
    assert api.get("/api/reports/route", params={"deviceId": 9_999_999, **EVER}).status_code == 400


def test_missing_ids_damages_position_and_event_rows(datatrak):
    sim, api = datatrak
    sim.set_faults(missing_ids=1.0)
    rows, served_events = route(api, DATATRAK_IDS), events(api, DATATRAK_IDS)
    bad = sim.truth()["bad"]
    kinds = {p["id"]: p["kind"] for p in bad["positions"]}
    assert set(kinds.values()) == set(ROW_FAULTS) and set(kinds) == {r["id"] for r in rows}
    for row in rows:
        kind = kinds[row["id"]]
        assert ("deviceId" in row) == (kind != "no deviceId")
        if kind == "deviceId: null":
            assert row["deviceId"] is None
        if kind.startswith("attributes"):
            assert not isinstance(row["attributes"], dict)
    event_kinds = {e["id"]: e["kind"] for e in bad["events"]}
    assert set(event_kinds) == {e["id"] for e in served_events}
    assert all(("deviceId" in e) == (event_kinds[e["id"]] != "no deviceId") for e in served_events)


def test_a_resource_can_answer_null_or_an_object_instead_of_its_list(datatrak):
    sim, api = datatrak
    sim.set_faults(missing_ids={"null_body": "groups", "object_body": ["drivers"]})
    assert api.get("/api/groups").content == b"null"
    assert api.get("/api/drivers").json() == {"message": "Service temporarily unavailable"}
    assert len(api.get("/api/devices").json()) == 4  # no extra rows: the fraction defaults to 0
    assert route(api, [1])
    bad = sim.truth()["bad"]
    assert (bad["null_bodies"], bad["object_bodies"]) == ({"groups": 1}, {"drivers": 1})
    sim.set_faults(missing_ids={"null_body": ["positions", "events"]})
    assert route(api, [1]) is None and events(api, [1]) is None
    assert api.get("/api/positions").content == b"null"
    assert sim.truth()["bad"]["null_bodies"] == {"groups": 1, "positions": 2, "events": 1}
    with pytest.raises(httpx.HTTPStatusError):
        sim.set_faults(missing_ids={"null_body": "trips"})


# --- bad_geofences ----------------------------------------------------------------------------------


def test_bad_geofences_serves_unreadable_areas_next_to_the_good_ones(datatrak):
    sim, api = datatrak
    good = api.get("/api/geofences").json()
    sim.set_faults(bad_geofences=len(AREA_FAULTS))
    rows = api.get("/api/geofences").json()
    assert rows[: len(good)] == good
    bad = rows[len(good) :]
    assert [g["area"] for g in bad] == list(AREA_FAULTS.values())
    assert "POLYGON ((794 -195" in bad[4]["area"] and bad[5]["area"].endswith("-29)")
    truth = sim.truth()
    assert truth["geofences"] == good
    assert [(g["id"], g["kind"], g["area"]) for g in truth["bad"]["geofences"]] == [
        (g["id"], kind, g["area"]) for g, kind in zip(bad, AREA_FAULTS, strict=True)
    ]
    assert api.get("/api/geofences", params={"deviceId": 1}).json() == []  # the links are the good ones'


def test_bad_geofences_can_pick_kinds_and_repeat_them(datatrak):
    sim, api = datatrak
    sim.set_faults(bad_geofences={"count": 3, "kinds": ["area: point", "area: null"]})
    areas = [g["area"] for g in api.get("/api/geofences").json()[4:]]
    assert areas == ["POINT (60.1699 24.9384)", None, "POINT (60.1699 24.9384)"]
    assert Counter(g["kind"] for g in sim.truth()["bad"]["geofences"]) == {"area: point": 2, "area: null": 1}


# --- Safectory --------------------------------------------------------------------------------------


def test_safectory_lists_get_extra_rows_over_rest_and_the_socket(safectory):
    sim, api = safectory
    sim.set_faults(missing_ids={"fraction": 0.1, "kinds": ["no id", "attributes: list"]})
    devices = api.get("/api/devices").json()
    beacons = api.get("/api/beacons").json()
    assert len(devices) == 3 + 2 and "id" not in devices[3] and devices[4]["attributes"] == [{"fuel": 20}]
    assert len(beacons) == 30 + 3 * 2  # a tenth of 30 beacons: three rounds of both kinds
    assert len({(b["uuid"], b["major"], b["minor"]) for b in beacons}) == len(beacons)
    bad = sim.truth()["bad"]
    assert set(bad) == {"devices", "beacons", "positions", "events", "null_bodies", "object_bodies"}
    assert [b["kind"] for b in bad["devices"]] == ["no id", "attributes: list"]
    assert len(bad["beacons"]) == 6
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        greeting = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    assert greeting[0]["devices"] == devices and greeting[1]["beacons"] == beacons


def test_safectory_positions_and_events_take_every_row_knob(safectory):
    sim, api = safectory
    sim.set_faults(nan_attributes=0.3, naive_times=0.3, missing_ids=0.3, unknown_devices=3)
    rows = api.post("/api/reports/route", json={"deviceIds": SAFECTORY_IDS, **EVER}).json()
    served_events = api.post("/api/reports/events", json={"deviceIds": SAFECTORY_IDS, **EVER}).json()
    truth = sim.truth()
    kinds = Counter(p["kind"] for p in truth["bad"]["positions"])
    assert set(kinds) == set(VALUE_FAULTS) | set(TIME_FAULTS) | set(ROW_FAULTS) | {"unknown device"}
    phantoms = {i + 9_000_000 for i in SAFECTORY_IDS}
    assert kinds["unknown device"] == sum(1 for r in rows if r.get("deviceId") in phantoms)
    assert {p["id"] for p in truth["positions"] if p["bad"]} | {
        p["id"] for p in truth["bad"]["positions"] if p["kind"] == "unknown device"
    } == {p["id"] for p in truth["bad"]["positions"]}
    assert {e["id"] for e in truth["bad"]["events"]} <= {e["id"] for e in served_events}
    assert any(e["kind"] == "unknown device" for e in truth["bad"]["events"])
    time_kinds = {p["id"]: p["kind"] for p in truth["bad"]["positions"] if p["kind"] in TIME_FAULTS}
    served = by_id(rows)
    assert all(served[i]["fixTime"][:23] == served[i]["fixTime"] for i, k in time_kinds.items() if k == "time: naive")


def test_safectory_has_no_geofences_so_bad_geofences_changes_nothing(safectory):
    sim, api = safectory
    sim.set_faults(bad_geofences=3)
    assert api.get("/api/geofences").status_code == 404
    assert "geofences" not in sim.truth()["bad"]
