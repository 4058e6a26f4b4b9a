"""Report results as JSON: every kind from the pages' form and Report objects, canonical units, the caller's
organisations only, and bad parameters a 400 that names the field."""

import uuid

import pytest
from rest_framework.test import APIClient

from fleet.api.models import ApiToken
from fleet.reports.kinds import KINDS
from tests.reports.conftest import hel_world  # noqa: F401 (a fixture: org A's van drives a hand-built day)

pytestmark = pytest.mark.django_db
DAY = {"from": "2026-11-20", "to": "2026-11-20"}


@pytest.fixture(autouse=True)
def own_cache(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}


@pytest.fixture
def alice(user_a) -> APIClient:
    _, key = ApiToken.issue(user_a, "reports", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_trips_come_in_canonical_units_and_utc(alice, hel_world):  # noqa: F811
    van = hel_world["device"]
    result = alice.get("/api/v1/reports/trips/", {**DAY, "device": van.pk}).json()
    assert (result["kind"], result["devices"]) == ("trips", [van.pk])
    assert (result["start"], result["end"]) == ("2026-11-19T22:00:00+00:00", "2026-11-20T22:00:00+00:00")
    [trips] = result["tables"]
    units = {c["key"]: c["unit"] for c in trips["columns"]}
    assert "replay" not in units  # a link into the dashboard, as in the exports
    first = trips["rows"][0]
    assert (first["start"], first["end"]) == ("2026-11-20T08:00:00+00:00", "2026-11-20T08:20:00+00:00")
    assert (round(first["distance"], 6), first["duration"], first["max_speed"]) == (12000.0, 1200, 54.0)
    assert (units["distance"], units["duration"], units["max_speed"]) == ("m", "s", "km/h")
    places = [c["key"] for c in trips["columns"] if c["kind"] == "latlon"]
    assert places and first[places[0]] == [60.0, 25.0]
    assert round(trips["totals"]["distance"], 6) == 27000.0 and len(trips["rows"]) == 2


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_answers_for_the_callers_devices(alice, hel_world, kind):  # noqa: F811
    result = alice.get(f"/api/v1/reports/{kind}/", DAY)
    assert result.status_code == 200, result.json()
    body = result.json()
    assert body["kind"] == kind and body["devices"] == [hel_world["device"].pk] and body["tables"]
    for table in body["tables"]:
        keys = [c["key"] for c in table["columns"]]
        assert all(list(row) == keys for row in table["rows"])


def test_the_kinds_are_listed(alice):
    assert [k["kind"] for k in alice.get("/api/v1/reports/").json()] == list(KINDS)


def test_another_organisations_devices_are_not_a_choice(alice, hel_world, world_b):  # noqa: F811
    theirs = world_b["device"]
    for field, value in (
        ("device", theirs.pk),
        ("group", world_b["devicegroup"].pk),
        ("organization", world_b["organization"].pk),
    ):
        refused = alice.get("/api/v1/reports/trips/", {**DAY, field: value})
        assert refused.status_code == 400 and field in refused.json()["error"]["fields"], refused.json()
    summary = alice.get("/api/v1/reports/summary/", DAY).json()
    assert summary["devices"] == [hel_world["device"].pk]
    assert world_b["device"].name not in str(summary)


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "end", "The end date is before the start date."),
        ({"from": "2026-01-01", "to": "2026-12-31"}, "end", "A report covers at most 92 days."),
        ({"from": "yesterday"}, "start", "Enter a valid date."),
        ({"preset": "custom"}, "start", "Give a date for a custom range."),
        ({"preset": "someday"}, "preset", "Select a valid choice. someday is not one of the available choices."),
        ({"device": "x1"}, "device", "Select a valid choice. That choice is not one of the available choices."),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(alice, hel_world, params, field, message):  # noqa: F811
    refused = alice.get("/api/v1/reports/trips/", params)
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"][field] == [message]


def test_an_unknown_kind_is_404_and_no_token_is_401(alice):
    assert alice.get("/api/v1/reports/nonsense/").status_code == 404
    assert APIClient().get("/api/v1/reports/trips/").status_code == 401


def test_a_report_too_big_for_a_request_says_so(alice, hel_world, monkeypatch):  # noqa: F811
    from fleet.reports import jobs

    monkeypatch.setattr(jobs, "MAX_DEVICE_DAYS", 0)
    refused = alice.get("/api/v1/reports/route/", DAY)
    assert refused.status_code == 400 and "too big to compute in one request" in refused.json()["error"]["message"]
