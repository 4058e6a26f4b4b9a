"""schemathesis against the live schema (/api/v1/schema/, through the WSGI app, in the test's database):
generated requests to every GET endpoint, with a token of a member of an organisation that has one of every
object, and schemathesis's checks: no 5xx; status codes, content types, headers and bodies as documented (errors
included); data the schema refuses refused; no answer without the token. Quick-sized: a few examples per
operation (about 20 s)."""

import uuid

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from fleet.api.models import ApiToken

pytestmark = pytest.mark.django_db

EXAMPLES = 8
# An id the schema allows (any integer) may name no object of the caller's organisations: a 400 or 404 then is
# right, not a refusal of valid data.
NOT_CHECKED = [checks.positive_data_acceptance]
# Listing a device's command types asks its vendor, and the world's vendor account points at no server: the
# documented 502 (the vendor could not be reached) is the right answer there, not a server error of fleet's.
ASKS_THE_VENDOR = {"GET /api/v1/commands/types/": [checks.not_a_server_error]}


@pytest.fixture
def live_schema(settings_cache, world_a, world_b):
    # As Django's test client does: a request's end must not close the test's connection (its transaction).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def settings_cache(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api": "100000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture
def token(world_a) -> str:
    user = world_a["membership"].user
    return ApiToken.issue(user, "schemathesis", "read")[1]


def test_get_endpoints_answer_as_documented(live_schema, token):
    failures, checked = {}, []
    for result in live_schema.include(method="GET").get_all_operations():
        operation = result.ok()
        checked.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            excluded = NOT_CHECKED + ASKS_THE_VENDOR.get(case.operation.label, [])
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, not only the first
            failures[operation.label] = str(exc)[:3000]
    assert len(checked) >= 25 and "GET /api/v1/webhooks/{id}/deliveries/" in checked
    assert set(ASKS_THE_VENDOR) <= set(checked)
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
