"""The offline street map on the server: the archive served by byte ranges to anyone (the public share page
reads it too), what map pages are told about it, and the system check on a setting that names no archive."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.urls import reverse

from fleet.core.maps import map_settings
from fleet.core.ranges import Unsatisfiable, byte_range

DEMO = settings.BASE_DIR / "fleet/simulators/data/helsinki_basemap.pmtiles"


@pytest.fixture
def archive(settings, tmp_path) -> bytes:
    """A configured archive: the demo's, copied so its bytes and version are the test's own."""
    data = DEMO.read_bytes()
    path = tmp_path / "region.pmtiles"
    path.write_bytes(data)
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "PMTILES": path, "TILE_URL": ""}
    return data


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_range_request_gets_206_with_exactly_those_bytes(client, archive):
    response = client.get(reverse("basemap"), headers={"Range": "bytes=0-126"})
    assert response.status_code == 206
    assert body(response) == archive[:127]
    assert response["Content-Range"] == f"bytes 0-126/{len(archive)}"
    assert response["Content-Length"] == "127" and response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "application/vnd.pmtiles"


def test_open_ended_and_suffix_ranges_end_at_the_last_byte(client, archive):
    size = len(archive)
    tail = client.get(reverse("basemap"), headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and body(tail) == archive[-10:]
    suffix = client.get(reverse("basemap"), headers={"Range": "bytes=-300"})
    assert suffix["Content-Range"] == f"bytes {size - 300}-{size - 1}/{size}" and body(suffix) == archive[-300:]
    past = client.get(reverse("basemap"), headers={"Range": f"bytes=100-{size + 5000}"})  # clipped to the end
    assert body(past) == archive[100:]


def test_a_range_past_the_end_is_416_with_the_size(client, archive):
    response = client.get(reverse("basemap"), headers={"Range": f"bytes={len(archive)}-"})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(archive)}"


def test_without_a_range_the_whole_file_comes_with_its_version(client, archive):
    response = client.get(reverse("basemap"))
    assert response.status_code == 200 and body(response) == archive
    assert response["Accept-Ranges"] == "bytes" and response["ETag"].startswith('"')


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,5-9", "items=0-9", "bytes=abc", "bytes=-"])
def test_a_range_header_that_is_not_one_valid_range_gets_the_whole_file(client, archive, header):
    response = client.get(reverse("basemap"), headers={"Range": header})
    assert response.status_code == 200 and body(response) == archive


def test_a_range_for_another_version_of_the_file_gets_the_whole_file(client, archive):
    etag = client.get(reverse("basemap"))["ETag"]
    same = client.get(reverse("basemap"), headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206
    other = client.get(reverse("basemap"), headers={"Range": "bytes=0-9", "If-Range": '"an-older-one"'})
    assert other.status_code == 200 and body(other) == archive


def test_the_range_parser_refuses_nothing_it_cannot_serve():
    assert byte_range("bytes=0-0", 10) == (0, 0)
    assert byte_range("bytes=-20", 10) == (0, 9)  # more than the file: all of it
    with pytest.raises(Unsatisfiable):
        byte_range("bytes=-0", 10)
    with pytest.raises(Unsatisfiable):
        byte_range("bytes=0-", 0)  # an empty file has no first byte
    assert byte_range("bytes=" + "9" * 40 + "-", 10) is None  # absurd numbers are not a range


def test_the_archive_needs_no_login_and_says_404_when_there_is_none(client, settings):
    assert client.get(reverse("basemap"), headers={"Range": "bytes=0-6"}).status_code == 206  # the demo's
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "PMTILES": None}
    assert client.get(reverse("basemap")).status_code == 404


def test_map_pages_are_told_the_archive_its_reader_and_its_deepest_zoom(archive):
    offline = map_settings()["offline"]
    assert offline["name"] == "Offline streets" and offline["pmtiles"] == reverse("basemap")
    assert offline["pmtiles"].endswith(".pmtiles")  # protomaps-leaflet picks its PMTiles reader by the suffix
    assert offline["script"].endswith("vendor/protomaps-leaflet/protomaps-leaflet.js")
    assert offline["maxDataZoom"] == 15 and "OpenStreetMap" in offline["attribution"]


def test_a_self_hosted_tile_url_is_the_offline_layer_instead(settings):
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png"}
    offline = map_settings()["offline"]
    assert offline["url"] == "https://tiles.example.org/{z}/{x}/{y}.png" and "pmtiles" not in offline


def test_no_archive_means_no_offline_layer(settings, tmp_path):
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "PMTILES": None}
    assert map_settings()["offline"] is None
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "PMTILES": tmp_path / "missing.pmtiles"}
    assert map_settings()["offline"] is None


@pytest.mark.parametrize(
    ("content", "says"), [(None, "cannot be read"), (b"<html>not found</html>", "is not a PMTiles version 3 archive")]
)
def test_the_system_check_names_a_setting_that_is_no_archive(settings, tmp_path, content, says):
    path = tmp_path / "region.pmtiles"
    if content is not None:
        path.write_bytes(content)
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "PMTILES": path, "TILE_URL": ""}
    warnings = [m for m in run_checks() if m.id == "fleet.W003"]
    assert len(warnings) == 1 and says in warnings[0].msg and str(path) in warnings[0].msg


def test_the_system_check_is_quiet_for_the_demo_archive_and_for_none(settings):
    assert not [m for m in run_checks() if m.id == "fleet.W003"]
    settings.MAP_OFFLINE = {**settings.MAP_OFFLINE, "PMTILES": None}
    assert not [m for m in run_checks() if m.id == "fleet.W003"]


def test_the_demo_archive_is_the_default(settings):
    assert Path(settings.MAP_OFFLINE["PMTILES"]) == DEMO and DEMO.exists()


def settings_from(**env: str) -> dict:
    """MAP_OFFLINE and the image sources of the policy as fleet/settings.py makes them from `env`."""
    code = (
        "import json; from fleet import settings as s; "
        "print(json.dumps([str(s.MAP_OFFLINE['PMTILES']), s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']]))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("MAP_OFFLINE")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env={**base, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    path, img_src = json.loads(result.stdout)
    return {"path": path, "img-src": img_src}


def test_the_settings_take_a_relative_archive_path_from_the_project_and_a_tile_urls_origin_into_the_policy():
    made = settings_from(
        MAP_OFFLINE_PMTILES="maps/region.pmtiles", MAP_OFFLINE_TILE_URL="https://t.example.org/{z}/{x}/{y}.png"
    )
    assert made["path"] == str(settings.BASE_DIR / "maps/region.pmtiles")
    assert "https://t.example.org" in made["img-src"]
    assert settings_from(MAP_OFFLINE_PMTILES="")["path"] == "None"  # empty: no offline map
    assert settings_from(MAP_OFFLINE_PMTILES="/srv/maps/region.pmtiles")["path"] == "/srv/maps/region.pmtiles"
