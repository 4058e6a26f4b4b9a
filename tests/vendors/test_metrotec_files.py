"""Files attached to tasks, both ways with the Metrotec simulator over real HTTP: a file added to a task in
fleet is uploaded to the vendor's copy of the task (bytes and all); the vendor's files of its tasks come back
on the sync as metadata; files fleet refuses (too big, not an image or a PDF) are stored nowhere."""

import hashlib

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.dispatch import files
from fleet.dispatch.models import Task, TaskFile
from fleet.vendors import sync
from fleet.vendors.models import VendorLink
from tests.vendors.test_metrotec_sync import new_task, sim_api

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 20


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def link_of(account, obj) -> VendorLink:
    return VendorLink.objects.get(account=account, object_id=obj.pk, content_type__model=type(obj)._meta.model_name)


def upload_at_metrotec(sim, task_id: int, name: str, content: bytes, file_type: str) -> dict:
    """A driver attaching a file to the task in Metrotec's own app (multipart, as the excerpt shows)."""
    headers = {"Accept": "application/json; version=1.1.0", "Authorization": "Bearer demo-token"}
    form = {"pivot_type": "route_tasks", "pivot_id": str(task_id), "file_type": file_type, "hidden": "0"}
    response = httpx.post(
        f"{sim.url}/api/files", headers=headers, data=form, files={"file": (name, content)}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_file_added_to_a_task_in_fleet_is_uploaded_to_its_task_at_metrotec(metrotec, eager_celery):
    sim, account = metrotec
    sync.sync_account(account)
    task = new_task(account)
    task_file = files.add_task_file(task, SimpleUploadedFile("proof of delivery.pdf", PDF), "delivery_note")
    (theirs,) = sim.truth()["files"]
    assert (theirs["pivot_type"], theirs["pivot_id"]) == ("route_tasks", link_of(account, task).vendor_id)
    assert (theirs["defined_name"], theirs["file_type"], theirs["mime"]) == (
        "proof of delivery.pdf",
        "delivery_note",
        "application/pdf",
    )
    assert (theirs["size"], theirs["sha256"]) == (len(PDF), hashlib.sha256(PDF).hexdigest())  # the bytes arrived
    assert link_of(account, task_file).vendor_id == str(theirs["id"])
    with task_file.file.open("rb") as stored:
        assert stored.read() == PDF  # kept in fleet's storage too

    for _ in range(2):  # the file comes back in the vendor's list: known, not doubled
        account.refresh_from_db()
        run = sync.sync_account(account)
        assert run.counts["task_files"].get("created", 0) == 0 and TaskFile.objects.count() == 1
    assert run.counts["task_files"]["duplicates"] == 1  # the vendor's metadata (sender, time) taken once
    assert TaskFile.objects.get().sender == "api"


def test_files_attached_at_metrotec_come_to_fleet_as_metadata_on_the_next_sync(metrotec):
    sim, account = metrotec
    vehicle = sim.truth()["devices"][0]["id"]
    body = {"object_id": vehicle, "lat": 60.17, "lon": 24.94, "order_ref": "M-1"}
    task = sim_api(sim, "/tasks", "POST", **body, start_time="2026-01-01 08:00:00", stop_time="2026-01-01 17:00:00")
    upload_at_metrotec(sim, task["id"], "signature.png", PNG, "receiver_signature")
    upload_at_metrotec(sim, task["id"], "cmr.pdf", PDF, "cmr")
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    assert run.counts["task_files"]["created"] == 2
    fleet_task = Task.objects.get(organization=account.organization, order_ref="M-1")
    got = sorted(fleet_task.files.values_list("name", "kind", "mime", "sender"))
    assert got == [
        ("cmr.pdf", "cmr", "application/pdf", "api"),
        ("signature.png", "receiver_signature", "image/png", "api"),
    ]
    assert all(not f.file for f in fleet_task.files.all())  # metadata only: the excerpt shows no download address

    sim_api(sim, f"/files/{sim.truth()['files'][0]['id']}", "PUT", file_type="image")  # retyped at the vendor
    account.refresh_from_db()
    again = sync.sync_account(account)
    assert again.counts["task_files"]["updated"] == 1 and fleet_task.files.filter(kind="image").count() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("big.png", PNG + bytes(2048), "at most", id="too-big"),
        pytest.param("notes.png", b"plain text, named like an image", "image", id="not-an-image"),
        pytest.param("page.html", b"<html><script>alert(1)</script>", "image", id="html"),
    ],
)
def test_a_task_file_fleet_refuses_is_stored_nowhere(metrotec, settings, name, content, message):
    _sim, account = metrotec
    settings.TASK_FILE_MAX_BYTES = len(PNG) + 1024
    task = Task.objects.create(organization=account.organization, order_ref="R-1", destination="POINT (24.9 60.2)")
    with pytest.raises(ValidationError, match=message):
        files.add_task_file(task, SimpleUploadedFile(name, content))
    assert not TaskFile.objects.exists() and not (settings.MEDIA_ROOT / "task-files").exists()


def test_a_file_of_a_task_not_yet_at_metrotec_waits_for_its_task(metrotec, eager_celery, monkeypatch):
    from fleet.vendors import writeback
    from fleet.vendors.errors import VendorError

    sim, account = metrotec
    sync.sync_account(account)
    task = new_task(account)
    VendorLink.objects.filter(object_id=task.pk, content_type__model="task").delete()  # as if its push were late
    task_file = TaskFile.objects.create(
        organization=account.organization, task=task, name="a.png", mime="image/png", kind="image"
    )
    with pytest.raises(VendorError, match="not at the vendor yet") as caught:
        writeback.push_task_file(task_file, account)
    assert not caught.value.permanent and sim.truth()["files"] == []
