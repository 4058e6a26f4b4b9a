"""GPX import: the command, the upload form and the background job that imports the upload."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.core.models import Membership
from fleet.tracking import gpxjobs, tasks
from fleet.tracking.gpximport import GpxError, import_gpx
from fleet.tracking.models import GpxImport, Position
from fleet.web import imports as views_import
from tests.conftest import make_device, make_user
from tests.tracking.test_gpximport import ZONELESS, make_gpx, trkpt

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
URL = "/devices/import/"

# Three points 0.001 degrees apart along a meridian (111.195 m), a minute apart; the second is written in
# +02:00 and says its own speed (5 m/s = 18 km/h) in a Garmin extension; then one point without time.
GPX = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
  <trk><name>Morning</name><trkseg>
    <trkpt lat="60.000" lon="25.000"><ele>12.5</ele><time>2026-11-20T08:00:00Z</time></trkpt>
    <trkpt lat="60.001" lon="25.000"><ele>13.0</ele><time>2026-11-20T10:01:00+02:00</time>
      <extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>5.0</gpxtpx:speed></gpxtpx:TrackPointExtension></extensions>
    </trkpt>
    <trkpt lat="60.002" lon="25.000"><time>2026-11-20T08:02:00Z</time></trkpt>
    <trkpt lat="60.003" lon="25.000"></trkpt>
  </trkseg></trk>
</gpx>
"""
STEP_KMH = 0.001 * M_PER_DEG / 60 * 3.6  # 111.195 m in 60 s = 6.6717 km/h


@pytest.fixture
def gpx_file(tmp_path):
    path = tmp_path / "morning.gpx"
    path.write_bytes(GPX)
    return path


def stored(device) -> list[tuple]:
    return list(
        Position.objects.filter(device=device)
        .order_by("fix_time")
        .values_list("fix_time", "latitude", "longitude", "altitude", "speed", "course")
    )


def test_it_imports_timed_track_points_as_positions(org_a):
    van = make_device(org_a, "Van 1")

    result = import_gpx(van, GPX)

    assert (result.read, result.stored, result.duplicates, result.rejected) == (4, 3, 0, 1)
    assert dict(result.reasons) == {"no time": 1}
    (t0, la0, lo0, alt0, v0, c0), (t1, la1, _, alt1, v1, _), (t2, la2, _, alt2, v2, _) = stored(van)
    assert [t0, t1, t2] == [datetime(2026, 11, 20, 8, m, tzinfo=UTC) for m in (0, 1, 2)]  # +02:00 converted
    assert (la0, lo0, la1, la2) == (60.0, 25.0, 60.001, 60.002)
    assert (alt0, alt1, alt2) == (12.5, 13.0, None)
    assert v0 == 0.0 and c0 is None  # the first point: no step leads into it
    assert v1 == pytest.approx(18.0)  # from the extension, m/s
    assert v2 == pytest.approx(STEP_KMH, rel=1e-4)  # the step from the previous point


def test_the_command_imports_once_and_a_second_run_stores_nothing(org_a, gpx_file, capsys):
    van = make_device(org_a, "Van 1")

    call_command("importgpx", str(gpx_file), "--device", "Van 1")
    first = capsys.readouterr().out
    call_command("importgpx", str(gpx_file), "--device", "Van 1", "--org", "a")
    second = capsys.readouterr().out

    assert "4 points read, 3 stored, 0 duplicates, 1 rejected (no time: 1)" in first
    assert "4 points read, 0 stored, 3 duplicates, 1 rejected (no time: 1)" in second
    assert Position.objects.filter(device=van).count() == 3


def test_the_command_says_why_a_broken_file_cannot_be_imported(org_a, tmp_path):
    make_device(org_a, "Van 1")
    broken = tmp_path / "broken.gpx"
    broken.write_bytes(GPX[:200])

    with pytest.raises(CommandError, match="not a GPX file"):
        call_command("importgpx", str(broken), "--device", "Van 1")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("importgpx", str(tmp_path / "missing.gpx"), "--device", "Van 1")
    assert not Position.objects.exists()


def test_the_command_exits_non_zero_on_a_file_without_times(org_a, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(connections, "close_all", lambda: None)  # run_from_argv closes them: keep the test's
    make_device(org_a, "Van 1")
    timeless = tmp_path / "timeless.gpx"
    timeless.write_bytes(make_gpx(trkpt(time=None), trkpt("60.001", time=None)))

    with pytest.raises(SystemExit) as exit:
        execute_from_command_line(["manage.py", "importgpx", str(timeless), "--device", "Van 1"])

    assert exit.value.code == 1
    assert capsys.readouterr().err.strip() == f"CommandError: {timeless}: no track point has a time"
    assert not Position.objects.exists()


def test_the_command_reads_times_without_a_zone_in_the_zone_given(org_a, tmp_path, capsys):
    van = make_device(org_a, "Van 1")
    path = tmp_path / "zoneless.gpx"
    path.write_bytes(ZONELESS)

    call_command("importgpx", str(path), "--device", "Van 1", "--timezone", "Europe/Helsinki")

    out = capsys.readouterr().out.strip()
    assert out == "Van 1 (a): 3 points read, 3 stored, 0 duplicates, 0 rejected; " + (
        "2 times had no time zone: read as Europe/Helsinki"
    )
    first = Position.objects.filter(device=van).earliest("fix_time").fix_time
    assert first == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    with pytest.raises(CommandError, match="unknown time zone 'Mars/Olympus'"):
        call_command("importgpx", str(path), "--device", "Van 1", "--timezone", "Mars/Olympus")


def test_the_command_needs_one_device_of_that_name(org_a, org_b, gpx_file):
    make_device(org_a, "Van 1")
    make_device(org_b, "Van 1")

    with pytest.raises(CommandError, match="several devices named 'Van 1'; use --org"):
        call_command("importgpx", str(gpx_file), "--device", "Van 1")
    with pytest.raises(CommandError, match="no device named 'Van 9'"):
        call_command("importgpx", str(gpx_file), "--device", "Van 9")
    with pytest.raises(CommandError, match="no organisation 'zz'"):
        call_command("importgpx", str(gpx_file), "--device", "Van 1", "--org", "zz")
    call_command("importgpx", str(gpx_file), "--device", "Van 1", "--org", "b")
    assert set(Position.objects.values_list("device__organization__slug", flat=True)) == {"b"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a GPX file"),
        (b"<html><body>hello</body></html>", "no track points"),
        (b'<gpx><trk><trkseg><trkpt lat="north" lon="25"/></trkseg></trk></gpx>', "invalid GPX"),
        (b'<?xml version="1.0" encoding="UTF-8"?><gpx>\xff\xfe</gpx>', "not UTF-8 text"),
    ],
)
def test_unreadable_files_raise_a_clear_error(org_a, data, message):
    with pytest.raises(GpxError, match=message):
        import_gpx(make_device(org_a), data)


def test_ingest_rejects_points_out_of_range_and_counts_them(org_a):
    gpx = GPX.replace(b'lat="60.002"', b'lat="95.0"')
    result = import_gpx(make_device(org_a), gpx)
    assert (result.stored, result.rejected) == (2, 2)
    assert dict(result.reasons) == {"no time": 1, "latitude out of range": 1}


# ------------------------------------------------------------------------------------------------ form


def upload(name: str = "morning.gpx", data: bytes = GPX) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/gpx+xml")


def upload_and_run(client, data: dict) -> GpxImport:
    """Post the form, which redirects to the import's page, then run the queued import as a worker does."""
    response = client.post(URL, data)
    job = GpxImport.objects.latest("pk")
    assert response.status_code == 302 and response.url == job.get_absolute_url() == f"{URL}{job.pk}/"
    assert job.status == "queued" and bytes(job.data) == data["file"].open().read()
    tasks.run_gpx_import(job.pk)
    job.refresh_from_db()
    return job


def test_a_dispatcher_imports_a_file_and_its_page_shows_the_counts(client, django_user_model, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False))
    assert reverse("import-gpx") == URL

    page = client.get(URL)
    first = upload_and_run(client, {"device": van.pk, "file": upload()})
    again = upload_and_run(client, {"device": van.pk, "file": upload()})

    assert page.status_code == 200 and b"Van 1 (Org A)" in page.content
    assert (first.status, first.done, first.total, first.data, first.warned) == ("done", 4, 4, None, False)
    assert first.summary == "4 points read, 3 stored, 0 duplicates, 1 rejected (no time: 1)"
    assert "Van 1: 4 points read, 0 stored, 3 duplicates, 1 rejected (no time: 1)." in (
        client.get(again.get_absolute_url()).content.decode()
    )
    assert Position.objects.filter(device=van).count() == 3
    listed = client.get(URL).content.decode()
    assert listed.count('href="/devices/import/') == 2 and "morning.gpx" in listed


def test_a_broken_file_fails_its_import_with_the_reason(client, user_a, org_a):
    van = make_device(org_a)
    client.force_login(user_a)
    job = upload_and_run(client, {"device": van.pk, "file": upload(data=b"<gpx><trk>")})
    assert (job.status, job.data) == ("failed", None)
    assert job.error == "Cannot import this file: not a GPX file (no element found: line 1, column 10)."
    page = client.get(job.get_absolute_url()).content.decode()
    assert f'role="alert">{job.error}</p>' in page and "js/job.js" not in page
    assert not Position.objects.exists()


def test_a_file_without_times_fails_its_import(client, user_a, org_a):
    client.force_login(user_a)
    timeless = make_gpx(trkpt(time=None))
    job = upload_and_run(client, {"device": make_device(org_a).pk, "file": upload(data=timeless)})
    assert job.error == "Cannot import this file: no track point has a time."


def test_the_form_offers_the_iana_time_zones_with_utc_chosen(client, user_a):
    client.force_login(user_a)
    page = client.get(URL).content.decode()
    assert "Time zone of times without one" in page
    assert '<option value="UTC" selected>UTC</option>' in page
    assert '<option value="Europe/Helsinki">Europe/Helsinki</option>' in page


def test_the_form_reads_times_without_a_zone_in_the_zone_chosen_and_warns(client, user_a, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(user_a)

    job = upload_and_run(client, {"device": van.pk, "file": upload(data=ZONELESS), "timezone": "Europe/Helsinki"})

    assert job.warned and job.timezone == "Europe/Helsinki"
    assert job.summary == (
        "3 points read, 3 stored, 0 duplicates, 0 rejected; 2 times had no time zone: read as Europe/Helsinki"
    )
    assert 'class="warning"' in client.get(job.get_absolute_url()).content.decode()
    assert Position.objects.filter(device=van).earliest("fix_time").fix_time == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_without_a_time_zone_chosen_the_form_reads_times_without_one_as_utc(client, user_a, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(user_a)
    job = upload_and_run(client, {"device": van.pk, "file": upload(data=ZONELESS)})
    assert job.summary.endswith("; 2 times had no time zone: read as UTC")


def test_an_unknown_time_zone_is_a_form_error(client, user_a, org_a):
    client.force_login(user_a)
    data = {"device": make_device(org_a).pk, "file": upload(), "timezone": "Europe/Atlantis"}
    response = client.post(URL, data)
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Position.objects.exists()


def test_a_point_at_infinity_is_rejected_and_its_neighbours_stored(client, user_a, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(user_a)
    gpx = make_gpx(
        trkpt(), trkpt("60.001", "inf", "2026-11-20T08:01:00Z"), trkpt("60.002", time="2026-11-20T08:02:00Z")
    )

    job = upload_and_run(client, {"device": van.pk, "file": upload(data=gpx)})

    assert (job.status, job.warned) == ("done", False)
    assert job.summary == "3 points read, 2 stored, 0 duplicates, 1 rejected (not a finite number: 1)"
    assert Position.objects.filter(device=van).count() == 2


def test_a_file_over_the_size_limit_is_a_form_error(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(views_import, "MAX_BYTES", len(GPX) - 1)
    client.force_login(user_a)
    response = client.post(URL, {"device": make_device(org_a).pk, "file": upload()})
    assert response.status_code == 400 and "The file is larger than" in response.content.decode()
    assert not GpxImport.objects.exists()


def test_a_request_far_over_the_limit_is_refused_before_it_is_read(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(views_import, "MAX_BYTES", 1024)
    client.force_login(user_a)
    big = GPX.replace(b"<trk>", b"<trk><desc>" + b"x" * 100_000 + b"</desc>")
    response = client.post(URL, {"device": make_device(org_a).pk, "file": upload(data=big)})
    assert response.status_code == 400 and "The file is larger than 0.000976562 MB." in response.content.decode()
    assert not GpxImport.objects.exists()


def test_another_organisations_device_cannot_be_chosen(client, user_a, org_b):
    theirs = make_device(org_b, "Their van")
    client.force_login(user_a)
    page = client.get(URL)
    response = client.post(URL, {"device": theirs.pk, "file": upload()})
    assert b"Their van" not in page.content
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not GpxImport.objects.exists()


def test_viewers_may_not_import(client, django_user_model, org_a, org_b):
    van = make_device(org_a)
    viewer = make_user(django_user_model, "viewer", org_a, role=Membership.Role.VIEWER, staff=False)
    client.force_login(viewer)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"device": van.pk, "file": upload()}).status_code == 403
    # a dispatcher elsewhere is still only a viewer of this organisation's devices
    Membership.objects.create(user=viewer, organization=org_b, role=Membership.Role.DISPATCHER)
    assert client.get(URL).status_code == 200
    assert client.post(URL, {"device": van.pk, "file": upload()}).status_code == 403
    assert not GpxImport.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith("/login/")


# ------------------------------------------------------------------------------------------------ the job


def queued(org, user, data: bytes = GPX, **kw) -> GpxImport:
    device = kw.pop("device", None) or make_device(org)
    return GpxImport.objects.create(organization=org, user=user, device=device, file_name="a.gpx", data=data, **kw)


def test_the_import_page_polls_while_the_file_is_imported(client, user_a, org_a):
    job = queued(org_a, user_a, status="running", done=5000, total=20000)
    client.force_login(user_a)

    page = client.get(job.get_absolute_url()).content.decode()
    status = client.get(reverse("import-job-status", args=[job.pk]))

    assert '<progress id="job-bar" max="20000" value="5000"' in page and ">25 %</strong>" in page
    assert 'of <span id="job-total">20000</span> track points' in page
    assert "js/job.js" in page and f'data-status-url="/devices/import/{job.pk}.json"' in page
    assert status["Cache-Control"] == "no-store"
    assert status.json() == {
        "id": job.pk,
        "status": "running",
        "done": 5000,
        "total": 20000,
        "percent": 25,
        "error": "",
        "finished": False,
        "url": f"/devices/import/{job.pk}/",
    }


def test_another_organisations_import_and_a_viewers_are_refused(client, django_user_model, user_a, org_a, org_b):
    ours = queued(org_a, user_a)
    theirs = queued(org_b, None)
    client.force_login(user_a)
    assert client.get(ours.get_absolute_url()).status_code == 200
    assert client.get(theirs.get_absolute_url()).status_code == 404
    assert client.get(reverse("import-job-status", args=[theirs.pk])).status_code == 404
    assert "a.gpx" in client.get(URL).content.decode()
    client.force_login(make_user(django_user_model, "viewer", org_a, role=Membership.Role.VIEWER, staff=False))
    assert client.get(ours.get_absolute_url()).status_code == 403


def test_an_import_is_run_once_and_a_job_lost_with_its_worker_fails_on_its_page(client, user_a, org_a):
    job = queued(org_a, user_a)
    assert tasks.run_gpx_import(job.pk) == "done"
    assert tasks.run_gpx_import(job.pk) is None  # a redelivered task does nothing
    assert tasks.run_gpx_import(10**9) is None  # gone

    lost = queued(org_a, user_a, status="running")
    started = timezone.now() - timedelta(seconds=gpxjobs.TIME_LIMIT + 120)
    GpxImport.objects.filter(pk=lost.pk).update(started=started)
    client.force_login(user_a)
    page = client.get(lost.get_absolute_url()).content.decode()
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.error.startswith("The import stopped without finishing")
    assert "importing the file again stores the rest" in page


def test_an_import_past_its_soft_time_limit_fails_and_says_so(org_a, user_a, monkeypatch):
    job = queued(org_a, user_a)

    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(gpxjobs, "import_segments", too_slow)
    assert tasks.run_gpx_import(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("The import took longer than 5 minutes. Points stored before it stopped are kept")
    assert job.data is None


def test_the_import_task_has_explicit_limits_soft_below_hard():
    assert tasks.run_gpx_import.soft_time_limit == gpxjobs.SOFT_TIME_LIMIT
    assert tasks.run_gpx_import.time_limit == gpxjobs.TIME_LIMIT
    assert 0 < gpxjobs.SOFT_TIME_LIMIT < gpxjobs.TIME_LIMIT


def test_the_upload_is_queued_after_commit_on_the_imports_queue(
    client, user_a, org_a, monkeypatch, settings, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    sent = []

    def apply_async(args, **options):
        sent.append((args, options))
        return type("Result", (), {"id": "t-1"})

    monkeypatch.setattr(tasks.run_gpx_import, "apply_async", apply_async)
    client.force_login(user_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, {"device": van.pk, "file": upload()})
    settings.IMPORTS_QUEUE = "imports"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, {"device": van.pk, "file": upload()})
    first, second = GpxImport.objects.order_by("pk")
    assert sent == [((first.pk,), {}), ((second.pk,), {"queue": "imports"})]
    assert first.task_id == "t-1" and first.status == "queued"


def test_old_imports_are_pruned(org_a, user_a):
    old, new = queued(org_a, user_a), queued(org_a, user_a)
    GpxImport.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=gpxjobs.KEEP_DAYS, minutes=1))
    assert tasks.prune_gpx_imports() == 1
    assert list(GpxImport.objects.values_list("pk", flat=True)) == [new.pk]
