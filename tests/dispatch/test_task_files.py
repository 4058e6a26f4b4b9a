"""Task files in the admin: a file added on the task's page is checked and stored through
``fleet.dispatch.files`` (and so reaches the vendor); a refused one is a form error, not a stored file."""

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from fleet.dispatch import files
from fleet.dispatch.models import Task, TaskFile
from tests.conftest import make_org, make_user

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def change_form(task: Task, upload: SimpleUploadedFile, kind: str = "image") -> dict:
    return {
        "organization": task.organization_id,
        "order_ref": task.order_ref,
        "title": task.title,
        "destination": task.destination.geojson,
        "destination_radius_m": "100",
        "status": task.status,
        "priority": "1",
        "attributes": "{}",
        "files-TOTAL_FORMS": "1",
        "files-INITIAL_FORMS": "0",
        "files-MIN_NUM_FORMS": "0",
        "files-MAX_NUM_FORMS": "1000",
        "files-0-upload": upload,
        "files-0-kind": kind,
        "_save": "Save",
    }


@pytest.fixture
def task_page(client, django_user_model):
    org = make_org("files")
    client.force_login(make_user(django_user_model, "dispatcher", org))
    task = Task.objects.create(organization=org, order_ref="T-1", destination=Point(24.9, 60.2))
    return client, task, reverse("admin:dispatch_task_change", args=[task.pk])


def test_a_file_added_on_the_task_page_is_stored_with_its_type_told_by_its_bytes(
    task_page, monkeypatch, django_capture_on_commit_callbacks
):
    client, task, url = task_page
    added = []
    monkeypatch.setattr(files, "_added", [added.append])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, change_form(task, SimpleUploadedFile("pod.jpg", PNG), "delivery_note"))
    assert response.status_code == 302
    stored = TaskFile.objects.get(task=task)
    assert (stored.name, stored.mime, stored.kind, stored.size) == ("pod.jpg", "image/png", "delivery_note", len(PNG))
    assert stored.organization_id == task.organization_id and stored.file.read() == PNG
    assert added == [stored]  # handed to the write-back


def test_a_file_that_is_no_image_or_pdf_is_a_form_error(task_page):
    client, task, url = task_page
    response = client.post(url, change_form(task, SimpleUploadedFile("x.png", b"<svg onload=alert(1)>")))
    assert response.status_code == 200 and b"must be an image" in response.content
    assert not TaskFile.objects.exists()
