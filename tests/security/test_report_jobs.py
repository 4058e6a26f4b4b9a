"""Report requests cannot pile up background jobs: a query is one job however it is spelled, and each user and
organisation has a cap of jobs queued or running. No worker runs here: the jobs stay queued (their enqueueing
waits for a commit that the test's transaction never makes)."""

from datetime import timedelta

import pytest
from django.urls import reverse

from fleet.reports import jobs
from fleet.reports.models import ReportJob
from tests.conftest import make_device, make_user

pytestmark = pytest.mark.django_db

OCTOBER = {"preset": "custom", "start": "2026-10-01", "end": "2026-10-31"}  # 3 devices: 93 device-days, a job
REFUSED = "You already have 3 reports being computed in the background"


@pytest.fixture(autouse=True)
def caps(settings):
    settings.REPORT_JOBS_PER_USER = 3
    settings.REPORT_JOBS_PER_ORGANIZATION = 10


@pytest.fixture
def alice(client, org_a, user_a):
    for i in range(3):
        make_device(org_a, f"Van {i}")
    client.force_login(user_a)
    return client


def report(client, kind: str = "trips", **query):
    return client.get(reverse("reports:report", args=[kind]), query)


def test_stray_reordered_or_respelled_parameters_make_no_new_job(alice):
    first = report(alice, **OCTOBER)
    assert first.status_code == 302
    job = ReportJob.objects.get()
    respelled = {"end": "2026-10-31", "start": "2026-10-1", "preset": "custom", "junk": "x", "format": "html"}
    for query in ({**OCTOBER, "junk": "x"}, {**OCTOBER, "page": "2", "a": "1", "b": "2"}, respelled):
        response = report(alice, **query)
        assert response.status_code == 302 and response["Location"] == first["Location"]
    assert ReportJob.objects.count() == 1
    assert job.params == {"end": ["2026-10-31"], "preset": ["custom"], "start": ["2026-10-01"]}


def test_dates_given_with_a_preset_that_ignores_them_make_no_new_job(org_a, user_a):
    make_device(org_a, "Van")
    plain = jobs.start(user_a, "trips", {"preset": "yesterday"})
    assert jobs.start(user_a, "trips", {"preset": "yesterday", "start": "2026-01-01", "end": "2026-01-02"}) == plain
    assert plain.params == {"preset": ["yesterday"]}


def test_a_user_has_at_most_three_jobs_and_the_fourth_is_refused_with_a_message(alice):
    for kind in ("trips", "stops", "summary"):
        assert report(alice, kind, **OCTOBER).status_code == 302
    refused = report(alice, "route", **OCTOBER)
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert REFUSED in refused.content.decode() and 'role="alert"' in refused.content.decode()
    export = alice.get(reverse("reports:export", args=["route", "csv"]), OCTOBER)
    assert export.status_code == 429 and export.content.decode().startswith(REFUSED)
    assert ReportJob.objects.count() == 3

    assert report(alice, "trips", **OCTOBER, junk="1").status_code == 302  # a report already asked: its job
    ReportJob.objects.filter(kind="trips").update(status=ReportJob.Status.DONE)
    assert report(alice, "route", **OCTOBER).status_code == 302  # one is done: room again


def test_a_job_lost_long_ago_no_longer_holds_a_place(alice):
    for kind in ("trips", "stops", "summary"):
        report(alice, kind, **OCTOBER)
    ReportJob.objects.filter(kind="trips").update(created=jobs._now() - jobs.ACTIVE_FOR - timedelta(minutes=1))
    assert report(alice, "route", **OCTOBER).status_code == 302


def test_an_organisation_has_at_most_its_cap_of_jobs_and_others_are_unaffected(
    client, settings, django_user_model, org_a, org_b
):
    settings.REPORT_JOBS_PER_ORGANIZATION = 4
    for org in (org_a, org_b):
        for i in range(3):
            make_device(org, f"{org.slug} van {i}")
    users = [make_user(django_user_model, name, org_a) for name in ("ann", "ben", "cat")]
    for user, kinds in zip(users, (["trips", "stops", "summary"], ["route"], ["trips"]), strict=True):
        client.force_login(user)
        statuses = [report(client, kind, **OCTOBER).status_code for kind in kinds]
    assert statuses == [429]  # cat: the organisation's four places are taken
    assert "Org A already has 4 reports being computed" in report(client, "trips", **OCTOBER).content.decode()

    client.force_login(make_user(django_user_model, "dan", org_b))
    assert report(client, "trips", **OCTOBER).status_code == 302
    assert ReportJob.objects.filter(organization=org_a).count() == 4
