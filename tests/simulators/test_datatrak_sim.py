"""The Data Trak (Traccar 4.2) simulator over real HTTP and WebSocket."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.simulators.conftest import MakeSimulator, login, session_cookie

TRACCAR_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
EVER = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
POSITION_KEYS = {
    "id",
    "attributes",
    "deviceId",
    "type",
    "protocol",
    "serverTime",
    "deviceTime",
    "fixTime",
    "outdated",
    "valid",
    "latitude",
    "longitude",
    "altitude",
    "speed",
    "course",
    "address",
    "accuracy",
    "network",
}
DEVICE_KEYS = {
    "id",
    "attributes",
    "groupId",
    "name",
    "uniqueId",
    "status",
    "lastUpdate",
    "positionId",
    "geofenceIds",
    "phone",
    "model",
    "contact",
    "category",
    "disabled",
}


@pytest.fixture
def sim(simulator: MakeSimulator):
    """Four vehicles, clock frozen after 30 minutes of driving."""
    running = simulator("datatrak", devices=4, seed=3)
    running.clock(advance=1800)
    return running


@pytest.fixture
def api(sim):
    client = login(sim)
    yield client
    client.close()


def history(api: httpx.Client, device_id: int, **window: str) -> list[dict]:
    response = api.get("/api/positions", params={"deviceId": device_id, **(window or EVER)})
    assert response.status_code == 200, response.text
    return response.json()


def drain(ws, quiet: float = 0.5) -> list[dict]:
    """Every message until the socket has been quiet for `quiet` seconds."""
    messages = []
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=quiet)))
    except TimeoutError:
        return messages


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")


# --- sessions and auth ------------------------------------------------------------------------------


def test_login_with_good_credentials_returns_the_user_and_a_session_cookie(sim):
    response = httpx.post(f"{sim.url}/api/session", data={"email": "demo", "password": "demo"})
    assert response.status_code == 200
    assert response.json()["email"] == "demo"
    assert re.match(r"JSESSIONID=[^;]+; Path=/", response.headers["set-cookie"])


def test_login_with_bad_credentials_is_401_text_plain(sim):
    response = httpx.post(f"{sim.url}/api/session", data={"email": "demo", "password": "nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert "set-cookie" not in response.headers


def test_api_without_auth_is_401_with_a_basic_challenge_unless_xhr(sim):
    plain = httpx.get(f"{sim.url}/api/devices")
    xhr = httpx.get(f"{sim.url}/api/devices", headers={"X-Requested-With": "XMLHttpRequest"})
    assert plain.status_code == xhr.status_code == 401
    assert plain.headers["www-authenticate"] == 'Basic realm="api"'
    assert "www-authenticate" not in xhr.headers


def test_basic_auth_works_without_a_session_and_wrong_basic_beats_a_good_cookie(sim, api):
    assert httpx.get(f"{sim.url}/api/devices", auth=("demo", "demo")).status_code == 200
    assert api.get("/api/devices", auth=("demo", "wrong")).status_code == 401
    assert api.get("/api/devices").status_code == 200


def test_token_opens_a_session_and_get_session_without_one_is_404(sim):
    assert httpx.get(f"{sim.url}/api/session").status_code == 404
    assert httpx.get(f"{sim.url}/api/session", params={"token": "bad"}).status_code == 404
    with httpx.Client(base_url=sim.url) as client:
        assert client.get("/api/session", params={"token": "demo-token"}).status_code == 200
        assert client.get("/api/devices").status_code == 200
        assert client.delete("/api/session").status_code == 204
        assert client.get("/api/devices").status_code == 401


# --- shapes -----------------------------------------------------------------------------------------


def test_devices_have_the_traccar_shape_with_nulls_serialised(api):
    devices = api.get("/api/devices").json()
    assert len(devices) == 4
    assert all(set(d) == DEVICE_KEYS for d in devices)
    assert all(d["status"] in ("online", "offline", "unknown") for d in devices)
    assert all(TRACCAR_DATE.match(d["lastUpdate"]) for d in devices)
    assert '"contact":null' in api.get("/api/devices").text
    one = api.get("/api/devices", params={"uniqueId": devices[1]["uniqueId"]}).json()
    assert [d["id"] for d in one] == [devices[1]["id"]]


def test_positions_have_the_traccar_shape_and_date_format(api):
    latest = api.get("/api/positions").json()
    assert len(latest) == 4
    for position in latest:
        assert set(position) == POSITION_KEYS
        assert position["address"] is None
        assert TRACCAR_DATE.match(position["fixTime"]) and TRACCAR_DATE.match(position["serverTime"])
        assert {"ignition", "motion", "batteryLevel", "distance", "totalDistance"} <= set(position["attributes"])
    teltonika = [p for p in latest if p["protocol"] == "teltonika"]
    assert teltonika and all(
        {"power", "fuel", "odometer", "hours", "sat", "hdop"} <= set(p["attributes"]) for p in teltonika
    )


def test_speed_is_in_knots(sim, api):
    moving = [p for p in history(api, 1) + history(api, 2) if p["speed"] > 5]
    assert moving
    for position in moving:
        fix = sim.sim.store.fixes[position["id"] - sim.sim.first_position_id]
        assert position["speed"] == pytest.approx(fix.speed_kmh / 1.852)


def test_positions_from_to_is_inclusive_and_sorted_by_fix_time(api):
    everything = history(api, 1)
    times = [p["fixTime"] for p in everything]
    assert times == sorted(times) and len(everything) > 10
    start, end = everything[3]["fixTime"], everything[8]["fixTime"]
    zulu = {"from": parse(start).strftime("%Y-%m-%dT%H:%M:%SZ"), "to": parse(end).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert [p["id"] for p in history(api, 1, **zulu)] == [p["id"] for p in everything[3:9]]
    assert [p["id"] for p in history(api, 1, **{"from": start, "to": end})] == [p["id"] for p in everything[3:9]]


def test_positions_by_id_and_unknown_device_is_400(api):
    wanted = [p["id"] for p in history(api, 2)[:3]]
    got = api.get("/api/positions", params=[("id", i) for i in wanted]).json()
    assert [p["id"] for p in got] == wanted
    denied = api.get("/api/positions", params={"deviceId": 999, **EVER})
    assert denied.status_code == 400 and denied.headers["content-type"].startswith("text/plain")


def test_a_bad_date_is_400_text_plain(api):
    response = api.get("/api/positions", params={"deviceId": 1, "from": "yesterday", "to": EVER["to"]})
    assert response.status_code == 400
    assert "Exception" in response.text


# --- geofences, groups, drivers ---------------------------------------------------------------------


def test_geofences_are_lat_first_wkt_near_the_routes(api):
    geofences = api.get("/api/geofences").json()
    assert 3 <= len(geofences) <= 5
    kinds = {g["area"].split(" ")[0] for g in geofences}
    assert {"CIRCLE", "POLYGON", "LINESTRING"} <= kinds
    for geofence in geofences:
        first = re.search(r"\(+\s*([-\d.]+) ([-\d.]+)", geofence["area"])
        lat, lon = float(first.group(1)), float(first.group(2))
        assert 60.0 < lat < 60.4 and 24.5 < lon < 25.3  # Helsinki, latitude first
    line = next(g for g in geofences if g["area"].startswith("LINESTRING"))
    assert line["attributes"]["polylineDistance"] > 0


def test_geofence_crud_changes_the_simulator_and_truth(sim, api):
    created = api.post("/api/geofences", json={"name": "Yard", "area": "CIRCLE (60.17 24.94, 100)"}).json()
    assert created["id"] and created["calendarId"] == 0
    changed = api.put(f"/api/geofences/{created['id']}", json={**created, "name": "Big yard"}).json()
    assert changed["name"] == "Big yard"
    assert any(g["name"] == "Big yard" for g in sim.truth()["geofences"])
    assert api.delete(f"/api/geofences/{created['id']}").status_code == 204
    assert all(g["id"] != created["id"] for g in sim.truth()["geofences"])
    assert api.post("/api/geofences", json={"name": "x", "area": "CIRCLE (160.17 24.94, 10)"}).status_code == 400


def test_permissions_link_a_device_to_a_geofence(sim, api):
    geofence = api.get("/api/geofences").json()[0]
    assert api.post("/api/permissions", json={"deviceId": 2, "geofenceId": geofence["id"]}).status_code == 204
    assert [g["id"] for g in api.get("/api/geofences", params={"deviceId": 2}).json()] == [geofence["id"]]
    assert sim.truth()["permissions"] == [{"deviceId": 2, "geofenceId": geofence["id"]}]
    assert (
        api.request("DELETE", "/api/permissions", json={"deviceId": 2, "geofenceId": geofence["id"]}).status_code == 204
    )
    assert api.get("/api/geofences", params={"deviceId": 2}).json() == []


def test_groups_nest_and_group_reports_include_subgroups(api):
    groups = api.get("/api/groups").json()
    assert any(g["groupId"] for g in groups)
    assert all(re.fullmatch(r"[0-9A-F]{10}", d["uniqueId"]) for d in api.get("/api/drivers").json())
    devices = api.get("/api/devices").json()
    summary = api.get("/api/reports/summary", params={"groupId": 1, **EVER}).json()
    assert {s["deviceId"] for s in summary} == {d["id"] for d in devices if d["groupId"]}


# --- reports ----------------------------------------------------------------------------------------


def test_trips_and_stops_use_milliseconds_metres_and_knots(api):
    params = {"deviceId": [1, 2, 3, 4], **EVER}
    trips = api.get("/api/reports/trips", params=params).json()
    stops = api.get("/api/reports/stops", params=params).json()
    assert trips and stops
    for trip in trips:
        elapsed = parse(trip["endTime"]) - parse(trip["startTime"])
        assert trip["duration"] == elapsed / timedelta(milliseconds=1)
        assert trip["distance"] == pytest.approx(trip["endOdometer"] - trip["startOdometer"], abs=0.01)
        assert trip["driverUniqueId"] is None or isinstance(trip["driverUniqueId"], str)
        assert 0 < trip["maxSpeed"] < 130 / 1.852 + 1
    assert all(s["duration"] >= 0 and "latitude" in s for s in stops)


def test_route_and_events_reports(api):
    route = api.get("/api/reports/route", params={"deviceId": 3, **EVER}).json()
    assert [p["id"] for p in route] == [p["id"] for p in history(api, 3)]
    events = api.get("/api/reports/events", params={"deviceId": [1, 2, 3, 4], **EVER}).json()
    assert {"ignitionOn", "ignitionOff"} & {e["type"] for e in events}
    assert all(TRACCAR_DATE.match(e["serverTime"]) for e in events)
    only = api.get("/api/reports/events", params={"deviceId": [1, 2, 3, 4], "type": "ignitionOn", **EVER}).json()
    assert only and {e["type"] for e in only} == {"ignitionOn"}


# --- ground truth and clock -------------------------------------------------------------------------


def test_truth_lists_exactly_the_positions_a_client_fetched(sim, api):
    assert sim.truth()["positions"] == []
    fetched = {p["id"] for d in (1, 2) for p in history(api, d)}
    truth = sim.truth()
    assert {p["id"] for p in truth["positions"]} == fetched
    assert len(truth["devices"]) == 4 and not any(p["bad"] for p in truth["positions"])
    everything = {p["id"] for p in sim.truth(all=True)["positions"]}
    assert fetched < everything


def test_a_frozen_clock_keeps_truth_still_and_advance_never_passes_real_now(sim):
    before = sim.truth(all=True)
    assert sim.truth(all=True) == before
    state = sim.clock(advance=60)
    assert state["frozen"] and len(sim.truth(all=True)["positions"]) > len(before["positions"])
    state = sim.clock(advance=10**7)
    assert abs(state["lag"]) < 1.0
    newest = max(p["fixTime"] for p in sim.truth(all=True)["positions"])
    assert newest <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_unfrozen_clock_follows_real_time(simulator):
    sim = simulator("datatrak", devices=2, frozen=False, history=600)
    first = sim.clock()
    assert not first["frozen"] and 599 < first["lag"] < 601
    assert sim.clock(to_now=True)["lag"] < 1


# --- fault knobs ------------------------------------------------------------------------------------


def test_rate_limit_knob_answers_every_nth_request_with_429_and_retry_after(sim, api):
    sim.set_faults(rate_limit={"every": 3, "retry_after": 7})
    codes = [api.get("/api/devices") for _ in range(6)]
    assert [r.status_code for r in codes] == [200, 200, 429, 200, 200, 429]
    assert codes[2].headers["retry-after"] == "7"
    assert sim.stats()["faults"]["rate_limit"] == 2


def test_errors_knob_fails_the_next_k_requests(sim, api):
    sim.set_faults(errors={"status": 503, "count": 2})
    assert [api.get("/api/devices").status_code for _ in range(3)] == [503, 503, 200]


def test_malformed_knob_breaks_the_body_and_nothing_counts_as_served(sim, api):
    sim.set_faults(malformed={"count": 1, "mode": "truncated"})
    response = api.get("/api/positions", params={"deviceId": 1, **EVER})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert sim.truth()["positions"] == []
    sim.set_faults(malformed={"count": 1, "mode": "garbage"})
    assert not api.get("/api/devices").text.startswith("[")
    assert api.get("/api/devices").json()


def test_slow_knob_outlasts_the_client_timeout(sim, api):
    sim.set_faults(slow={"delay": 1.0, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        api.get("/api/positions", params={"deviceId": 1, **EVER}, timeout=0.3)
    assert api.get("/api/devices", timeout=5).status_code == 200
    time.sleep(0.8)  # the held request is dropped, not served, once the client has gone
    assert sim.stats()["slow_requests_abandoned"] == 1
    assert sim.truth()["positions"] == []


def test_expire_sessions_knob_forces_a_new_login(sim, api):
    sim.set_faults(expire_sessions=True)
    assert api.get("/api/devices").status_code == 401
    api.post("/api/session", data={"email": "demo", "password": "demo"})
    assert api.get("/api/devices").status_code == 200


def test_duplicates_knob_repeats_positions(sim, api):
    sim.set_faults(duplicates=1.0)
    rows = history(api, 1)
    ids = [p["id"] for p in rows]
    assert len(ids) == 2 * len(set(ids))
    assert len(sim.truth()["positions"]) == len(set(ids))


def test_out_of_order_positions_become_visible_late_with_their_old_fix_time(sim):
    sim.set_faults(out_of_order={"fraction": 1.0, "delay": 60})
    before = {p["id"] for p in sim.truth(all=True)["positions"]}
    sim.clock(advance=300)
    now = sim.clock()["now"][:19] + "Z"
    visible = {p["id"]: p["fixTime"] for p in sim.truth(all=True)["positions"]}
    generated = sim.stats()["positions_generated"]
    assert len(visible) < generated  # the last minute's positions are still on the trackers
    assert sim.stats()["faults"]["out_of_order"] == generated - len(before)
    sim.clock(advance=61)
    later = {p["id"]: p["fixTime"] for p in sim.truth(all=True)["positions"]}
    arrived = set(later) - set(visible)
    assert any(later[i] < now for i in arrived) and before < set(later)


def test_bad_positions_are_corrupted_and_flagged_in_truth(sim, api):
    sim.set_faults(bad_positions=1.0)
    rows = history(api, 2)
    assert rows
    for position in rows:
        corrupted = position["latitude"] in (91.0, "NaN") or position["fixTime"].startswith("2099")
        assert corrupted
    assert all(p["bad"] for p in sim.truth()["positions"])
    sim.set_faults(reset=True)
    assert all(p["bad"] for p in sim.truth()["positions"])  # a corrupted record stays corrupted


def test_faults_can_be_read_back_and_reset(sim):
    sim.set_faults(duplicates=0.25, errors={"count": 2})
    assert sim.set_faults()["duplicates"] == 0.25
    assert sim.set_faults(reset=True) == {}
    with pytest.raises(httpx.HTTPStatusError):
        sim.set_faults(no_such_knob=1)


# --- WebSocket --------------------------------------------------------------------------------------


def test_socket_needs_the_session_cookie_not_basic_auth(sim):
    with pytest.raises(InvalidStatus) as rejected:
        connect(sim.ws_url, additional_headers={"Authorization": "Basic ZGVtbzpkZW1v"}, open_timeout=5)
    assert rejected.value.response.status_code == 401


def test_socket_sends_latest_positions_first_then_one_key_per_message(sim, api):
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        first = json.loads(ws.recv(timeout=5))
        assert list(first) == ["positions"] and len(first["positions"]) == 4
        sim.clock(advance=300)
        pushed = drain(ws)
    assert len(pushed) > 5
    assert all(len(m) == 1 and len(next(iter(m.values()))) == 1 for m in pushed)
    assert {"positions"} <= {next(iter(m)) for m in pushed}
    served = {p["id"] for p in sim.truth()["positions"]}
    assert {m["positions"][0]["id"] for m in pushed if "positions" in m} <= served


def test_drop_socket_knob_closes_open_sockets(sim, api):
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        ws.recv(timeout=5)
        sim.set_faults(drop_socket=True)
        with pytest.raises(ConnectionClosed):
            # A tick that ran before the knob may already have pushed a position (one a message); the close
            # follows it, and nothing after the close is read.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                ws.recv(timeout=5)
    assert sim.stats()["sockets_closed"] == 1


def test_an_idle_socket_is_closed_after_the_idle_timeout(sim, api):
    sim.set_faults(socket_idle_timeout=0.3)
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        ws.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as closed:
            # The clock is frozen, but the ticks after the fixture's clock jump may still push what the jump
            # made visible (if they come after the connect), one position a message; then nothing more, and
            # the socket idles out.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1001


def test_command_types_follow_the_device_protocol(api):
    devices = sorted(d["id"] for d in api.get("/api/devices").json())
    types = [[t["type"] for t in api.get("/api/commands/types", params={"deviceId": d}).json()] for d in devices]
    assert "engineStop" in types[0] and "alarmArm" in types[0]
    assert types[1] == ["custom", "engineStop", "engineResume", "positionPeriodic", "message"]
    assert types[2] == []  # a phone app's protocol takes no commands
    every = {t["type"] for t in api.get("/api/commands/types").json()}
    assert set(types[0]) | set(types[1]) <= every
    denied = api.get("/api/commands/types", params={"deviceId": 999999})
    assert denied.status_code == 400 and "SecurityException" in denied.text


def test_send_command_answers_as_traccar_and_records_it(sim, api):
    device = sorted(d["id"] for d in api.get("/api/devices").json())[0]
    sent = api.post("/api/commands/send", json={"deviceId": device, "type": "engineStop", "attributes": {}})
    assert sent.status_code == 200, sent.text  # online: sent at once, the command echoed
    assert sent.json()["type"] == "engineStop" and sent.json()["deviceId"] == device
    bad = api.post("/api/commands/send", json={"deviceId": device + 2, "type": "engineStop"})
    assert bad.status_code == 400 and "not supported in protocol osmand" in bad.text
    empty = api.post("/api/commands/send", json={"deviceId": device, "type": "custom", "attributes": {}})
    assert empty.status_code == 400 and "data" in empty.text
    saved = api.post("/api/commands", json={"type": "custom", "attributes": {"data": "getver"}}).json()
    assert api.post("/api/commands/send", json={"id": saved["id"], "deviceId": device}).status_code == 200
    assert [c["type"] for c in api.get("/api/commands/send", params={"deviceId": device}).json()] == ["custom"]
    received = sim.truth()["commands"]
    assert [(c["deviceId"], c["type"], c["status"]) for c in received] == [
        (device, "engineStop", "sent"),
        (device, "custom", "sent"),
    ]
    assert received[1]["attributes"] == {"data": "getver"}


def test_send_command_to_a_device_not_online_is_queued(simulator):
    sim = simulator("datatrak", devices=1, seed=3)  # clock not advanced: no fix yet, status unknown
    client = login(sim)
    device = client.get("/api/devices").json()[0]
    assert device["status"] != "online"
    answer = client.post("/api/commands/send", json={"deviceId": device["id"], "type": "positionSingle"})
    assert answer.status_code == 202, answer.text  # Traccar: queued until the device connects
    assert answer.json()["type"] == "positionSingle"
    assert sim.truth()["commands"][0]["status"] == "queued"
    client.close()
