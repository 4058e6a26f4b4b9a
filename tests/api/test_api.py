"""The REST API: tokens (scope, revocation, last used), one error body, organisation scoping (another
organisation's ids are 404 everywhere), GeoJSON in and out with plain-word geometry errors, task moves through
the state machine, cursor feeds that lose and repeat nothing while positions (late ones too) are stored, throttling,
and the committed OpenAPI schema."""

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from fleet.api import feeds
from fleet.api.models import ApiToken
from fleet.core.models import Membership
from fleet.dispatch.models import Task
from fleet.tracking import ingest
from fleet.tracking.models import Position
from fleet.tracking.records import PositionRecord
from tests.conftest import make_device, make_user

pytestmark = pytest.mark.django_db
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def api(user, scope="write") -> tuple[APIClient, ApiToken]:
    token, key = ApiToken.issue(user, "test", scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client, token


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Throttle histories and feed samples live in the shared Redis: a key prefix of this test's own."""
    import uuid

    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}


@pytest.fixture
def alice(org_a, django_user_model):
    return make_user(django_user_model, "alice", org_a, role=Membership.Role.DISPATCHER, staff=False)


def test_no_or_a_bad_token_is_401_with_the_error_body(alice):
    assert APIClient().get("/api/v1/devices/").json()["error"]["code"] == "not_authenticated"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer flt_nope")
    response = bad.get("/api/v1/devices/")
    assert response.status_code == 401 and "not valid" in response.json()["error"]["message"]
    client, token = api(alice)
    assert client.get("/api/v1/me/").json()["token"] == {"name": "test", "scope": "write"}
    token.refresh_from_db()
    assert token.last_used is not None
    token.revoked = timezone.now()
    token.save()
    assert client.get("/api/v1/me/").status_code == 401


def test_a_read_only_token_cannot_write_and_a_viewer_cannot_either(alice, org_a, django_user_model):
    client, _ = api(alice, scope="read")
    body = {"organization": org_a.pk, "order_ref": "R-1", "destination": {"type": "Point", "coordinates": [24.9, 60.1]}}
    response = client.post("/api/v1/tasks/", body, format="json")
    assert response.status_code == 403 and response.json()["error"]["message"] == "This token is read-only."
    viewer = make_user(django_user_model, "view", org_a, role=Membership.Role.VIEWER, staff=False)
    client, _ = api(viewer)
    assert client.post("/api/v1/tasks/", body, format="json").status_code == 403


def test_another_organisations_objects_are_404_and_never_listed(alice, org_a, org_b):
    mine, theirs = make_device(org_a, "Mine"), make_device(org_b, "Theirs")
    client, _ = api(alice)
    assert [d["name"] for d in client.get("/api/v1/devices/").json()["results"]] == ["Mine"]
    assert client.get(f"/api/v1/devices/{theirs.pk}/").status_code == 404
    for path in (f"/api/v1/positions/?device={theirs.pk}", f"/api/v1/events/?device={theirs.pk}"):
        refused = client.get(path)  # as an id that does not exist: never an empty list that says it exists
        assert refused.status_code == 400 and refused.json()["error"]["fields"]["device"] == [
            "Select a valid choice. That choice is not one of the available choices."
        ]
    assert client.get(f"/api/v1/devices/?organization={org_b.pk}").status_code == 400
    task = Task.objects.create(organization=org_b, order_ref="B", destination="POINT(24 60)")
    assert (
        client.post(f"/api/v1/tasks/{task.pk}/transition/", {"status": "cancelled"}, format="json").status_code == 404
    )
    body = {"organization": org_b.pk, "order_ref": "X", "destination": {"type": "Point", "coordinates": [24, 60]}}
    refused = client.post("/api/v1/tasks/", body, format="json").json()["error"]
    assert refused["fields"]["organization"] == [f'Invalid pk "{org_b.pk}" - object does not exist.']
    assert client.get(f"/api/v1/devices/{mine.pk}/").json()["name"] == "Mine"


def test_geofences_are_geojson_in_and_out_and_bad_shapes_are_named(alice, org_a):
    client, _ = api(alice)
    square = {
        "type": "Polygon",
        "coordinates": [[[24.9, 60.1], [25.0, 60.1], [25.0, 60.2], [24.9, 60.2], [24.9, 60.1]]],
    }
    feature = {"type": "Feature", "geometry": square, "properties": {"organization": org_a.pk, "name": "Yard"}}
    made = client.post("/api/v1/geofences/", feature, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["type"] == "Feature" and made.json()["geometry"]["type"] == "Polygon"
    listed = client.get("/api/v1/geofences/").json()
    assert listed["type"] == "FeatureCollection" and [f["properties"]["name"] for f in listed["features"]] == ["Yard"]
    bow = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    bad = client.post("/api/v1/geofences/", {**feature, "geometry": bow}, format="json").json()["error"]
    assert bad["code"] == "invalid" and bad["fields"]["geometry"] == ["Self-intersecting."]
    nonsense = client.post("/api/v1/geofences/", {**feature, "geometry": {"type": "Blob"}}, format="json").json()
    assert "Not a readable GeoJSON geometry" in nonsense["error"]["fields"]["geometry"][0]


def test_tasks_move_through_the_state_machine(alice, org_a):
    van = make_device(org_a)
    client, _ = api(alice)
    body = {"organization": org_a.pk, "order_ref": "T-1", "destination": {"type": "Point", "coordinates": [24.9, 60.1]}}
    task = client.post("/api/v1/tasks/", body, format="json").json()
    assert task["status"] == "created"
    again = client.post("/api/v1/tasks/", body, format="json").json()["error"]
    assert again["fields"]["order_ref"] == ["The organisation already has a task T-1."]
    refused = client.post(f"/api/v1/tasks/{task['id']}/transition/", {"status": "completed"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "conflict",
        "message": "A task cannot go from created to completed.",
        "fields": {},
    }
    assigned = client.post(f"/api/v1/tasks/{task['id']}/assign/", {"device": van.pk}, format="json").json()
    assert (assigned["status"], assigned["device"]) == ("assigned", van.pk)


def test_following_the_feed_while_positions_arrive_gives_every_stored_one_once(alice, org_a, monkeypatch):
    monkeypatch.setattr(feeds, "FEED_SETTLE_S", 0.0)
    vans = [make_device(org_a, f"Van {k}") for k in range(3)]
    client, _ = api(alice)
    start = timezone.now() - timedelta(hours=1)
    seen: list[int] = []
    cursor = 0

    def follow():
        nonlocal cursor
        while True:
            page = client.get(f"/api/v1/positions/feed/?after={cursor}&limit=7").json()
            seen.extend(p["id"] for p in page["results"])
            cursor = page["next"]
            if not page["more"]:
                return

    for batch in range(6):
        records = [
            PositionRecord(str(v.pk), start + timedelta(seconds=60 * batch + k), 60.1, 24.9 + k / 1000)
            for v in vans
            for k in range(5)
        ]
        if batch >= 2:  # late fixes, for times already past
            records += [PositionRecord(str(vans[0].pk), start - timedelta(minutes=batch), 60.2, 24.8)]
        ingest.positions(org_a.pk, None, records)
        follow()
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(Position.objects.values_list("pk", flat=True))


def test_the_feed_holds_back_what_was_stored_a_moment_ago(alice, org_a):
    van = make_device(org_a)
    client, _ = api(alice)
    ingest.positions(org_a.pk, None, [PositionRecord(str(van.pk), timezone.now(), 60.1, 24.9)])
    page = client.get("/api/v1/positions/feed/").json()
    assert page == {"results": [], "next": 0, "more": False}  # not yet settled: asked again, it comes


@pytest.mark.parametrize("feed", ["positions", "events"])
@pytest.mark.parametrize("after", ["-1", str(2**63), "1582303061486498742272", "x"])
def test_a_cursor_that_is_no_cursor_of_ours_is_a_400_naming_it(alice, feed, after):
    client, _ = api(alice)
    answer = client.get(f"/api/v1/{feed}/feed/?after={after}")
    assert answer.status_code == 400, answer.content
    assert "cursor" in answer.content.decode()


def test_a_token_over_its_rate_is_429_with_retry_after(alice, settings):
    from rest_framework.settings import api_settings

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "api": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from fleet.api.auth import TokenThrottle

    original = TokenThrottle.THROTTLE_RATES
    TokenThrottle.THROTTLE_RATES = rates
    try:
        client, _ = api(alice)
        codes = [client.get("/api/v1/me/").status_code for _ in range(4)]
        last = client.get("/api/v1/me/")
    finally:
        TokenThrottle.THROTTLE_RATES = original
    assert codes[:3] == [200, 200, 200] and last.status_code == 429
    assert int(last["Retry-After"]) > 0 and last.json()["error"]["code"] == "throttled"


def test_the_committed_openapi_schema_is_the_generated_one(tmp_path):
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(SCHEMA.read_text()), (
        "the API changed: run `manage.py spectacular --file docs/openapi.yaml` and commit the diff"
    )


def test_groups_drivers_and_rules_are_scoped_and_another_orgs_ids_do_not_exist(alice, org_a, org_b, django_user_model):
    from fleet.tracking.models import DeviceGroup, Driver

    DeviceGroup.objects.create(organization=org_a, name="Vans")
    DeviceGroup.objects.create(organization=org_b, name="Theirs")
    Driver.objects.create(organization=org_a, name="Anna")
    client, _ = api(alice)
    assert [g["name"] for g in client.get("/api/v1/groups/").json()["results"]] == ["Vans"]
    assert [d["name"] for d in client.get("/api/v1/drivers/").json()["results"]] == ["Anna"]
    theirs = make_device(org_b, "Theirs")
    body = {"organization": org_a.pk, "name": "Overspeed", "event_types": ["deviceOverspeed"], "devices": [theirs.pk]}
    refused = client.post("/api/v1/notification-rules/", body, format="json").json()["error"]
    assert refused["fields"]["devices"] == [f'Invalid pk "{theirs.pk}" - object does not exist.']
    made = client.post("/api/v1/notification-rules/", {**body, "devices": []}, format="json")
    assert made.status_code == 201 and made.json()["event_types"] == ["deviceOverspeed"]
    again = client.post("/api/v1/notification-rules/", {**body, "devices": []}, format="json").json()["error"]
    assert again["fields"]["name"] == ["The organisation already has a rule Overspeed."]


def test_vendor_accounts_are_for_admins_and_never_show_their_credentials(alice, org_a, django_user_model, monkeypatch):
    from fleet.vendors import tasks
    from tests.conftest import make_account

    account = make_account(org_a, "DT", credentials={"username": "u", "password": "s3cret-pass"})
    client, _ = api(alice)  # a dispatcher
    assert client.get("/api/v1/accounts/").status_code == 403
    boss, _ = api(make_user(django_user_model, "boss", org_a, role=Membership.Role.ADMIN, staff=False))
    listed = boss.get("/api/v1/accounts/")
    assert [a["name"] for a in listed.json()["results"]] == ["DT"]
    assert "s3cret-pass" not in listed.content.decode() and "credentials" not in listed.json()["results"][0]
    queued = []
    monkeypatch.setattr(tasks.sync_account, "delay", queued.append)
    assert boss.post(f"/api/v1/accounts/{account.pk}/sync/").status_code == 202 and queued == [account.pk]
    assert boss.get("/api/v1/sync-runs/").json()["results"] == []


def test_the_positions_feed_answers_what_the_position_serializer_would(alice, org_a, org_b, monkeypatch):
    import json

    from rest_framework.renderers import JSONRenderer

    from fleet.api.serializers import PositionSerializer

    monkeypatch.setattr(feeds, "FEED_SETTLE_S", 0.0)
    van, theirs = make_device(org_a), make_device(org_b, "Theirs")
    t = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    ingest.positions(
        org_a.pk,
        None,
        [
            PositionRecord(str(van.pk), t, 60.1, 24.9, speed=12.5, course=90.0, attributes={"ignition": True}),
            PositionRecord(str(van.pk), t + timedelta(seconds=1, microseconds=250_000), 60.2, 24.8, altitude=None),
        ],
    )
    ingest.positions(org_b.pk, None, [PositionRecord(str(theirs.pk), t, 61.0, 25.0)])
    client, _ = api(alice)
    served = client.get("/api/v1/positions/feed/").json()
    mine = Position.objects.filter(device=van).order_by("pk")
    expected = json.loads(JSONRenderer().render(PositionSerializer(mine, many=True).data))
    assert served == {"results": expected, "next": mine.last().pk, "more": False}
    assert served["results"][1]["time"].endswith(".250000Z") and served["results"][0]["attributes"]["ignition"]


def test_a_devices_fast_answer_is_the_model_serializers(alice, org_a):
    from rest_framework import serializers

    from fleet.api.serializers import DeviceSerializer
    from fleet.tracking.models import Device, DeviceGroup, Driver
    from tests.conftest import make_account

    group, driver = DeviceGroup.objects.create(organization=org_a, name="G"), Driver.objects.create(organization=org_a)
    make_device(org_a, "Bare")
    van = make_device(org_a, "Van", make_account(org_a), group=group, driver=driver, plate="ABC-1")
    ingest.positions(org_a.pk, None, [PositionRecord(str(van.pk), timezone.now(), 60.1, 24.9, speed=30.0)])
    serializer = DeviceSerializer(many=True)
    for device in DeviceSerializer.with_vendor(Device.objects.order_by("pk")):
        fast = serializer.child.to_representation(device)
        assert fast == serializers.ModelSerializer.to_representation(serializer.child, device)
    assert fast["vendor"] == "datatrak" and fast["last_update"] and fast["state"] == "moving"


@pytest.mark.django_db(transaction=True)
def test_the_feed_never_passes_a_batch_that_commits_after_a_later_one(alice, org_a, monkeypatch):
    """A batch takes its ids, then its transaction stays open (the event engine runs in it; on a loaded machine
    for longer than any fixed settle time) while a later batch commits: the feed must not move its cursor past
    the open batch's ids, or the consumer never gets them. With the settle time alone (set to 0 here) it did."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("in-flight transactions are read from PostgreSQL's pg_stat_activity (SQLite has one writer)")
    monkeypatch.setattr(feeds, "FEED_SETTLE_S", 0.0)
    vans = [make_device(org_a, f"Van {k}") for k in range(2)]  # two: the open batch locks its device's row
    client, _ = api(alice)
    start = timezone.now() - timedelta(hours=1)

    def rec(minute: int) -> PositionRecord:
        return PositionRecord(str(vans[minute - 1].pk), start + timedelta(minutes=minute), 60.1, 24.9)

    taken, release, out = threading.Event(), threading.Event(), {}

    def slow_batch():
        try:
            with transaction.atomic():
                out["id"] = ingest.positions(org_a.pk, None, [rec(1)]).created
                taken.set()
                release.wait(30)
        finally:
            connections.close_all()

    other = threading.Thread(target=slow_batch)
    other.start()
    assert taken.wait(30)
    ingest.positions(org_a.pk, None, [rec(2)])  # a later batch, committed at once
    given, cursor = [], 0
    for _ in range(3):
        page = client.get("/api/v1/positions/feed/", {"after": cursor}).json()
        given += [row["id"] for row in page["results"]]
        cursor = page["next"]
    assert given == [], "the feed passed a batch still in flight"
    release.set()
    other.join(30)
    page = client.get("/api/v1/positions/feed/", {"after": cursor}).json()
    given += [row["id"] for row in page["results"]]
    stored = list(Position.objects.filter(device__in=vans).order_by("pk").values_list("pk", flat=True))
    assert len(stored) == 2 and given == stored
