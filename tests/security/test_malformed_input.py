"""Hostile query values on every page and JSON view answer 4xx with a message, never a 500."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin import site
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from fleet.core.scoping import parse_pk
from fleet.geo.models import POI
from fleet.reports.forms import KIND_FIELDS
from fleet.reports.kinds import KINDS, build_report
from fleet.reports.models import ReportJob
from fleet.tracking.models import Device
from tests.conftest import populate
from tests.reports.test_kinds import DAY_END, DAY_START, drive_day

HOSTILE = [
    "²",
    "-1",
    "0",
    "99999999999999999999",
    "1e309",
    "NaN",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "\x00",
    "x" * 5000,
    "<script>alert(1)</script>",
    "%",
    "",
]
ARRAY = ["1", "2"]  # a=1&a=2
DAY = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20"}
COMMON_FIELDS = ("organization", "device", "group", "preset", "start", "end")


@pytest.fixture
def world(db, django_user_model, world_a, user_a):
    """Org A with a device that has no vendor account (the vendor tab answers without calling out), a day of
    positions, a POI and a finished background report."""
    device = Device.objects.create(organization=world_a["organization"], name="Van 9", vendor_id="v9")
    drive_day(device)
    POI.objects.create(organization=world_a["organization"], name="Shop", point=Point(25.0, 60.0))
    job = ReportJob.objects.create(organization=world_a["organization"], user=user_a, kind="trips", status="done")
    job.store_report(build_report("trips", world_a["organization"], [device], DAY_START, DAY_END))
    job.finished = datetime.now(UTC)
    job.save()
    return {**world_a, "device": device, "job": job}


@pytest.fixture
def alice(world, user_a) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user_a)
    return client


def fuzz(client: Client, url: str, base: dict, params, values=HOSTILE) -> list[str]:
    """Each parameter set to each hostile value (and to two values), the others as in ``base``: the
    requests that answered 500."""
    failures = []
    for name in params:
        for value in [*values, ARRAY]:
            query = {**base, name: value}
            response = client.get(url, query)
            if response.status_code >= 500:
                failures.append(f"{url} {name}={str(value)[:40]!r}: {response.status_code}")
    return failures


def test_parse_pk_takes_ascii_digits_that_fit_a_64_bit_key():
    assert parse_pk("42") == 42
    assert [parse_pk(v) for v in ("²", "٣", "-1", "0", "1e3", " 1", "", None, str(2**63))] == [None] * 9


def test_the_report_pages_never_answer_500(alice, world):
    """Every kind validates the same form: its common fields on one kind, each kind's own options on it."""
    base = {**DAY, "device": world["device"].pk}
    failures = fuzz(alice, reverse("reports:report", args=["trips"]), base, COMMON_FIELDS)
    for kind in KINDS:
        own = [name for name, kinds in KIND_FIELDS.items() if kind in kinds]
        failures += fuzz(alice, reverse("reports:report", args=[kind]), base, ["device", "end", *own])
    assert failures == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpx", "kml"])
def test_the_exports_never_answer_500(alice, world, fmt):
    base = {**DAY, "device": world["device"].pk}
    failures = fuzz(alice, reverse("reports:export", args=["route", fmt]), base, [*COMMON_FIELDS, "table"])
    if fmt == "csv":
        failures += fuzz(alice, reverse("reports:export", args=["trips", fmt]), base, ["device", "table", "end"])
    assert failures == []


def test_charts_utilisation_and_the_vendor_tab_never_answer_500(alice, world):
    base = {**DAY, "device": world["device"].pk}
    failures = fuzz(alice, reverse("reports:charts"), base, COMMON_FIELDS)
    failures += fuzz(alice, reverse("reports:chart-data"), base, COMMON_FIELDS)
    failures += fuzz(alice, reverse("reports:utilisation"), {}, ["organization"])
    failures += fuzz(alice, reverse("reports:vendor"), {**base, "kind": "trips"}, ["kind", *COMMON_FIELDS, "split"])
    assert failures == []


def test_the_dashboard_pages_and_their_json_never_answer_500(alice, world):
    device, job = world["device"], world["job"]
    failures = fuzz(alice, reverse("device-track", args=[device.pk]), {}, ["preset", "from", "to"])
    range_ = ("preset", "from", "to")
    for name, args, params in [
        ("home", [], ["x"]),
        ("live-layers", [], ["x"]),
        ("device-list", [], ["page", "q"]),
        ("device-detail", [device.pk], ["x"]),
        ("device-replay", [device.pk], range_),
        ("account-list", [], ["x"]),
        ("account-detail", [world["vendoraccount"].pk], ["x"]),
        ("import-gpx", [], ["device"]),
        ("geofences", [], ["q", "saved"]),
        ("pois", [], ["q"]),
        ("geofences-new", [], ["x"]),
        ("geofences-edit", [world["geofence"].pk], ["x"]),
        ("pois-edit", [world["poi"].pk], ["x"]),
        ("geofences-geojson", [], ["q"]),
        ("pois-kml", [], ["q"]),
        ("reports:index", [], ["device"]),
        ("reports:job", [job.pk], ["table"]),
        ("reports:job-status", [job.pk], ["x"]),
        ("reports:job-export", [job.pk, "csv"], ["table"]),
        ("reports:job-export", [job.pk, "xlsx"], ["table"]),
        ("login", [], ["next"]),
    ]:
        failures += fuzz(alice, reverse(name, args=args), {}, params)
    assert failures == []


def test_the_admin_lists_never_answer_500(alice, world):
    """Search, ordering, page and the retired filter of every admin list (Django's own parsing: fewer values)."""
    failures = []
    for model in site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        failures += fuzz(alice, url, {}, ["q", "o", "p", "retired"], values=["²", "-1", "99999999999999999999", "\x00"])
    assert failures == []


def test_a_bad_range_on_track_json_is_a_400_with_a_message(alice, world):
    url = reverse("device-track", args=[world["device"].pk])
    for query in ({"to": "0001-01-01T00:00:00"}, {"from": "9999-12-31T23:00:00", "to": "9999-12-31T23:59:59"}):
        response = alice.get(url, query)
        assert response.status_code == 400 and "between the years 2000 and 2100" in response.json()["error"]


def test_a_superscript_two_as_an_id_is_a_400_on_utilisation_and_the_vendor_tab(alice, world):
    response = alice.get(reverse("reports:utilisation"), {"organization": "²"})
    assert response.status_code == 400 and b"organization must be an id" in response.content
    response = alice.get(reverse("reports:vendor"), {**DAY, "kind": "trips", "device": "²"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_an_invalid_report_form_is_a_400_that_shows_the_form_again(alice, world):
    response = alice.get(reverse("reports:report", args=["trips"]), {**DAY, "end": "2026-11-19"})
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()
    assert response.context["form"].errors and "report" not in response.context


@pytest.mark.parametrize("value", [*HOSTILE[:9], "x" * 5000])
def test_a_hostile_device_on_the_gpx_upload_is_a_400(alice, world, value):
    upload = SimpleUploadedFile("a.gpx", b"<gpx></gpx>", content_type="application/gpx+xml")
    response = alice.post(reverse("import-gpx"), {"device": value, "file": upload})
    assert response.status_code == 400
    assert response.context["form"].errors["device"]  # shown beside the field


def test_a_device_list_of_two_on_the_gpx_upload_is_a_400(alice, world):
    upload = SimpleUploadedFile("a.gpx", b"<gpx></gpx>", content_type="application/gpx+xml")
    response = alice.post(reverse("import-gpx"), {"device": ["²", str(world["device"].pk)], "file": upload})
    assert response.status_code in (302, 400)  # the last value counts: the real device, an empty file


def test_another_orgs_device_on_the_vendor_tab_is_still_a_404(alice, org_b):
    other = populate(org_b)["device"]
    response = alice.get(reverse("reports:vendor"), {**DAY, "kind": "trips", "device": other.pk})
    assert response.status_code == 404
