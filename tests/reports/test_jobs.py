"""Long reports as Celery jobs: when they go to the background, a real worker running one, the result's
downloads matching an inline build, failures, scoping.

The worker is Celery's embedded test worker (``celery.contrib.testing.worker.start_worker``) in a thread of
the test process, consuming the Redis broker at REDIS_URL; ``REPORTS_QUEUE`` sends the jobs to a queue of the
test's own, so no other worker on the shared Redis (a dev server, another test run) can take them.
"""

import io
import logging
import math
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker
from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import cache as default_cache
from django.urls import reverse

from fleet.celery import app as celery_app
from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.reports import cache, exports, jobs, tasks
from fleet.reports.forms import ReportForm
from fleet.reports.kinds import build_report
from fleet.reports.models import ReportJob
from fleet.reports.tables import Units
from fleet.tracking.models import Position
from tests.conftest import make_device, make_org, make_user

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
OCTOBER = {"preset": "custom", "start": "2026-10-01", "end": "2026-10-31"}  # 31 days: 3 devices = 93 device-days
OCTOBER_PARAMS = {"end": ["2026-10-31"], "preset": ["custom"], "start": ["2026-10-01"]}  # as a job stores it


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r4-jobs"}}
    default_cache.clear()


@contextmanager
def report_worker(queue: str):
    """A real Celery worker thread consuming only ``queue``."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30):
        yield


def wait_for(job: ReportJob, timeout: float = 120) -> ReportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (ReportJob.Status.DONE, ReportJob.Status.FAILED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.status} after {timeout} s")


def drive(van, start: datetime, minutes: int) -> None:
    """Parked 10 min before, ``minutes`` at 36 km/h with ignition on, then parked (off) for half an hour."""
    fixes, lat = [(start - timedelta(minutes=10), 60.0, 0.0, False)], 60.0
    for m in range(minutes):
        fixes.append((start + timedelta(minutes=m), lat, 36.0, True))
        lat += 600 / M_PER_DEG
    end = start + timedelta(minutes=minutes)
    fixes += [(end + timedelta(minutes=m), lat, 0.0, False) for m in range(0, 30, 10)]
    Position.objects.bulk_create(
        Position(device=van, fix_time=ts, latitude=la, longitude=25.0, speed=v, attributes={"ignition": ign})
        for ts, la, v, ign in fixes
    )


def october_fleet(org) -> list:
    vans = [make_device(org, f"Van {i}") for i in (1, 2, 3)]
    for day in range(1, 32, 3):
        for i, van in enumerate(vans):
            drive(van, datetime(2026, 10, day, 6 + i, 0, tzinfo=UTC), 10 + 5 * i)
    return vans


def inline(user, kind: str, query: dict):
    form = ReportForm(query, user=user, kind=kind)
    assert form.is_valid(), form.errors
    data = form.cleaned_data
    return build_report(kind, data["organization"], data["devices"], data["start"], data["end"], jobs.options(data))


# ------------------------------------------------------------------------------------------------ a worker


@pytest.mark.django_db(transaction=True)
def test_a_big_report_runs_on_a_worker_and_downloads_like_an_inline_build(client, django_user_model, settings):
    settings.REPORTS_QUEUE = queue = f"fleet-test-reports-{uuid.uuid4().hex[:10]}"  # no other worker takes it
    org = make_org("a")
    org.timezone = "UTC"
    org.save()
    user = make_user(django_user_model, "alice", org)
    october_fleet(org)
    client.force_login(user)
    query = {**OCTOBER, "split": "day"}

    with report_worker(queue):
        response = client.get(reverse("reports:report", args=["summary"]), query)
        assert response.status_code == 302
        job = ReportJob.objects.get()
        assert response["Location"] == job.get_absolute_url() == f"/reports/jobs/{job.pk}/"
        wait_for(job)

    expected = inline(user, "summary", query)
    assert job.status == "done", job.error
    assert (job.done, job.total) == (3, 3)  # written by the builder's progress callback
    assert job.rows == 3 * 31 + 3  # per device per day, and per device
    assert job.task_id and job.started <= job.finished

    status = client.get(reverse("reports:job-status", args=[job.pk])).json()
    assert status | {"id": 0} == {
        "id": 0,
        "status": "done",
        "done": 3,
        "total": 3,
        "rows": 96,
        "percent": 100,
        "error": "",
        "finished": True,
        "url": job.get_absolute_url(),
    }

    units = Units.for_org(org)
    csv = client.get(reverse("reports:job-export", args=[job.pk, "csv"]), {"table": "days"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert 'filename="summary_job' in csv["Content-Disposition"]
    assert b"".join(csv.streaming_content).decode() == "\ufeff" + "".join(exports.to_csv(expected, units, "days"))
    assert "Van 3,2026-10-31," in "".join(exports.to_csv(expected, units, "days"))  # a real table, not empty

    xlsx = client.get(reverse("reports:job-export", args=[job.pk, "xlsx"]))
    assert xlsx.status_code == 200
    got = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    want = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(expected, units)))
    assert got.sheetnames == want.sheetnames == ["days", "summary", "About"]
    for name in want.sheetnames:
        assert list(got[name].values) == list(want[name].values)
    assert got["summary"]["A2"].value == "Van 1"

    page = client.get(job.get_absolute_url()).content.decode()
    assert f'href="/reports/jobs/{job.pk}/export.xlsx"' in page and "Van 3" in page and "100 %" in page


# ------------------------------------------------------------------------------------------ when, and how


def test_only_big_reports_go_to_the_background(org_a, monkeypatch):
    vans = [make_device(org_a, f"Van {i}") for i in range(3)]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    assert not jobs.should_run_in_background(org_a, vans[:2], start, start + timedelta(days=31))  # 62 device-days
    assert jobs.should_run_in_background(org_a, vans, start, start + timedelta(days=21))  # 63
    assert jobs.should_run_in_background(org_a, vans[:1], start, start + timedelta(days=62, hours=1))  # 63 (partial)

    # Under the device-day limit the positions decide, counted up to the limit only.
    monkeypatch.setattr(jobs, "MAX_POSITIONS", 5)
    for minute in range(5):
        Position.objects.create(device=vans[0], fix_time=start + timedelta(minutes=minute), latitude=60, longitude=25)
    Position.objects.create(device=vans[1], fix_time=start - timedelta(minutes=1), latitude=60, longitude=25)  # before
    assert not jobs.should_run_in_background(org_a, vans[:2], start, start + timedelta(days=1))
    Position.objects.create(device=vans[1], fix_time=start + timedelta(hours=2), latitude=60, longitude=25)
    assert jobs.should_run_in_background(org_a, vans[:2], start, start + timedelta(days=1))
    assert jobs.position_count(vans, start, start + timedelta(days=1), limit=3) == 3
    # The route report builds a row per position: its own, lower limit.
    monkeypatch.setattr(jobs, "MAX_POSITIONS", 100)
    monkeypatch.setattr(jobs, "MAX_ROUTE_POSITIONS", 5)
    assert jobs.should_run_in_background(org_a, vans[:2], start, start + timedelta(days=1), kind="route")
    assert not jobs.should_run_in_background(org_a, vans[:2], start, start + timedelta(days=1), kind="trips")


def test_the_summary_runs_in_the_request_when_the_cache_holds_its_closed_days(
    org_a, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """Whatever its device-days, the summary decides by what the closed-day cache leaves to compute."""
    monkeypatch.setattr(cache, "MAX_INLINE_DEVICE_DAYS", 4)
    org_a.timezone = "UTC"
    org_a.save()
    vans = [make_device(org_a, f"Van {i}") for i in range(3)]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=30)
    for van in vans:  # a fix every noon
        for day in range(30):
            Position.objects.create(
                device=van, fix_time=start + timedelta(days=day, hours=12), latitude=60, longitude=25
            )
    with caplog.at_level(logging.INFO, logger="fleet.reports.jobs"):
        assert jobs.should_run_in_background(org_a, vans, start, today, kind="summary")  # 90 closed days
    assert "the summary of 3 devices runs as a job: 90 closed days not cached (0 devices' rows" in caplog.text
    with django_capture_on_commit_callbacks(execute=True):
        build_report("summary", org_a, vans, start, today)  # computes and caches them
    assert not jobs.should_run_in_background(org_a, vans, start, today, kind="summary")  # 90 device-days, cached
    assert jobs.should_run_in_background(org_a, vans, start, today, kind="trips")  # other kinds: device-days

    # A late fix: the days that read its UTC day (3) are computed again, in the request while they are few.
    late = start + timedelta(days=20, hours=13)
    Position.objects.create(device=vans[0], fix_time=late, latitude=60, longitude=25)
    assert not jobs.should_run_in_background(org_a, vans, start, today, kind="summary")
    Position.objects.create(device=vans[1], fix_time=late, latitude=60, longitude=25)
    assert jobs.should_run_in_background(org_a, vans, start, today, kind="summary")

    # Today is never cached: its positions decide.
    now = datetime.now(UTC)
    for seconds in (1, 2, 3):
        Position.objects.create(device=vans[2], fix_time=now - timedelta(seconds=seconds), latitude=60, longitude=25)
    with django_capture_on_commit_callbacks(execute=True):
        build_report("summary", org_a, vans, start, now)  # every closed day cached again
    monkeypatch.setattr(cache, "MAX_INLINE_POSITIONS", 2)
    assert jobs.should_run_in_background(org_a, vans, start, now, kind="summary")
    monkeypatch.setattr(cache, "MAX_INLINE_POSITIONS", 3)
    assert not jobs.should_run_in_background(org_a, vans, start, now, kind="summary")


def test_the_task_has_explicit_limits_soft_below_hard():
    assert tasks.run_report_job.soft_time_limit == jobs.SOFT_TIME_LIMIT
    assert tasks.run_report_job.time_limit == jobs.TIME_LIMIT
    assert 0 < jobs.SOFT_TIME_LIMIT < jobs.TIME_LIMIT


def test_start_stores_the_query_and_enqueues_after_commit(
    org_a, user_a, monkeypatch, settings, django_capture_on_commit_callbacks
):
    make_device(org_a, "Van 1")
    sent = []

    def apply_async(args, **options):
        sent.append((args, options))
        return type("Result", (), {"id": "t-1"})

    monkeypatch.setattr(tasks.run_report_job, "apply_async", apply_async)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start(user_a, "trips", {**OCTOBER, "format": "html"})
    assert sent == [((job.pk,), {})]  # the default queue unless REPORTS_QUEUE names one
    job.refresh_from_db()
    assert (job.kind, job.status, job.total, job.task_id) == ("trips", "queued", 1, "t-1")
    assert job.params == OCTOBER_PARAMS
    assert job.organization == org_a and job.user == user_a
    # The same request again (a double click) gets the same job.
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.start(user_a, "trips", OCTOBER) == job
    assert len(sent) == 1
    with pytest.raises(ValueError):
        jobs.start(user_a, "trips", {"preset": "custom"})
    settings.REPORTS_QUEUE = "reports"
    with django_capture_on_commit_callbacks(execute=True):
        other = jobs.start(user_a, "stops", OCTOBER)
    assert sent[-1] == ((other.pk,), {"queue": "reports"})


def test_progress_is_written_per_device_and_a_claimed_job_is_not_run_twice(org_a, user_a, monkeypatch):
    for i in range(3):
        make_device(org_a, f"Van {i}")
    job = ReportJob.objects.create(organization=org_a, user=user_a, kind="summary", params=OCTOBER_PARAMS)
    seen = []
    real = jobs.Progress.__call__

    def spy(self, done, total, rows=None):
        real(self, done, total, rows)
        seen.append((done, total, ReportJob.objects.values_list("done", "total").get(pk=job.pk)))

    monkeypatch.setattr(jobs.Progress, "__call__", spy)
    monkeypatch.setattr(jobs, "PROGRESS_EVERY_S", 0)
    assert tasks.run_report_job(job.pk) == "done"
    assert seen == [(1, 3, (1, 3)), (2, 3, (2, 3)), (3, 3, (3, 3))]
    assert tasks.run_report_job(job.pk) is None  # already done: a redelivered task does nothing
    assert tasks.run_report_job(10**9) is None  # gone


def test_a_job_whose_query_no_longer_validates_fails_with_the_reason(client, org_a, user_a):
    van = make_device(org_a, "Van 1")
    job = ReportJob.objects.create(
        organization=org_a, user=user_a, kind="trips", params={**OCTOBER_PARAMS, "device": [str(van.pk)]}
    )
    van.delete()
    assert tasks.run_report_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("The report query is no longer valid:") and "device" in job.error
    client.force_login(user_a)
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'role="alert">The report failed: The report query is no longer valid' in page
    assert client.get(reverse("reports:job-export", args=[job.pk, "csv"])).status_code == 409


def test_a_job_past_its_soft_time_limit_fails_and_says_so(org_a, user_a, monkeypatch):
    make_device(org_a, "Van 1")
    job = ReportJob.objects.create(organization=org_a, user=user_a, kind="trips", params=OCTOBER_PARAMS)

    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr("fleet.reports.kinds.build_report", too_slow)
    assert tasks.run_report_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error == "The report took longer than 25 minutes; choose fewer devices or days."
    assert job.result is None


def test_the_job_page_polls_while_running(client, org_a, user_a):
    job = ReportJob.objects.create(organization=org_a, user=user_a, kind="trips", total=4, done=1, status="running")
    client.force_login(user_a)
    page = client.get(job.get_absolute_url()).content.decode()
    assert '<progress id="job-bar" max="4" value="1"' in page and ">25 %</strong>" in page
    assert "js/job.js" in page and f'data-status-url="/reports/jobs/{job.pk}.json"' in page
    assert client.get(reverse("reports:job-export", args=[job.pk, "csv"])).status_code == 409
    status = client.get(reverse("reports:job-status", args=[job.pk]))
    assert status.json()["percent"] == 25 and status["Cache-Control"] == "no-store"


# ------------------------------------------------------------------------------------------------ scoping


def test_another_organisations_job_is_a_404_everywhere(client, org_a, user_a, org_b, user_b):
    make_device(org_a, "Van 1")
    job = ReportJob.objects.create(organization=org_a, user=user_a, kind="trips", params=OCTOBER_PARAMS)
    assert tasks.run_report_job(job.pk) == "done"
    client.force_login(user_b)
    for url in (
        job.get_absolute_url(),
        reverse("reports:job-status", args=[job.pk]),
        reverse("reports:job-export", args=[job.pk, "csv"]),
        reverse("reports:job-export", args=[job.pk, "xlsx"]),
    ):
        assert client.get(url).status_code == 404, url
    client.force_login(user_a)
    assert client.get(reverse("reports:job-export", args=[job.pk, "csv"])).status_code == 200
    assert client.get(reverse("reports:job-export", args=[job.pk, "gpx"])).status_code == 200  # trips have tracks
    assert client.get(reverse("reports:job-export", args=[job.pk, "pdf"])).status_code == 404
    assert client.get(reverse("reports:job-export", args=[job.pk, "csv"]), {"table": "nope"}).status_code == 400


def test_the_admin_shows_jobs_read_only(client, superuser, org_a, user_a):
    job = ReportJob.objects.create(organization=org_a, user=user_a, kind="trips", error="boom", status="failed")
    client.force_login(superuser)
    page = client.get(reverse("admin:reports_reportjob_change", args=[job.pk]))
    assert page.status_code == 200 and "boom" in page.content.decode() and 'name="_save"' not in page.content.decode()
    assert client.get(reverse("admin:reports_reportjob_add")).status_code == 403


def test_a_job_lost_with_its_worker_can_be_claimed_again_and_old_jobs_are_pruned(org_a, user_a):
    now = jobs._now()
    lost = ReportJob.objects.create(organization=org_a, user=user_a, kind="trips", status="running")
    busy = ReportJob.objects.create(organization=org_a, user=user_a, kind="trips", status="running")
    ReportJob.objects.filter(pk=lost.pk).update(started=now - timedelta(seconds=jobs.TIME_LIMIT + 120))
    ReportJob.objects.filter(pk=busy.pk).update(started=now - timedelta(seconds=60))
    assert jobs.claim(lost.pk) == lost  # past the hard limit: its worker died, acks_late redelivered it
    assert jobs.claim(busy.pk) is None  # still within the limit: someone is on it

    ReportJob.objects.filter(pk=lost.pk).update(created=now - timedelta(days=jobs.KEEP_DAYS, minutes=1))
    assert tasks.prune_report_jobs() == 1
    assert list(ReportJob.objects.values_list("pk", flat=True)) == [busy.pk]
