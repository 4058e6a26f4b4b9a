"""Hostile GPX uploads cannot take a server down: each is refused with its reason within seconds by the
import job, and the web process (the test client) keeps serving. The file that crashes gpxpy (150,000 nested
elements) never runs in this process: a subprocess shows the parser refuses it before anything recursive
runs, and a real prefork Celery worker refuses it and goes on to import the next upload. The upload's job
also runs end to end on Celery's embedded worker, as report jobs do (tests/reports/test_jobs.py), and the
prefork worker fails a file that needs more memory than it may take.

The workers consume Redis at REDIS_URL, on a queue of the test's own (``IMPORTS_QUEUE``), so no other worker
on the shared Redis takes the jobs.
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import gpxpy
import gpxpy.gpxfield
import gpxpy.parser
import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from fleet.celery import app as celery_app
from fleet.core import jobs
from fleet.tracking import gpxparse, tasks
from fleet.tracking.models import GpxImport, Position
from tests.conftest import make_device, make_org, make_user
from tests.tracking.test_gpximport import LAUGHS, TRACKS, make_gpx, trkpt
from tests.web.test_import import GPX

ROOT = Path(__file__).resolve().parents[2]
URL = "/devices/import/"
WITHIN_S = 5  # a refusal takes at most this long (a few hundredths on an idle machine)


def nested(levels: int) -> bytes:
    return make_gpx(trkpt(inner="<extensions>" + "<a>" * levels + "</a>" * levels + "</extensions>"))


def with_root_attributes(attributes: str) -> bytes:
    return make_gpx(trkpt()).replace(b'creator="test"', f'creator="test"{attributes}'.encode())


def declared(encoding: str) -> bytes:
    return make_gpx(trkpt()).replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())


def with_dtd(dtd: str, name: str = "") -> bytes:
    return make_gpx(trkpt(inner=f"<name>{name}</name>"), prolog=dtd)


DTD = "the file declares a document type (DTD), which GPX files do not use"

# name -> (the file, the reason it is refused)
HOSTILE = {
    "namespace flood": (
        lambda: with_root_attributes("".join(f' xmlns:n{i}="http://example.com/{i}"' for i in range(30_000))),
        "the file declares more than 100 XML namespaces",
    ),
    "punycode": (lambda: declared("punycode"), "encoding 'punycode' is not accepted: use UTF-8"),
    "UTF-7": (lambda: declared("UTF-7"), "encoding 'UTF-7' is not accepted: use UTF-8"),
    "EBCDIC by name": (lambda: declared("cp037"), "encoding 'cp037' is not accepted: use UTF-8"),
    "a compression codec": (lambda: declared("zlib_codec"), "encoding 'zlib_codec' is not accepted: use UTF-8"),
    "UTF-32 bytes": (
        lambda: make_gpx(trkpt()).decode().replace("UTF-8", "UTF-32").encode("utf-32"),
        "encoding 'UTF-32' is not accepted: use UTF-8",
    ),
    "EBCDIC bytes": (
        lambda: make_gpx(trkpt()).decode().replace("UTF-8", "cp037").encode("cp037"),
        "encoding 'EBCDIC' is not accepted: use UTF-8",
    ),
    "billion laughs": (lambda: with_dtd(f"<!DOCTYPE gpx [{LAUGHS}]>", "&l9;"), DTD),
    "quadratic blowup": (lambda: with_dtd(f'<!DOCTYPE gpx [<!ENTITY big "{"x" * 100_000}">]>', "&big;" * 50_000), DTD),
    "external entity (XXE)": (
        lambda: with_dtd('<!DOCTYPE gpx [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>', "&passwd;"),
        DTD,
    ),
    "external DTD": (lambda: with_dtd('<!DOCTYPE gpx SYSTEM "http://127.0.0.1:9/gpx.dtd">'), DTD),
    "huge attribute": (
        lambda: with_root_attributes(f' note="{"x" * 15_000_000}"'),
        "the file has an attribute longer than 10,000 characters",
    ),
    "attribute flood": (
        lambda: with_root_attributes("".join(f' a{i}="{i}"' for i in range(100_000))),
        "the file has an element with more than 50 attributes",
    ),
}


def upload(data: bytes, name: str = "hostile.gpx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/gpx+xml")


def post(client, device, data: bytes, name: str = "hostile.gpx") -> GpxImport:
    response = client.post(URL, {"device": device.pk, "file": upload(data, name)})
    job = GpxImport.objects.latest("pk")
    assert response.status_code == 302 and response.url == job.get_absolute_url()
    return job


def run_timed(job: GpxImport) -> float:
    """Run the queued import as a worker does; the seconds it took."""
    start = time.monotonic()
    tasks.run_gpx_import(job.pk)
    job.refresh_from_db()
    return time.monotonic() - start


# ------------------------------------------------------------------------------------------------ in the job


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_upload_is_refused_with_its_reason_within_seconds_and_the_site_keeps_serving(
    client, user_a, org_a, name
):
    make_file, reason = HOSTILE[name]
    registry = dict(ET._namespace_map)
    client.force_login(user_a)

    job = post(client, make_device(org_a), make_file())
    took = run_timed(job)

    assert (job.status, job.error) == ("failed", f"Cannot import this file: {reason}.")
    assert took < WITHIN_S
    assert job.data is None  # the stored upload is dropped
    page = client.get(job.get_absolute_url())
    assert page.status_code == 200 and f'role="alert">{job.error}</p>' in page.content.decode().replace("&#x27;", "'")
    assert client.get(URL).status_code == 200
    assert not Position.objects.exists()
    assert ET._namespace_map == registry  # nothing registered process-wide


def test_the_element_count_stops_the_parser_at_the_first_element_past_the_limit(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(gpxparse, "MAX_ELEMENTS", 10_000)
    client.force_login(user_a)
    job = post(client, make_device(org_a), make_gpx(*[trkpt()] * 5_000))  # gpx, trk, trkseg, then 2 a point
    assert run_timed(job) < WITHIN_S
    assert job.error == "Cannot import this file: the file has more than 10,000 elements."


def test_a_file_just_within_every_limit_imports(client, user_a, org_a):
    namespaces = "".join(f' xmlns:n{i}="http://example.com/{i}"' for i in range(99))  # and the GPX one
    attributes = "".join(f' a{i}="{i}"' for i in range(46)) + f' note="{"x" * 10_000}"'  # 50 with version, ...
    deep = "<a>" * 95 + "</a>" * 95  # gpx, trk, trkseg, trkpt, extensions: 100
    data = with_root_attributes(namespaces + attributes).replace(
        b"</time>", f"</time><extensions>{deep}</extensions>".encode()
    )
    client.force_login(user_a)
    job = post(client, make_device(org_a), data)
    run_timed(job)
    assert (job.status, job.summary) == ("done", "1 points read, 1 stored, 0 duplicates, 0 rejected")


def test_a_file_gpxpys_namespace_scan_takes_hours_over_is_read_in_seconds(client, user_a, org_a):
    # gpxpy runs r'\sxmlns:?[^=]*="[^"]+"' over the whole text: quadratic in " xmlns" words without "=".
    data = make_gpx(trkpt(inner="<desc>" + " xmlns" * 3_000_000 + "</desc>"))
    client.force_login(user_a)
    job = post(client, make_device(org_a), data)
    assert run_timed(job) < WITHIN_S
    assert job.status == "done"


def test_importing_builds_no_tree_and_calls_neither_gpxpys_parser_nor_the_namespace_registry(
    org_a, user_a, monkeypatch
):
    def tripwire(*args, **kwargs):
        raise AssertionError("called while importing")

    for target, name in [
        (gpxpy, "parse"),
        (gpxpy.parser.GPXParser, "parse"),
        (gpxpy.gpxfield.GPXExtensionsField, "from_xml"),  # deep-copies each extension's tree
        (ET, "XMLParser"),
        (ET, "register_namespace"),
    ]:
        monkeypatch.setattr(target, name, tripwire)
    job = GpxImport.objects.create(
        organization=org_a,
        user=user_a,
        device=make_device(org_a),
        data=(TRACKS / "car-visnjan-croatia.gpx").read_bytes(),
    )
    assert tasks.run_gpx_import(job.pk) == "done"  # a Garmin file: five namespaces, extensions


def heap_free_bytes() -> int:
    """The bytes free inside glibc's heaps (mallinfo2's ``fordblks``, every arena): an allocation larger than them
    cannot reuse memory the process already maps, so it needs new address space."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return 0

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
        ] + [("keepcost", ctypes.c_size_t)]

    mallinfo2.restype = Mallinfo2
    return mallinfo2().fordblks


def test_the_memory_limit_refuses_an_allocation_past_it_and_is_restored_after():
    # The limit counts address space. A 64 MB allocation can be served from memory the process already maps: a
    # free region of its heap, where many smaller objects were freed (in a full run it once went through). So the
    # child first leaves such a region (~100 MB freed in 100 kB pieces), then asks for more than all the heaps'
    # free bytes and 64 MB. In a forked child only this thread runs.
    pid = os.fork()
    if pid == 0:  # the child: exit 0 when the allocation was refused and the limit restored
        code = 1
        try:
            hole = [bytearray(100_000) for _ in range(1000)]
            keep = bytearray(100_000)  # above the hole: the heap's top is not trimmed back to it
            del hole
            size = heap_free_bytes() + 64 * 1024 * 1024
            limit = resource.getrlimit(resource.RLIMIT_AS)
            try:
                with jobs.memory_limit(8 * 1024 * 1024):
                    bytearray(size)
                code = 2  # not refused
            except MemoryError:
                restored = resource.getrlimit(resource.RLIMIT_AS) == limit
                code = 0 if restored and len(bytearray(64 * 1024 * 1024)) == 64 * 1024 * 1024 else 3
            del keep
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # 2: the allocation went through; 3: the limit stayed


# ------------------------------------------------------------------------------------------------ the crash case


def test_a_file_nested_150000_deep_is_refused_before_anything_recursive_runs(tmp_path):
    path = tmp_path / "deep.gpx"
    path.write_bytes(nested(150_000))
    script = (
        "import json, sys, time\n"
        "from fleet.tracking.gpxparse import GpxError, parse\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    parse(open(sys.argv[1], 'rb').read())\n"
        "except GpxError as exc:\n"
        "    print(json.dumps([str(exc), time.monotonic() - start]))\n"
    )

    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True, timeout=120)

    assert done.returncode == 0, done.stderr.decode()  # gpxpy.parse on this file dies of SIGSEGV (-11)
    message, took = json.loads(done.stdout)
    assert message == "the file nests elements deeper than 100" and took < WITHIN_S


def database_url() -> str:
    """This test run's database, for a worker in another process."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"spatialite:///{s['NAME']}"
    return f"postgis://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@contextmanager
def prefork_worker(queue: str, log: Path, memory_mb: int):
    """``celery worker`` with the prefork pool (one child), as deployed, in its own process group."""
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": celery_app.conf.broker_url}
    env["GPX_IMPORT_MEMORY_MB"] = str(memory_mb)
    command = [sys.executable, "-m", "celery", "-A", "fleet", "worker", "--pool=prefork", "--concurrency=1"]
    command += ["-Q", queue, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
        try:
            yield worker
        finally:
            worker.send_signal(signal.SIGTERM)  # warm shutdown: the child finishes, then both exit
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def wait_for(*imports: GpxImport, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for job in imports:
        while job.refresh_from_db() or not job.is_over:
            assert time.monotonic() < deadline, f"import {job.pk} still {job.status} after {timeout} s"
            time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_refuses_the_crashing_the_flooding_and_the_too_big_file_and_imports_the_next(
    client, django_user_model, settings, tmp_path
):
    settings.IMPORTS_QUEUE = queue = f"fleet-test-imports-{uuid.uuid4().hex[:10]}"
    org = make_org("a")
    client.force_login(make_user(django_user_model, "alice", org))
    van = make_device(org, "Van 1")
    many = make_gpx(*[trkpt()] * 250_000)  # 17 MB: 250,000 points to read, far more than 16 MB

    with prefork_worker(queue, tmp_path / "worker.log", memory_mb=16) as worker:
        deep = post(client, van, nested(150_000), "deep.gpx")
        flood = post(client, van, HOSTILE["namespace flood"][0](), "flood.gpx")
        big = post(client, van, many, "many.gpx")
        good = post(client, van, GPX, "morning.gpx")
        wait_for(deep, flood, big, good)
        alive = worker.poll() is None

    assert alive, (tmp_path / "worker.log").read_text()
    assert deep.error == "Cannot import this file: the file nests elements deeper than 100."
    assert flood.error == "Cannot import this file: the file declares more than 100 XML namespaces."
    assert big.error == "Cannot import this file: reading it needs more than 16 MB of memory."
    assert (good.status, good.summary) == ("done", "4 points read, 3 stored, 0 duplicates, 1 rejected (no time: 1)")
    assert Position.objects.filter(device=van).count() == 3
    assert client.get(URL).status_code == 200


# ------------------------------------------------------------------------------------------------ end to end


@contextmanager
def embedded_worker(queue: str):
    """Celery's test worker in a thread of this process, consuming only ``queue``."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30):
        yield


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_a_worker_and_its_page_follows_it_to_the_result(client, django_user_model, settings):
    settings.IMPORTS_QUEUE = queue = f"fleet-test-imports-{uuid.uuid4().hex[:10]}"
    org = make_org("a")
    client.force_login(make_user(django_user_model, "alice", org))
    van = make_device(org, "Van 1")

    with embedded_worker(queue):
        job = post(client, van, GPX, "morning.gpx")
        assert job.task_id  # queued once the upload committed
        wait_for(job)
        hostile = post(client, van, HOSTILE["punycode"][0]())
        wait_for(hostile)
        again = post(client, van, GPX, "morning.gpx")
        wait_for(again)

    status = client.get(f"{URL}{job.pk}.json").json()
    assert status == {
        "id": job.pk,
        "status": "done",
        "done": 4,
        "total": 4,
        "percent": 100,
        "error": "",
        "finished": True,
        "url": job.get_absolute_url(),
    }
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Van 1: 4 points read, 3 stored, 0 duplicates, 1 rejected (no time: 1)." in page
    assert "js/job.js" not in page  # over: nothing to poll
    assert hostile.error == "Cannot import this file: encoding 'punycode' is not accepted: use UTF-8."
    assert again.summary == "4 points read, 0 stored, 3 duplicates, 1 rejected (no time: 1)"  # the worker carried on
    assert Position.objects.filter(device=van).count() == 3
