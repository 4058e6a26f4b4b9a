"""The iTrack (Navixy) simulator over real HTTP: the envelope and its codes, hash sessions, form and JSON bodies,
times on the user's wall clock, the fault knobs, and zones / places / tasks stored and editable."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from fleet.simulators.server import RunningSimulator
from tests.simulators.conftest import MakeSimulator

HELSINKI = ZoneInfo("Europe/Helsinki")
LOCAL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@pytest.fixture
def sim(simulator: MakeSimulator) -> RunningSimulator:
    return simulator("itrack", devices=4, seed=4, history=2400, lag=0)


@pytest.fixture
def api(sim: RunningSimulator):
    client = httpx.Client(base_url=sim.url + "/api", timeout=10)
    session = client.post("/user/auth", data={"login": "demo", "password": "demo"}).json()["hash"]

    def call(name: str, **params):
        return client.post(f"/{name}", json={"hash": session, **params})

    call.hash = session
    return call


def local(moment: datetime) -> str:
    return moment.astimezone(HELSINKI).strftime("%Y-%m-%d %H:%M:%S")


def window(hours: float = 2) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": local(now - timedelta(hours=hours)), "to": local(now + timedelta(minutes=1))}


def test_auth_gives_a_32_hex_hash_and_wrong_credentials_code_102(sim):
    client = httpx.Client(base_url=sim.url + "/api", timeout=10)
    answer = client.post("/user/auth", data={"login": "demo", "password": "demo"}).json()
    assert answer["success"] is True and re.fullmatch(r"[0-9a-f]{32}", answer["hash"])
    wrong = client.post("/user/auth", json={"login": "demo", "password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json() == {"success": False, "status": {"code": 102, "description": "Wrong login or password"}}


def test_a_call_without_a_live_hash_is_code_4_and_the_api_key_works(sim, api):
    client = httpx.Client(base_url=sim.url + "/api", timeout=10)
    assert client.post("/tracker/list", json={"hash": "0" * 32}).json()["status"]["code"] == 4
    assert client.post("/tracker/list", json={"hash": "short"}).json()["status"]["code"] == 3
    assert client.post("/tracker/list", json={"hash": "demo-token"}).json()["success"] is True
    nvx = client.post("/tracker/list", headers={"Authorization": f"NVX {api.hash}"})
    assert nvx.json()["success"] is True
    sim.set_faults(expire_sessions=True)
    assert api("tracker/list").json()["status"]["code"] == 4


def test_session_expire_ends_hashes_after_their_lifetime(sim, api):
    assert api("tracker/list").json()["success"]
    sim.set_faults(session_expire=0.05)
    time.sleep(0.1)
    assert api("tracker/list").json()["status"]["code"] == 4


def test_points_are_on_the_users_wall_clock_and_match_the_truth(sim, api):
    tracker = api("tracker/list").json()["list"][1]["id"]
    points = api("track/read", tracker_id=tracker, **window()).json()["list"]
    assert len(points) > 20 and all(LOCAL.match(p["get_time"]) for p in points)
    truth = {p["fixTime"]: p for p in sim.truth()["positions"] if p["deviceId"] == tracker}
    for p in points:
        utc = datetime.strptime(p["get_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=HELSINKI).astimezone(UTC)
        assert truth[utc.strftime("%Y-%m-%dT%H:%M:%SZ")]["latitude"] == p["lat"]


def test_get_states_gives_the_latest_point_and_lists_blocked_and_unknown(sim, api):
    trackers = [t["id"] for t in api("tracker/list").json()["list"]]
    sim.set_faults(tracker_blocked={"count": 1, "code": 204})
    answer = api("tracker/get_states", trackers=[*trackers, 1], list_blocked=True, allow_not_exist=True).json()
    assert answer["blocked"] == trackers[:1] and answer["not_exist"] == [1]
    assert sorted(answer["states"]) == sorted(str(t) for t in trackers[1:])
    assert api("tracker/get_states", trackers=trackers).json()["status"]["code"] == 217
    assert api("tracker/get_states", trackers=list(range(2001))).json()["status"]["code"] == 7
    assert api("track/read", tracker_id=trackers[0], **window()).json()["status"]["code"] == 204


def test_span_and_history_limits(sim, api):
    tracker = api("tracker/list").json()["list"][1]["id"]
    sim.set_faults(span_limit_days=0.01)
    assert api("track/read", tracker_id=tracker, **window(1)).json()["status"]["code"] == 211
    sim.set_faults(span_limit_days=None, history_limit=10)
    answer = api("track/read", tracker_id=tracker, **window()).json()
    assert answer["limit_exceeded"] is True and len(answer["list"]) == 10
    trackers = [t["id"] for t in api("tracker/list").json()["list"]]
    assert api("history/tracker/list", trackers=trackers, limit=11, **window()).json()["status"]["code"] == 212
    history = api("history/tracker/list", trackers=trackers, limit=5, **window()).json()
    assert history["limit_exceeded"] is True and len(history["list"]) == 5


def test_too_many_requests_is_code_15_with_http_429(sim, api):
    sim.set_faults(too_many_requests={"every": 2, "retry_after": 4})
    answers = [api("zone/list") for _ in range(2)]
    assert answers[1].status_code == 429 and answers[1].headers["Retry-After"] == "4"
    assert answers[1].json()["status"]["code"] == 15


def test_zones_of_each_type_are_created_listed_updated_and_deleted(sim, api):
    line = [{"lat": 60.17, "lng": 24.94}, {"lat": 60.18, "lng": 24.95}]
    created = api("zone/create", zone={"type": "sausage", "label": "Road", "radius": 30}, points=line).json()
    zone_id = created["id"]
    listed = {z["id"]: z for z in api("zone/list").json()["list"]}
    assert listed[zone_id]["type"] == "sausage" and "points" not in listed[zone_id]
    assert [p["lat"] for p in api("zone/point/list", zone_id=zone_id).json()["list"]] == [60.17, 60.18]
    assert api("zone/create", zone={"type": "polygon", "label": "x"}, points=line).json()["status"]["code"] == 284
    circle = {"type": "circle", "label": "C", "radius": 10, "center": {"lat": 60.1, "lng": 24.9}}
    assert api("zone/create", zone=circle, points=line).json()["status"]["code"] == 230
    assert api("zone/update", zone={"id": zone_id, "type": "sausage", "label": "Road 2", "radius": 50}).json()[
        "success"
    ]
    assert next(z for z in sim.truth()["zones"] if z["id"] == zone_id)["radius"] == 50
    assert api("zone/delete", zone_id=zone_id).json()["success"]
    assert api("zone/delete", zone_id=zone_id).json()["status"]["code"] == 201


def test_tasks_are_assigned_and_their_tracker_ignored_on_update(sim, api):
    trackers = [t["id"] for t in api("tracker/list").json()["list"]]
    task = {"label": "Deliver", "location": {"lat": 60.17, "lng": 24.94, "radius": 100}, **window()}
    task_id = api("task/create", task=task | {"tracker_id": trackers[1]}).json()["id"]
    api("task/update", task=task | {"id": task_id, "tracker_id": trackers[2], "label": "Deliver 2"})
    row = next(t for t in sim.truth()["tasks"] if t["id"] == task_id)
    assert (row["tracker_id"], row["label"], row["status"]) == (trackers[1], "Deliver 2", "assigned")
    assert api("task/assign", task_id=task_id, tracker_id=None).json()["success"]
    assert next(t for t in sim.truth()["tasks"] if t["id"] == task_id)["status"] == "unassigned"
