"""Commands to devices (issue 20): the types a Data Trak device reports, a confirmation for dangerous ones, the
log of who sent what and the vendor's answer; against the Data Trak simulator over real HTTP."""

from unittest.mock import ANY

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from fleet.core.models import Membership
from fleet.simulators.datatrak import COMMAND_TYPES
from fleet.vendors import commands
from fleet.vendors.errors import VendorError
from fleet.vendors.models import CommandLog
from fleet.vendors.sync import connector_for
from tests.conftest import make_account, make_device, make_user


@pytest.fixture
def sim(simulator):
    running = simulator("datatrak", devices=3, seed=3)
    running.clock(advance=1800)  # every device has fixes: online
    return running


def sim_device_ids(sim) -> list[int]:
    with httpx.Client(base_url=sim.url, auth=("demo", "demo")) as client:
        return sorted(d["id"] for d in client.get("/api/devices").json())


@pytest.fixture
def van(sim, org_a):
    """A device of a Data Trak account whose protocol takes engine stop, alarm and custom commands."""
    account = make_account(org_a, "dt", base_url=sim.url, credentials={"username": "demo", "password": "demo"})
    return make_device(org_a, "Van 1", account, vendor_id=str(sim_device_ids(sim)[0]))


def url(device) -> str:
    return reverse("device-commands", args=[device.pk])


@pytest.fixture
def dispatcher(django_user_model, org_a, client):
    user = make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False)
    client.force_login(user)
    return user


def test_the_page_offers_the_types_the_device_reports(dispatcher, client, van):
    response = client.get(url(van))
    assert response.status_code == 200
    choices = [value for value, _ in response.context["form"].fields["type"].choices]
    assert choices == COMMAND_TYPES["teltonika"]  # what the simulator says device 0 (teltonika) takes
    detail = client.get(reverse("device-detail", args=[van.pk])).content.decode()
    assert url(van) in detail and "Send a command" in detail


def test_a_safe_command_is_sent_and_logged_with_the_vendors_answer(dispatcher, client, van, sim):
    response = client.post(url(van), {"type": "positionSingle"})
    assert response.status_code == 302
    log = CommandLog.objects.get()
    assert (log.device, log.user, log.type, log.status) == (van, dispatcher, "positionSingle", "ok")
    assert log.organization_id == van.organization_id and '"type":"positionSingle"' in log.response
    assert [(c["deviceId"], c["type"], c["status"]) for c in sim.truth()["commands"]] == [
        (int(van.vendor_id), "positionSingle", "sent")
    ]
    page = client.get(url(van)).content.decode()
    assert "positionSingle" in page and "disp" in page and "Sent" in page


def test_a_dangerous_command_needs_the_confirmation_server_side(dispatcher, client, van, sim):
    refused = client.post(url(van), {"type": "engineStop"})
    assert refused.status_code == 400
    assert "tick to confirm" in refused.content.decode()
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []
    sent = client.post(url(van), {"type": "engineStop", "confirm": "on"})
    assert sent.status_code == 302
    log = CommandLog.objects.get()
    assert (log.type, log.status, log.confirmed) == ("engineStop", "ok", True)
    assert [c["type"] for c in sim.truth()["commands"]] == ["engineStop"]


def test_a_type_the_device_does_not_take_is_a_form_error(dispatcher, client, van, sim):
    response = client.post(url(van), {"type": "positionPeriodic"})
    assert response.status_code == 400
    assert "This device does not take “positionPeriodic” commands" in response.content.decode()
    custom = client.post(url(van), {"type": "custom", "confirm": "on", "data": "  "})
    assert custom.status_code == 400 and "needs its text" in custom.content.decode()
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []


def test_a_vendor_refusal_is_logged_failed_with_its_reason(dispatcher, client, van, sim, org_a):
    """The device was swapped at the vendor to one whose protocol (osmand) takes no engine stop: the
    vendor's 400 is logged as failed with its message."""
    other = make_device(org_a, "Phone", van.account, vendor_id=str(sim_device_ids(sim)[2]))
    page = client.get(url(other))
    assert page.context["form"] is None and "no commands" in page.content.decode()
    # A device whose types the page listed, then refused by the vendor: a gt06 device given a teltonika type.
    gt06 = make_device(org_a, "Truck", van.account, vendor_id=str(sim_device_ids(sim)[1]))
    log = commands.send(gt06, dispatcher, "alarmArm", {}, True)
    assert log.status == "failed"
    assert "HTTP 400" in log.response and "not supported in protocol gt06" in log.response
    assert sim.truth()["commands"] == []


def test_a_vendor_error_is_logged_failed(dispatcher, client, van, sim):
    sim.set_faults(errors={"status": 503, "count": 20})
    page = client.post(url(van), {"type": "positionSingle"})  # the types cannot be read: nothing is sent
    assert page.status_code == 400 and "did not say which commands" in page.content.decode()
    log = commands.send(van, dispatcher, "positionSingle", {}, False)
    assert log.status == "failed" and "503" in log.response
    assert list(CommandLog.objects.all()) == [log] and sim.truth()["commands"] == []


def test_a_failed_send_is_not_retried(van, sim):
    """A 5xx on the send may come after the device got the command: it is an error, never sent again."""
    with connector_for(van.account) as connector:
        assert "engineStop" in connector.command_types(van.vendor_id)  # logged in
        sim.set_faults(errors={"status": 502, "count": 1})
        with pytest.raises(VendorError, match="502"):
            connector.send_command(van.vendor_id, "engineStop", {})
        assert sim.truth()["commands"] == []  # a retry would have found the fault spent, and sent it
        assert connector.send_command(van.vendor_id, "engineStop", {}) == (False, ANY)
    assert len(sim.truth()["commands"]) == 1


def test_viewers_cannot_send(django_user_model, org_a, client, van, sim):
    viewer = make_user(django_user_model, "view", org_a, role=Membership.Role.VIEWER, staff=False)
    client.force_login(viewer)
    page = client.get(url(van))
    assert page.status_code == 200 and page.context["form"] is None
    assert "Only dispatchers and admins" in page.content.decode()
    assert client.post(url(van), {"type": "positionSingle"}).status_code == 403
    detail = client.get(reverse("device-detail", args=[van.pk])).content.decode()
    assert "Command log" in detail and "Send a command" not in detail
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []


def test_another_organisations_device_is_not_found(django_user_model, org_b, client, van):
    outsider = make_user(django_user_model, "out", org_b, role=Membership.Role.ADMIN, staff=False)
    client.force_login(outsider)
    assert client.get(url(van)).status_code == 404
    assert client.post(url(van), {"type": "positionSingle"}).status_code == 404


def test_not_offered_where_the_vendor_takes_no_commands(dispatcher, client, org_a):
    device = make_device(org_a, "Tag 1", make_account(org_a, "sf", kind="safectory"))
    page = client.get(url(device))
    assert page.status_code == 200 and page.context["form"] is None
    assert "does not take commands" in page.content.decode()
    assert client.post(url(device), {"type": "engineStop", "confirm": "on"}).status_code == 400
    detail = client.get(reverse("device-detail", args=[device.pk])).content.decode()
    assert "vendor does not take commands" in detail and "Send a command" not in detail
    assert not CommandLog.objects.exists()


def test_a_device_without_fixes_gets_the_command_queued(dispatcher, client, simulator, org_a):
    sim = simulator("datatrak", devices=1, seed=3)  # no fix yet: not online
    account = make_account(org_a, "dt2", base_url=sim.url, credentials={"username": "demo", "password": "demo"})
    device = make_device(org_a, "Van 9", account, vendor_id=str(sim_device_ids(sim)[0]))
    assert client.post(url(device), {"type": "positionSingle"}).status_code == 302
    assert CommandLog.objects.get().status == "queued"
    assert sim.truth()["commands"][0]["status"] == "queued"
    assert "Queued" in client.get(url(device)).content.decode()


# ---- attributes: the fields of the chosen type, checked here and by the vendor ----


def test_the_form_has_a_field_for_each_attribute_of_the_types_offered(dispatcher, client, van):
    form = client.get(url(van)).context["form"]
    assert dict(form.types_of) == {"data": ["custom", "outputControl", "setOdometer"], "index": ["outputControl"]}
    html = client.get(url(van)).content.decode()
    assert 'data-types="custom outputControl setOdometer"' in html and 'data-types="outputControl"' in html
    assert 'name="index"' in html and 'min="0"' in html and 'name="frequency"' not in html


def test_output_control_sends_its_index_as_a_number_and_its_value(dispatcher, client, van, sim):
    sent = client.post(url(van), {"type": "outputControl", "index": " 2 ", "data": "1", "confirm": "on"})
    assert sent.status_code == 302
    log = CommandLog.objects.get()
    assert (log.type, log.attributes, log.status) == ("outputControl", {"index": 2, "data": "1"}, "ok")
    assert [(c["type"], c["attributes"]) for c in sim.truth()["commands"]] == [
        ("outputControl", {"index": 2, "data": "1"})
    ]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"index": "abc", "data": "1"}, "Output: give a whole number from 0 to 2147483647."),
        ({"index": "-1", "data": "1"}, "Output: give a whole number from 0 to 2147483647."),
        ({"index": "1", "data": " "}, "“Output control” needs its value."),
        ({"index": "1", "data": "x" * 501}, "Value: at most 500 characters (this has 501)."),
    ],
)
def test_a_bad_attribute_is_named_and_nothing_is_sent(dispatcher, client, van, sim, fields, message):
    response = client.post(url(van), {"type": "outputControl", "confirm": "on", **fields})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CommandLog.objects.exists() and sim.truth()["commands"] == []


def test_another_types_fields_are_not_sent(dispatcher, client, van, sim):
    assert client.post(url(van), {"type": "positionSingle", "data": "left over", "index": "x"}).status_code == 302
    assert CommandLog.objects.get().attributes == {} and sim.truth()["commands"][0]["attributes"] == {}


def test_report_periodically_takes_a_frequency_in_seconds_up_to_a_day(dispatcher, client, sim, org_a, van):
    truck = make_device(org_a, "Truck", van.account, vendor_id=str(sim_device_ids(sim)[1]))  # gt06
    too_long = client.post(url(truck), {"type": "positionPeriodic", "frequency": "86401"})
    assert too_long.status_code == 400
    assert "Every (seconds): give a whole number from 0 to 86400." in too_long.content.decode()
    assert client.post(url(truck), {"type": "positionPeriodic", "frequency": "60"}).status_code == 302
    assert sim.truth()["commands"][0]["attributes"] == {"frequency": 60}
    assert client.post(url(truck), {"type": "message", "message": "Back to base"}).status_code == 302
    assert sim.truth()["commands"][1]["attributes"] == {"message": "Back to base"}


def test_the_vendor_refuses_attributes_its_encoder_cannot_read(dispatcher, van, sim):
    """What fleet would refuse, sent past its checks: the simulator answers as Traccar's encoders fail."""
    log = commands.send(van, dispatcher, "outputControl", {"index": "two", "data": "1"}, True)
    assert log.status == "failed" and 'NumberFormatException: For input string: "two"' in log.response
    log = commands.send(van, dispatcher, "setOdometer", {}, True)
    assert log.status == "failed" and "needs its data attribute" in log.response
    assert sim.truth()["commands"] == []


def test_clean_attributes_refuses_attributes_a_type_does_not_take():
    with pytest.raises(ValidationError) as refused:
        commands.clean_attributes("engineStop", {"data": "x"})
    assert refused.value.message_dict == {"data": ["“Engine stop” takes no attribute “data”."]}
    assert commands.clean_attributes("alarmSos", {"enable": "on"}) == {"enable": True}
    assert commands.clean_attributes("alarmSos", {}) == {"enable": False}
    assert commands.clean_attributes("setConnection", {"server": " gps.example ", "port": 5027}) == {
        "server": "gps.example",
        "port": 5027,
    }
