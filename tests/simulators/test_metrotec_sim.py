"""The Metrotec simulator over real HTTP: auth (JWT and API key), the version header, formats and paging."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import httpx
import pytest

from fleet.simulators.server import RunningSimulator
from tests.simulators.conftest import MakeSimulator

VERSION = "application/json; version=1.1.0"
VENDOR_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
EVER = {"period_start": "2000-01-01 00:00:00", "period_stop": "2100-01-01 00:00:00"}


def client(sim: RunningSimulator, token: str | None = None, **headers: str) -> httpx.Client:
    headers = {"Accept": VERSION, **headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=sim.url + "/api", timeout=10, headers=headers)


def login(sim: RunningSimulator, password: str = "demo") -> httpx.Response:  # noqa: S107
    return client(sim).post("/login", json={"username": "demo", "password": password})


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def sim(simulator: MakeSimulator) -> RunningSimulator:
    """Six vehicles, clock frozen after 40 minutes of driving."""
    return simulator("metrotec", devices=6, seed=4, history=2400, lag=0)


@pytest.fixture
def api(sim: RunningSimulator) -> httpx.Client:
    return client(sim, login(sim).json()["jwt"])


def test_a_request_without_the_version_in_accept_is_refused_unless_browsed(sim):
    bare = httpx.Client(base_url=sim.url + "/api", timeout=10, headers={"Authorization": "Bearer demo-token"})
    refused = bare.get("/vehicles")
    assert refused.status_code == 400 and "version=X.Y.Z" in refused.json()["message"]
    assert bare.get("/vehicles", headers={"Accept": "text/html"}).status_code == 200  # the browsable API
    assert bare.get("/vehicles", headers={"Accept": "application/json; version=9.9.9"}).status_code == 400
    sim.set_faults(require_version=False)
    assert bare.get("/vehicles").status_code == 200
    sim.set_faults(reset=True)
    assert bare.get("/vehicles").status_code == 400


def test_a_login_returns_a_jwt_that_expires_when_the_knob_says(sim):
    response = login(sim)
    assert response.status_code == 200
    token, expires = response.json()["jwt"], response.json()["expires"]
    assert token.count(".") == 2 and 590 < expires - time.time() <= 600
    assert client(sim, token).get("/vehicles").status_code == 200
    sim.set_faults(jwt_expiry=0.3)
    short = login(sim).json()["jwt"]
    assert client(sim, short).get("/vehicles").status_code == 200
    time.sleep(0.4)
    assert client(sim, short).get("/vehicles").status_code == 401
    assert client(sim, token).get("/vehicles").status_code == 200


def test_wrong_credentials_and_no_token_are_401(sim):
    assert login(sim, "wrong").status_code == 401
    assert client(sim).get("/vehicles").status_code == 401
    assert client(sim, "not-a-token").get("/vehicles").status_code == 401
    assert sim.stats()["login_failures"] == 1


def test_the_api_key_is_a_static_bearer_token_that_outlives_expired_sessions(sim, api):
    key = client(sim, "demo-token")
    assert key.get("/vehicles").status_code == 200
    sim.set_faults(expire_sessions=True)
    assert api.get("/vehicles").status_code == 401
    assert key.get("/vehicles").status_code == 200


def test_positions_come_in_the_vendors_format(sim, api):
    rows = api.get("/positions", params={"limit": -1}).json()
    assert len(rows) == 6
    for row in rows:
        assert VENDOR_TIME.match(row["GMTime"])
        assert re.fullmatch(r"\d{1,3}°", row["Heading"]) and int(row["Heading"][:-1]) < 360
        assert 24 < row["Xpos"] < 26 and 59 < row["Ypos"] < 61  # Xpos is longitude (Helsinki)
        assert row["NoGPSFix"] in ("0", "1") and isinstance(row["Speed"], int)
        assert {"t1", "t2", "t3", "t4", "Power", "BatLevel", "objectID"} <= row.keys()
    vehicles = {v["id"] for v in api.get("/vehicles").json()}
    assert {row["objectID"] for row in rows} == vehicles
    one = api.get(f"/positions/{rows[0]['objectID']}").json()
    assert one["ID"] == rows[0]["ID"]
    assert api.get("/positions/NOSUCH").status_code == 404


def test_history_runs_from_start_from_oldest_first_and_is_what_the_truth_calls_served(sim, api):
    reg = api.get("/vehicles").json()[0]["id"]
    everything = api.get("/history", params={"vehicle_id": reg, "start_from": "2000-01-01 00:00:00", "limit": -1})
    rows = everything.json()
    assert len(rows) > 20 and set(rows[0]) >= {"GMTime", "lat", "lon", "fuel", "input", "t1", "location"}
    times = [seconds(r["GMTime"]) for r in rows]
    assert times == sorted(times)
    middle = rows[len(rows) // 2]["GMTime"]
    later = api.get("/history", params={"vehicle_id": reg, "start_from": middle, "limit": -1}).json()
    assert later == rows[len(rows) // 2 :]
    served = {p["fixTime"] for p in sim.truth()["positions"] if p["deviceId"] == reg}
    assert served == {r["GMTime"].replace(" ", "T") + "Z" for r in rows}
    assert api.get("/history", params={"vehicle_id": reg}).status_code == 400


def test_limit_and_offset_page_a_list_and_minus_one_means_all(sim, api):
    reg = api.get("/vehicles").json()[0]["id"]
    query = {"vehicle_id": reg, "start_from": "2000-01-01 00:00:00"}
    everything = api.get("/history", params={**query, "limit": -1}).json()
    assert len(api.get("/history", params=query).json()) == min(100, len(everything))  # the default limit
    pages = [api.get("/history", params={**query, "limit": 7, "offset": k}).json() for k in range(0, 200, 7)]
    assert [row for page in pages for row in page] == everything
    assert api.get("/history", params={**query, "limit": -2}).status_code == 400


def test_reorder_pages_moves_a_row_between_pages_while_paging(sim, api):
    sim.set_faults(reorder_pages=True)
    whole = [v["id"] for v in api.get("/vehicles", params={"limit": -1}).json()]
    paged = [v["id"] for k in (0, 3) for v in api.get("/vehicles", params={"limit": 3, "offset": k}).json()]
    assert len(paged) == len(whole) and set(paged) != set(whole)  # one row missed, one seen twice
    assert sim.stats()["faults"]["reorder_pages"] == 1


def test_the_route_log_and_stops_describe_the_same_trips(sim, api):
    reg = api.get("/vehicles").json()[0]["id"]
    trips = api.get("/routelog", params={**EVER, "vehicle_id": reg}).json()
    stops = api.get("/stops", params={**EVER, "vehicle_id": reg}).json()
    assert trips and len(trips) == len(stops)
    for trip, stop in zip(trips, stops, strict=True):
        start, end, stop_end = (seconds(trip[k]) for k in ("startTime", "stopTime", "stopEnd"))
        assert trip["drivingTimeSeconds"] == end - start and trip["pauseTimeSeconds"] == stop_end - end
        assert (stop["startTime"], stop["stopTime"], stop["stopEnd"]) == tuple(
            trip[k] for k in ("startTime", "stopTime", "stopEnd")
        )
        assert trip["routeLengthKM"] >= 0 and trip["maxSpeed"] >= trip["averageSpeed"]
    assert [t["previousStopTime"] for t in trips[1:]] == [t["stopTime"] for t in trips[:-1]]
    assert api.get("/routelog", params={"vehicle_id": reg}).status_code == 400


def test_drivers_page_by_offset_and_minus_one_returns_them_all(sim, api):
    everyone = api.get("/drivers", params={"offset": -1}).json()
    assert len(everyone) == 4 and all(d["driverName"] == f"{d['name']} {d['fname']}" for d in everyone)
    assert api.get("/drivers", params={"offset": 2}).json() == everyone[2:]


def test_labels_follow_the_language_header(sim, api):
    english = {v["categoryName"] for v in api.get("/vehicles").json()}
    estonian = {v["categoryName"] for v in api.get("/vehicles", headers={"Accept-Language": "et"}).json()}
    assert english <= {"Car", "Van", "Truck"} and estonian <= {"Sõiduauto", "Kaubik", "Veok"}


def test_bad_positions_are_served_in_the_vendors_fields_and_flagged_in_the_truth(sim, api):
    sim.set_faults(bad_positions=0.2)
    rows = [
        row
        for v in api.get("/vehicles").json()
        for row in api.get("/history", params={"vehicle_id": v["id"], "start_from": "2000-01-01 00:00:00"}).json()
    ]
    bad = [p for p in sim.truth()["positions"] if p["bad"]]
    assert bad
    assert len([r for r in rows if r["lat"] in (91.0, "NaN") or r["GMTime"].startswith("2099")]) == len(bad)


def test_a_null_body_replaces_the_vehicle_list_when_asked(sim, api):
    sim.set_faults(missing_ids={"null_body": ["devices", "positions"]})
    assert api.get("/vehicles").json() is None
    assert api.get("/positions").json() is None


def test_geozones_are_created_edited_and_deleted_with_their_geometry_as_a_json_string(sim, api):
    before = api.get("/geozones").json()
    assert {g["geometry"]["type"] for g in before} == {"circle", "polygon"}
    circle = {"latlng": {"lat": 60.17, "lng": 24.94}, "radius": 120.5, "type": "circle"}
    created = api.post("/geozones", json={"id": "newItem", "name": "Yard", "geometry": json.dumps(circle)}).json()
    assert created["geometry"] == circle and created["deleted_at"] is None
    wider = {**circle, "radius": 300}
    api.put(f"/geozones/{created['id']}", json={"name": "Yard", "geometry": json.dumps(wider)})
    assert next(g for g in sim.truth()["geozones"] if g["id"] == created["id"])["geometry"]["radius"] == 300
    assert api.delete(f"/geozones/{created['id']}").status_code == 200
    listed = {g["id"]: g for g in api.get("/geozones").json()}
    assert listed[created["id"]]["deleted_at"]  # still listed, marked deleted
    assert created["id"] not in {g["id"] for g in sim.truth()["geozones"]}
    assert (
        api.put(f"/geozones/{created['id']}", json={"name": "Yard", "geometry": json.dumps(wider)}).status_code == 404
    )


@pytest.mark.parametrize(
    "geometry",
    [
        {"latlng": {"lat": 60.17, "lng": 24.94}, "radius": 120, "type": "circle"},  # an object, not a string
        "{not json",
        json.dumps({"type": "circle", "latlng": {"lat": 95, "lng": 24}, "radius": 10}),
        json.dumps({"type": "polygon", "latlngs": [{"lat": 60, "lng": 24}]}),
        json.dumps({"type": "rectangle"}),
    ],
)
def test_a_geozone_whose_geometry_is_not_a_circle_or_polygon_string_is_refused(sim, api, geometry):
    response = api.post("/geozones", json={"name": "Bad", "geometry": geometry})
    assert response.status_code == 400 and "geometry" in response.json()["message"]


def test_a_vehicle_is_linked_to_a_geozones_alarms_and_unlinked(sim, api):
    reg, zone = api.get("/vehicles").json()[0]["id"], api.get("/geozones").json()[0]["id"]
    link = api.post("/vehicles/zones", json={"object_id": reg, "zoneId": zone, "events": [1, 2]}).json()
    assert (link["geozoneID"], link["object_id"]) == (zone, reg)
    assert sim.truth()["zone_links"] == [{"id": link["id"], "geozoneID": zone, "object_id": reg, "events": [1, 2]}]
    assert api.post("/vehicles/zones", json={"object_id": reg, "zoneId": zone, "events": [3]}).status_code == 400
    api.request("DELETE", "/vehicles/zones", json={"object_id": reg, "zoneId": zone})
    assert sim.truth()["zone_links"] == []


TASK = {
    "lat": 59.437,
    "lon": 24.754,
    "start_time": "2025-01-20 08:00:00",
    "stop_time": "2025-01-20 17:00:00",
    "order_ref": "ORDER-2025-001",
    "task_address": "Tallinn, Estonia",
    "task_description": "Standard delivery task",
    "active": True,
}


def test_a_task_is_created_with_a_unique_order_ref_and_updated_with_the_edit_flag(sim, api):
    reg = api.get("/vehicles").json()[0]["id"]
    created = api.post("/tasks", json={**TASK, "object_id": reg}).json()
    assert (created["status"], created["order_ref"], created["object_id"]) == (1, "ORDER-2025-001", reg)
    assert created["ut"] == 1737360000 and created["alias"]
    again = api.post("/tasks", json={**TASK, "object_id": reg})
    assert again.status_code == 400 and "already been taken" in again.json()["message"]
    edit = {"task_address": "Updated Address, Tallinn", "status": 2, "stop_time": "2025-01-20 18:00:00", "edit": True}
    updated = api.put(f"/tasks/{created['id']}", json=edit).json()
    assert (updated["status"], updated["task_address"]) == (2, "Updated Address, Tallinn")
    assert sim.truth()["task_audit"] == [
        {"id": created["id"], "fields": ["status", "stop_time", "task_address"], "at": updated["updated_at"]}
    ]
    assert api.put(f"/tasks/{created['id']}", json={"status": 9}).status_code == 400
    assert api.put("/tasks/1", json={"status": 2}).status_code == 404


def test_the_task_list_shows_the_active_ones_unless_all_is_asked(sim, api):
    reg = api.get("/vehicles").json()[0]["id"]
    done = api.post("/tasks", json={**TASK, "object_id": reg, "order_ref": "A", "status": 3}).json()
    open_ = api.post("/tasks", json={**TASK, "object_id": reg, "order_ref": "B"}).json()
    assert [t["id"] for t in api.get("/tasks").json()] == [open_["id"]]
    assert [t["id"] for t in api.get("/tasks", params={"all": 1}).json()] == [done["id"], open_["id"]]
    missing = api.post("/tasks", json={"object_id": reg, "order_ref": "C"})
    assert missing.status_code == 400 and "required" in missing.json()["message"]


def test_pois_are_created_and_updated_with_their_purpose_checked(sim, api):
    assert len(api.get("/pois").json()) == 2
    home = {"lat": 60.17, "lon": 24.94, "name": "Home", "purpose": 0, "comment": "Gate code 1234", "radius": 10}
    created = api.post("/pois", json=home).json()
    assert (created["type"], created["radius"], created["purpose"]) == (1, 10, 0)
    updated = api.put(f"/pois/{created['id']}", json={"radius": 80, "name": "Home base"}).json()
    assert (updated["radius"], updated["name"], updated["lat"]) == (80, "Home base", 60.17)
    router = api.post("/pois", json={**home, "purpose": 2})
    assert router.status_code == 400 and "MAC" in router.json()["message"]
    assert api.post("/pois", json={**home, "purpose": 2, "comment": "AD-6A-9F-DA-13-7D"}).status_code == 200
    assert api.post("/pois", json={**home, "type": 10}).status_code == 400
    assert api.post("/pois", json={k: v for k, v in home.items() if k != "comment"}).status_code == 400
    assert len(sim.truth()["pois"]) == 4


def test_a_poi_report_is_processed_in_the_background_then_fetched(sim, api):
    sim.set_faults(poi_report_delay=0.6)
    body = {"datetime": ["2000-01-01 00:00:00", "2100-01-01 00:00:00"], "type": "poi", "group": "vehicle"}
    report = api.post("/poireports", json=body).json()
    assert report["status"] == 0
    assert api.get(f"/poireports/{report['id']}").status_code == 400  # not ready
    time.sleep(0.3)
    assert [r["status"] for r in api.get("/poireports").json()] == [1]
    time.sleep(0.4)
    assert [r["status"] for r in api.get("/poireports").json()] == [2]
    visits = api.get(f"/poireports/{report['id']}").json()
    assert visits, "the routes pass the POIs"
    for visit in visits:
        assert seconds(visit["out_time"]) - seconds(visit["in_time"]) == visit["in_poi_time"]
    assert api.post("/poireports", json={**body, "type": "nope"}).status_code == 400


def test_a_stuck_poi_report_never_finishes(sim, api):
    sim.set_faults(poi_report_delay=0.1, stuck_reports=True)
    body = {"datetime": ["2000-01-01 00:00:00", "2100-01-01 00:00:00"], "type": "poi", "group": "vehicle"}
    report = api.post("/poireports", json=body).json()
    time.sleep(0.3)
    assert api.get("/poireports").json()[0]["status"] == 1
    assert api.get(f"/poireports/{report['id']}").status_code == 400


def a_task(api: httpx.Client, sim: RunningSimulator, order_ref: str = "F-1") -> dict:
    vehicle = sim.truth()["devices"][0]["id"]
    body = {"object_id": vehicle, "lat": 60.17, "lon": 24.94, "order_ref": order_ref}
    body |= {"start_time": "2026-01-01 08:00:00", "stop_time": "2026-01-01 17:00:00"}
    return api.post("/tasks", json=body).json()


def test_files_are_uploaded_to_a_task_as_multipart_listed_by_pivot_and_retyped(sim, api):
    task = a_task(api, sim)
    form = {"pivot_type": "route_tasks", "pivot_id": str(task["id"]), "file_type": "cmr"}
    stored = api.post("/files", data=form, files={"file": ("cmr.pdf", b"%PDF-1.4 x", "application/pdf")}).json()
    assert (stored["defined_name"], stored["mime"], stored["file_type"]) == ("cmr.pdf", "application/pdf", "cmr")
    assert VENDOR_TIME.match(stored["uploaded_at"]) and stored["file_name"].endswith(".pdf")
    assert "size" not in stored and "_size" not in stored  # the truth's extras stay off the wire
    other = api.post("/files", data=form | {"pivot_type": "logos", "pivot_id": "1"}, files={"file": ("a.png", b"x")})
    assert other.status_code == 200
    listed = api.get("/files", params={"pivot_type": "route_tasks", "pivot_id": task["id"]}).json()
    assert [f["id"] for f in listed] == [stored["id"]]
    assert api.put(f"/files/{stored['id']}", json={"file_type": "image"}).json()["file_type"] == "image"
    (truth,) = [f for f in sim.truth()["files"] if f["id"] == stored["id"]]
    assert (truth["file_type"], truth["size"]) == ("image", len(b"%PDF-1.4 x"))


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"pivot_type": "tasks", "pivot_id": "1"}, "pivot type"),
        ({"pivot_type": "route_tasks", "pivot_id": "999"}, "Task not found"),
        ({"pivot_type": "route_tasks", "pivot_id": "TASK", "file_type": "photo"}, "file type"),
    ],
)
def test_a_file_upload_the_vendor_would_refuse_is_refused(sim, api, form, message):
    task = a_task(api, sim)
    form = {k: (str(task["id"]) if v == "TASK" else v) for k, v in form.items()}
    refused = api.post("/files", data=form, files={"file": ("a.png", b"x")})
    assert refused.status_code in (400, 404) and message in refused.json()["message"]
    assert api.post("/files", json=form).status_code == 400  # not multipart
    assert sim.truth()["files"] == []
