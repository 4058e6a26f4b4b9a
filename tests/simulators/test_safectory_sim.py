"""The Safectory Track simulator over real HTTP and WebSocket."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.simulators.conftest import MakeSimulator, login, session_cookie

SAFECTORY_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
EVER = {"from": "2000-01-01T00:00:00.000Z", "to": "2100-01-01T00:00:00.000Z"}
BEACON_FIELDS = {"beaconId", "beaconName", "beaconMajor", "beaconMinor", "beaconUuid", "rssi", "scanRssi"}


@pytest.fixture
def sim(simulator: MakeSimulator):
    """Four trackables in the warehouse, clock frozen after 30 minutes."""
    running = simulator("safectory", devices=4, seed=2, ping_interval=0.3)
    running.clock(advance=1800)
    return running


@pytest.fixture
def api(sim):
    client = login(sim)
    yield client
    client.close()


def device_ids(api: httpx.Client) -> list[int]:
    return [d["id"] for d in api.get("/api/devices").json()]


def route(api: httpx.Client, device_id: int, **filters: bool) -> list[dict]:
    response = api.get("/api/reports/route", params={"deviceId": device_id, **EVER, **filters})
    assert response.status_code == 200, response.text
    return response.json()


def beacon_of(rows: list[dict]) -> list[int]:
    return [r["beaconId"] for r in rows]


def test_form_login_sets_a_jsessionid_cookie_for_the_api_path(sim):
    response = httpx.post(f"{sim.url}/api/session", data={"email": "demo", "password": "demo"})
    assert response.status_code == 200 and "name" in response.json()
    assert re.match(r"JSESSIONID=node0\w+\.node0; Path=/api", response.headers["set-cookie"])
    assert httpx.post(f"{sim.url}/api/session", data={"email": "demo", "password": "x"}).status_code == 401


def test_basic_auth_and_cookie_both_work_and_nothing_is_401(sim, api):
    assert httpx.get(f"{sim.url}/api/beacons", auth=("demo", "demo")).status_code == 200
    assert api.get("/api/beacons").status_code == 200
    assert httpx.get(f"{sim.url}/api/beacons").status_code == 401


def test_devices_carry_safectory_extras_and_accept_the_csv_switch(api):
    response = api.get("/api/devices", params={"responseType": "json", "delimiter": ","})
    devices = response.json()
    assert len(devices) == 4
    for device in devices:
        assert {"activeGeofences", "notifications", "allgeofencesenabled", "firmwareVersion", "leafGroupName"} <= set(
            device
        )
        assert device["category"] in ("forklift", "pallet", "person")
        assert SAFECTORY_DATE.match(device["lastUpdate"])


def test_beacons_have_the_documented_fields(api):
    beacons = api.get("/api/beacons").json()
    assert beacons
    keys = {
        "id",
        "name",
        "attributes",
        "deviceId",
        "uuid",
        "major",
        "minor",
        "latitude",
        "longitude",
        "lastSeen",
        "batteryLevel",
        "relative",
        "roleGroupId",
    }
    assert all(keys <= set(b) for b in beacons)
    assert all(re.fullmatch(r"[0-9a-f]{32}", b["uuid"]) for b in beacons)


def test_put_beacon_moves_it_and_truth_follows(sim, api):
    beacon = api.get("/api/beacons").json()[0]
    moved = api.put(f"/api/beacons/{beacon['id']}", json={**beacon, "latitude": 49.9, "longitude": 10.88}).json()
    assert (moved["latitude"], moved["longitude"]) == (49.9, 10.88)
    truth = next(b for b in sim.truth()["beacons"] if b["id"] == beacon["id"])
    assert (truth["latitude"], truth["longitude"]) == (49.9, 10.88)
    assert api.put("/api/beacons/1", json=beacon).status_code == 404


def test_position_rows_name_the_beacon_and_share_scan_times(api):
    rows = route(api, device_ids(api)[0])
    assert rows
    assert all(set(r) >= BEACON_FIELDS and isinstance(r["attributes"]["floor"], str) for r in rows)
    assert all(SAFECTORY_DATE.match(r["fixTime"]) and SAFECTORY_DATE.match(r["serverTime"]) for r in rows)
    every = [r for d in device_ids(api) for r in route(api, d)]
    shared = [t for t, n in Counter((r["deviceId"], r["fixTime"]) for r in every).items() if n > 1]
    assert shared  # one scan heard two beacons
    pair = [r for r in every if (r["deviceId"], r["fixTime"]) == shared[0]]
    assert len({r["serverTime"] for r in pair}) == 1 and len({r["beaconId"] for r in pair}) == len(pair)
    assert any(r["rssi"] is None for r in every)
    assert len({r["id"] for r in every}) == len(every)


def test_latest_positions_and_device_filter(api):
    latest = api.get("/api/positions").json()
    assert len(latest) == 4
    one = api.get("/api/positions", params={"deviceId": latest[0]["deviceId"]}).json()
    assert [r["id"] for r in one] == [latest[0]["id"]]


def flaps(rows: list[dict]) -> int:
    """A-B-A beacon flips within 60 s."""
    beacons, times = beacon_of(rows), [datetime.fromisoformat(r["fixTime"]) for r in rows]
    return sum(
        beacons[k] == beacons[k + 2] != beacons[k + 1] and (times[k + 2] - times[k]).total_seconds() <= 60
        for k in range(len(rows) - 2)
    )


def test_route_filters_same_location_and_flapping(api):
    device = device_ids(api)[1]
    raw = route(api, device)
    same = route(api, device, filterSameLocation=True)
    assert 0 < len(same) < len(raw)
    assert all(a != b for a, b in zip(beacon_of(same), beacon_of(same)[1:], strict=False))
    unflapped = route(api, device, filterFlapping=True)
    assert flaps(raw) > 0 and flaps(unflapped) == 0


def test_route_accepts_a_post_body_like_the_get_query(api):
    device = device_ids(api)[2]
    body = {"deviceIds": [device], **EVER, "filterSameLocation": True, "filterFlapping": True}
    posted = api.post("/api/reports/route", json=body).json()
    got = route(api, device, filterSameLocation=True, filterFlapping=True)
    assert posted and [r["id"] for r in posted] == [r["id"] for r in got]


def test_summary_counts_beacons_and_positions(api):
    device = device_ids(api)[0]
    rows = route(api, device)
    summary = api.get("/api/reports/summary", params={"deviceId": device, **EVER}).json()[0]
    assert summary["positionCount"] == len(rows)
    assert summary["beaconCount"] == len({r["beaconId"] for r in rows})


def test_events_carry_beacon_fields(api):
    events = api.post("/api/reports/events", json={"deviceIds": device_ids(api), **EVER}).json()
    assert events and all({"beaconId", "beaconName", "serverTime", "type"} <= set(e) for e in events)


def test_truth_rows_are_unique_per_device_time_and_beacon(sim, api):
    fetched = {r["id"] for d in device_ids(api) for r in route(api, d)}
    truth = sim.truth()["positions"]
    assert {p["id"] for p in truth} == fetched
    keys = [(p["deviceId"], p["fixTime"], p["beaconId"]) for p in truth]
    assert len(keys) == len(set(keys))


def test_socket_pushes_devices_beacons_positions_then_the_session_timeout(sim, api):
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        first = [json.loads(ws.recv(timeout=5)) for _ in range(4)]
    assert [list(m) for m in first] == [["devices"], ["beacons"], ["positions"], ["webSessionTimeout"]]
    assert len(first[0]["devices"]) == 4 and first[3]["webSessionTimeout"] == [86400]


def test_answering_pings_keeps_the_socket_open_past_three_intervals(sim, api):
    pongs = 0
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        deadline = time.monotonic() + 1.2  # four ping intervals of 0.3 s
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=2))
            for status in message.get("status", []):
                assert status["type"] == "PING"
                ws.send(f"pong {status['message']}")
                pongs += 1
        assert ws.ping().wait(2)  # still open
    assert pongs >= 3
    assert sim.stats()["pongs_received"] == pongs


def test_a_socket_that_ignores_pings_is_closed(sim, api):
    cookie = {"Cookie": session_cookie(api)}
    with (
        connect(sim.ws_url, additional_headers=cookie, open_timeout=5) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        while True:
            ws.recv(timeout=3)
    assert closed.value.rcvd.code == 1008
    assert sim.stats()["sockets_pong_timeout"] == 1


def test_ignore_pongs_knob_closes_even_a_polite_client(sim, api):
    sim.set_faults(ignore_pongs=True)
    cookie = {"Cookie": session_cookie(api)}
    with connect(sim.ws_url, additional_headers=cookie, open_timeout=5) as ws, pytest.raises(ConnectionClosed):
        while True:
            message = json.loads(ws.recv(timeout=3))
            for status in message.get("status", []):
                ws.send(f"pong {status['message']}")


def test_socket_pushes_new_rows_as_the_clock_advances(sim, api):
    sim.set_faults(ping_interval=60)
    with connect(sim.ws_url, additional_headers={"Cookie": session_cookie(api)}, open_timeout=5) as ws:
        for _ in range(4):
            ws.recv(timeout=5)
        sim.clock(advance=60)
        pushed = []
        try:
            while True:
                pushed.append(json.loads(ws.recv(timeout=0.5)))
        except TimeoutError:
            pass
    rows = [m["positions"][0] for m in pushed if "positions" in m]
    assert rows and all(set(r) >= BEACON_FIELDS for r in rows)
    assert {r["id"] for r in rows} <= {p["id"] for p in sim.truth()["positions"]}
