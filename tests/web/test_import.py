"""GPX import: the command and the upload form, through the one ingest service."""

import math
from datetime import UTC, datetime

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connections
from django.urls import reverse

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.core.models import Membership
from fleet.tracking.gpximport import GpxError, import_gpx
from fleet.tracking.models import Position
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
    assert v0 == pytest.approx(STEP_KMH, rel=1e-4)  # first point: the step to the next one
    assert v1 == pytest.approx(18.0)  # from the extension, m/s
    assert v2 == pytest.approx(STEP_KMH, rel=1e-4)  # the step from the previous point
    assert c0 == pytest.approx(0.0)  # due north


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


def test_a_dispatcher_imports_a_file_and_sees_the_counts(client, django_user_model, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False))
    assert reverse("import-gpx") == URL

    page = client.get(URL)
    response = client.post(URL, {"device": van.pk, "file": upload()})
    again = client.post(URL, {"device": van.pk, "file": upload()}, follow=True)

    assert page.status_code == 200 and b"Van 1 (Org A)" in page.content
    assert response.status_code == 302 and response.url == URL
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Van 1: 4 points read, 3 stored, 0 duplicates, 1 rejected (no time: 1)."
    ]
    assert "Van 1: 4 points read, 0 stored, 3 duplicates, 1 rejected (no time: 1)." in again.content.decode()
    assert Position.objects.filter(device=van).count() == 3


def test_a_broken_file_is_a_form_error(client, user_a, org_a):
    van = make_device(org_a)
    client.force_login(user_a)
    response = client.post(URL, {"device": van.pk, "file": upload(data=b"<gpx><trk>")})
    assert response.status_code == 400
    assert "Cannot import this file: not a GPX file" in response.content.decode()
    assert not Position.objects.exists()


def test_a_file_without_times_is_a_form_error(client, user_a, org_a):
    client.force_login(user_a)
    timeless = make_gpx(trkpt(time=None))
    response = client.post(URL, {"device": make_device(org_a).pk, "file": upload(data=timeless)})
    assert response.status_code == 400
    assert "Cannot import this file: no track point has a time." in response.content.decode()


def test_the_form_offers_the_iana_time_zones_with_utc_chosen(client, user_a):
    client.force_login(user_a)
    page = client.get(URL).content.decode()
    assert "Time zone of times without one" in page
    assert '<option value="UTC" selected>UTC</option>' in page
    assert '<option value="Europe/Helsinki">Europe/Helsinki</option>' in page


def test_the_form_reads_times_without_a_zone_in_the_zone_chosen_and_warns(client, user_a, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(user_a)

    response = client.post(URL, {"device": van.pk, "file": upload(data=ZONELESS), "timezone": "Europe/Helsinki"})

    [message] = get_messages(response.wsgi_request)
    assert message.level_tag == "warning"
    assert str(message) == (
        "Van 1: 3 points read, 3 stored, 0 duplicates, 0 rejected; 2 times had no time zone: read as Europe/Helsinki."
    )
    assert Position.objects.filter(device=van).earliest("fix_time").fix_time == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_without_a_time_zone_chosen_the_form_reads_times_without_one_as_utc(client, user_a, org_a):
    van = make_device(org_a, "Van 1")
    client.force_login(user_a)
    response = client.post(URL, {"device": van.pk, "file": upload(data=ZONELESS)})
    [message] = get_messages(response.wsgi_request)
    assert str(message).endswith("; 2 times had no time zone: read as UTC.")


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

    response = client.post(URL, {"device": van.pk, "file": upload(data=gpx)})

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Van 1: 3 points read, 2 stored, 0 duplicates, 1 rejected (not a finite number: 1)."
    ]
    assert Position.objects.filter(device=van).count() == 2


def test_a_file_over_the_size_limit_is_a_form_error(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(views_import, "MAX_BYTES", len(GPX) - 1)
    client.force_login(user_a)
    response = client.post(URL, {"device": make_device(org_a).pk, "file": upload()})
    assert response.status_code == 400 and "The file is larger than" in response.content.decode()
    assert not Position.objects.exists()


def test_a_request_far_over_the_limit_is_refused_before_it_is_read(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(views_import, "MAX_BYTES", 1024)
    client.force_login(user_a)
    big = GPX.replace(b"<trk>", b"<trk><desc>" + b"x" * 100_000 + b"</desc>")
    response = client.post(URL, {"device": make_device(org_a).pk, "file": upload(data=big)})
    assert response.status_code == 400 and "The file is larger than 0.000976562 MB." in response.content.decode()
    assert not Position.objects.exists()


def test_another_organisations_device_cannot_be_chosen(client, user_a, org_b):
    theirs = make_device(org_b, "Their van")
    client.force_login(user_a)
    page = client.get(URL)
    response = client.post(URL, {"device": theirs.pk, "file": upload()})
    assert b"Their van" not in page.content
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Position.objects.exists()


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
    assert not Position.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith("/login/")
