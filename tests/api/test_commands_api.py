"""Commands through the REST API: the types a device takes with their attributes, sending one (dangerous ones
only with "confirm": true), the log; against the Data Trak simulator over real HTTP, scoped to the caller's
organisations and roles."""

import uuid

import httpx
import pytest
from rest_framework.test import APIClient

from fleet.api.models import ApiToken
from fleet.core.models import Membership
from fleet.simulators.datatrak import COMMAND_TYPES
from fleet.vendors.models import CommandLog
from tests.conftest import make_account, make_device, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/commands/"


@pytest.fixture(autouse=True)
def own_cache(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}


@pytest.fixture
def sim(simulator):
    running = simulator("datatrak", devices=3, seed=3)
    running.clock(advance=1800)  # every device has fixes: online
    return running


@pytest.fixture
def vendor_ids(sim) -> list[str]:
    with httpx.Client(base_url=sim.url, auth=("demo", "demo")) as client:
        return [str(i) for i in sorted(d["id"] for d in client.get("/api/devices").json())]


@pytest.fixture
def account(sim, org_a):
    return make_account(org_a, "dt", base_url=sim.url, credentials={"username": "demo", "password": "demo"})


@pytest.fixture
def van(account, org_a, vendor_ids):
    """Protocol teltonika: custom, positionSingle, engine, alarm, reboot, outputControl, setOdometer."""
    return make_device(org_a, "Van 1", account, vendor_id=vendor_ids[0])


def api(django_user_model, org, username="disp", role=Membership.Role.DISPATCHER, scope="write") -> APIClient:
    user = make_user(django_user_model, username, org, role=role, staff=False)
    _, key = ApiToken.issue(user, "commands", scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def dispatcher(django_user_model, org_a) -> APIClient:
    return api(django_user_model, org_a)


def send(client, device, kind, **body):
    return client.post(URL, {"device": device.pk, "type": kind, **body}, format="json")


def test_the_types_a_device_takes_come_with_their_attributes(dispatcher, van):
    answer = dispatcher.get(f"{URL}types/", {"device": van.pk})
    assert answer.status_code == 200, answer.json()
    types = {t["type"]: t for t in answer.json()["types"]}
    assert list(types) == COMMAND_TYPES["teltonika"]  # what the simulator says device 0 (teltonika) takes
    assert types["engineStop"] == {"type": "engineStop", "label": "Engine stop", "dangerous": True, "attributes": []}
    assert not types["positionSingle"]["dangerous"]
    index, value = types["outputControl"]["attributes"]
    assert (index["key"], index["kind"], index["minimum"], index["maximum"]) == ("index", "number", 0, 2**31 - 1)
    assert (value["key"], value["kind"], value["max_length"]) == ("data", "text", 500)


def test_a_command_is_sent_with_its_attributes_and_logged(dispatcher, van, sim):
    answer = send(dispatcher, van, "outputControl", attributes={"index": "1", "data": "0"}, confirm=True)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["type"], body["label"], body["status"], body["user"]) == (
        "outputControl",
        "Output control",
        "ok",
        "disp",
    )
    assert body["attributes"] == {"index": 1, "data": "0"} and body["confirmed"] is True
    assert '"type":"outputControl"' in body["response"]
    assert [(c["deviceId"], c["type"], c["attributes"]) for c in sim.truth()["commands"]] == [
        (int(van.vendor_id), "outputControl", {"index": 1, "data": "0"})
    ]
    log = dispatcher.get(URL, {"device": van.pk}).json()["results"]
    assert [(row["id"], row["type"]) for row in log] == [(body["id"], "outputControl")]


def test_a_dangerous_command_without_confirm_is_a_400_and_nothing_is_sent(dispatcher, van, sim):
    refused = send(dispatcher, van, "engineStop")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid" and error["fields"]["confirm"] == [
        '“Engine stop” acts on the vehicle: send "confirm": true to mean it.'
    ]
    assert send(dispatcher, van, "engineStop", confirm=False).status_code == 400
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []
    assert send(dispatcher, van, "engineStop", confirm=True).status_code == 201
    assert [c["type"] for c in sim.truth()["commands"]] == ["engineStop"]


@pytest.mark.parametrize(
    "kind, attributes, field, message",
    [
        ("outputControl", {"index": -1, "data": "1"}, "attributes.index", "Output: give a whole number from 0 to"),
        ("outputControl", {"index": "1"}, "attributes.data", "“Output control” needs its value."),
        ("outputControl", {"index": True, "data": "1"}, "attributes.index", "Output: give a whole number"),
        ("custom", {"data": "x" * 501}, "attributes.data", "Text: at most 500 characters (this has 501)."),
        ("positionSingle", {"frequency": 5}, "attributes.frequency", "“Request a position” takes no attribute"),
        ("positionPeriodic", {"frequency": 60}, "type", "This device does not take “positionPeriodic” commands"),
    ],
)
def test_bad_attributes_and_types_are_named(dispatcher, van, sim, kind, attributes, field, message):
    refused = send(dispatcher, van, kind, attributes=attributes, confirm=True)
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"][field][0].startswith(message)
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []


def test_a_body_that_is_not_a_command_is_a_400(dispatcher, van):
    for body in ({"type": "engineStop"}, {"device": van.pk}, {"device": van.pk, "type": "custom", "attributes": []}):
        answer = dispatcher.post(URL, body, format="json")
        assert answer.status_code == 400 and answer.json()["error"]["fields"]
    assert dispatcher.get(f"{URL}types/").json()["error"]["fields"]["device"] == ["Give one of your devices' ids."]


def test_an_offline_device_gets_it_queued_202(dispatcher, simulator, org_a):
    sim = simulator("datatrak", devices=1, seed=3)  # no fix yet: not online
    account = make_account(org_a, "dt2", base_url=sim.url, credentials={"username": "demo", "password": "demo"})
    with httpx.Client(base_url=sim.url, auth=("demo", "demo")) as client:
        vendor_id = str(client.get("/api/devices").json()[0]["id"])
    device = make_device(org_a, "Van 9", account, vendor_id=vendor_id)
    answer = send(dispatcher, device, "positionSingle")
    assert answer.status_code == 202 and answer.json()["status"] == "queued"


def test_another_organisations_device_is_not_found(django_user_model, org_b, van, sim, dispatcher):
    outsider = api(django_user_model, org_b, "out", role=Membership.Role.ADMIN)
    assert outsider.get(f"{URL}types/", {"device": van.pk}).status_code == 404
    refused = send(outsider, van, "positionSingle")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert send(dispatcher, van, "positionSingle").status_code == 201
    assert outsider.get(URL).json()["results"] == []
    theirs = outsider.get(URL, {"device": van.pk})
    assert theirs.status_code == 400 and "device" in theirs.json()["error"]["fields"]
    log = CommandLog.objects.get()
    assert outsider.get(f"{URL}{log.pk}/").status_code == 404
    assert len(sim.truth()["commands"]) == 1


def test_viewers_and_read_only_tokens_may_not_send(django_user_model, org_a, van, sim):
    viewer = api(django_user_model, org_a, "view", role=Membership.Role.VIEWER)
    refused = send(viewer, van, "positionSingle")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert viewer.get(URL).status_code == 200  # the log is for every member
    reader = api(django_user_model, org_a, "reader", role=Membership.Role.ADMIN, scope="read")
    assert send(reader, van, "positionSingle").json()["error"]["message"] == "This token is read-only."
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []


def test_a_dispatcher_elsewhere_is_a_viewer_here(django_user_model, org_a, org_b, van, sim):
    """Sending is decided on the device's organisation, not on any role the caller has."""
    client = api(django_user_model, org_b, "both", role=Membership.Role.DISPATCHER)
    user = ApiToken.objects.get(user__username="both").user
    Membership.objects.create(user=user, organization=org_a, role=Membership.Role.VIEWER)
    refused = send(client, van, "positionSingle")
    assert refused.status_code == 403 and "admins and dispatchers" in refused.json()["error"]["message"]
    assert sim.truth()["commands"] == []


def test_a_vendor_that_takes_no_commands_is_a_409(dispatcher, org_a):
    tag = make_device(org_a, "Tag 1", make_account(org_a, "sf", kind="safectory"))
    for answer in (dispatcher.get(f"{URL}types/", {"device": tag.pk}), send(dispatcher, tag, "positionSingle")):
        assert answer.status_code == 409
        error = answer.json()["error"]
        assert error["code"] == "conflict" and "does not take commands" in error["message"]
    assert not CommandLog.objects.exists()


def test_a_vendor_that_cannot_answer_is_a_502_and_nothing_is_sent(dispatcher, van, sim):
    sim.set_faults(errors={"status": 503, "count": 20})
    answer = send(dispatcher, van, "positionSingle")
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "vendor_error" and "did not say which commands" in error["message"]
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []
