"""Times in query strings as PostgreSQL can take them: an offset past ±15:59 (Python reads up to ±23:59) is read
as UTC, and a time past year 9999 in UTC is a 400, never a server error (on PostgreSQL the error also aborted
the request's transaction: schemathesis found it, every later request of its test then failing)."""

import pytest

from fleet.api.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(world_a) -> str:
    return ApiToken.issue(world_a["membership"].user, "times", "read")[1]


@pytest.mark.parametrize("path", ["/api/v1/events/", "/api/v1/positions/"])
def test_an_offset_postgresql_refuses_is_read_as_utc_and_year_ten_thousand_is_a_400(client, key, path):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get(path, {"start": "2026-12-01T00:00:00+16:08"}, **auth).status_code == 200
    assert client.get(path, {"end": "1045-09-09T23:25:15.8-23:59"}, **auth).status_code == 200
    late = client.get(path, {"start": "9999-12-31T23:59:59-16:00"}, **auth)
    assert late.status_code == 400 and late.json()["error"]["fields"]["start"] == ["This time is out of range."]
