"""Attachments and the checklist on the task page: files checked (size, type by their bytes), stored, listed,
downloaded as attachments with a safe type and deleted; checklist items added, ticked (who and when), unticked
and removed. Viewers download but change nothing; another organisation's task, file or item is a 404."""

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.core.models import Membership
from fleet.dispatch.models import ChecklistItem, Task, TaskFile
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
PDF = b"%PDF-1.4\n" + bytes(32)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def dispatcher(client, org_a, django_user_model):
    client.force_login(make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False))
    return client


def task(org, ref="T-1") -> Task:
    return Task.objects.create(organization=org, order_ref=ref, destination=Point(24.94, 60.17))


def attach(client, t: Task, name: str, data: bytes, kind: str = "delivery_note"):
    upload = SimpleUploadedFile(name, data, "image/png")  # the browser's word is never believed
    return client.post(f"/dispatch/tasks/{t.pk}/files/", {"file": upload, "kind": kind})


def test_a_file_is_attached_listed_downloaded_as_an_attachment_and_deleted(
    dispatcher, org_a, media, django_capture_on_commit_callbacks
):
    t = task(org_a)
    answer = attach(dispatcher, t, "pod <1>.pdf", PDF)
    assert answer.status_code == 302 and answer["Location"] == f"/dispatch/tasks/{t.pk}/#attachments"
    stored = TaskFile.objects.get(task=t)
    assert (stored.mime, stored.kind, stored.size, stored.organization_id) == (
        "application/pdf",
        "delivery_note",
        41,
        org_a.pk,
    )
    page = dispatcher.get(f"/dispatch/tasks/{t.pk}/").content.decode()
    assert f'<a href="/dispatch/tasks/{t.pk}/files/{stored.pk}/">pod &lt;1&gt;.pdf</a>' in page
    download = dispatcher.get(f"/dispatch/tasks/{t.pk}/files/{stored.pk}/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf" and download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("attachment;")
    path = media / stored.file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatcher.post(f"/dispatch/tasks/{t.pk}/files/{stored.pk}/delete/").status_code == 302
    assert not TaskFile.objects.exists() and not path.exists()


def test_a_too_big_file_or_one_that_is_no_image_or_pdf_is_refused_in_plain_words(dispatcher, org_a, settings):
    t = task(org_a)
    svg = attach(dispatcher, t, "x.png", b"<svg onload=alert(1)>")
    assert (
        svg.status_code == 400 and "must be an image (JPEG, PNG, GIF, WebP) or a PDF document" in svg.content.decode()
    )
    settings.TASK_FILE_MAX_BYTES = 2 * 1024 * 1024
    big = attach(dispatcher, t, "big.png", PNG + bytes(2 * 1024 * 1024))
    assert big.status_code == 400 and "A task file may be at most 2 MB." in big.content.decode()
    huge = attach(dispatcher, t, "huge.png", PNG + bytes(2 * 1024 * 1024 + 100 * 1024))  # refused before it is read
    assert huge.status_code == 400 and "A task file may be at most 2 MB." in huge.content.decode()
    empty = dispatcher.post(f"/dispatch/tasks/{t.pk}/files/", {"kind": "other"})
    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    assert not TaskFile.objects.exists()


def test_another_organisations_task_or_file_is_404_and_viewers_only_download(
    client, dispatcher, org_a, org_b, django_user_model
):
    mine, theirs = task(org_a), task(org_b, "B-1")
    assert attach(dispatcher, mine, "a.png", PNG).status_code == 302
    my_file = TaskFile.objects.get(task=mine)
    their_file = TaskFile.objects.create(organization=org_b, task=theirs, name="b.png", mime="image/png")
    assert dispatcher.get(f"/dispatch/tasks/{theirs.pk}/files/{their_file.pk}/").status_code == 404
    assert dispatcher.get(f"/dispatch/tasks/{mine.pk}/files/{their_file.pk}/").status_code == 404  # not via my task
    assert dispatcher.post(f"/dispatch/tasks/{theirs.pk}/files/{their_file.pk}/delete/").status_code == 404
    assert attach(dispatcher, theirs, "c.png", PNG).status_code == 404
    vendor_only = TaskFile.objects.create(organization=org_a, task=mine, name="cmr.pdf", sender="driver")
    assert dispatcher.get(f"/dispatch/tasks/{mine.pk}/files/{vendor_only.pk}/").status_code == 404  # no bytes here
    client.force_login(make_user(django_user_model, "view", org_a, role=Membership.Role.VIEWER, staff=False))
    assert client.get(f"/dispatch/tasks/{mine.pk}/files/{my_file.pk}/").status_code == 200
    assert attach(client, mine, "d.png", PNG).status_code == 403
    assert client.post(f"/dispatch/tasks/{mine.pk}/files/{my_file.pk}/delete/").status_code == 403
    assert TaskFile.objects.filter(task=mine).count() == 2


def test_checklist_items_are_added_ticked_by_someone_unticked_and_removed(dispatcher, org_a):
    t = task(org_a)
    base = f"/dispatch/tasks/{t.pk}/checklist/"
    assert dispatcher.post(base, {"text": "  Collect   the <b>signature</b> "}).status_code == 302
    assert dispatcher.post(base, {"text": "Photo of the pallets"}).status_code == 302
    first, second = ChecklistItem.objects.filter(task=t)
    assert (first.text, first.order, second.order) == ("Collect the <b>signature</b>", 0, 1)
    assert dispatcher.post(f"{base}{first.pk}/tick/").status_code == 302
    first.refresh_from_db()
    assert first.done and first.done_by.username == "disp" and first.done_at is not None
    page = dispatcher.get(f"/dispatch/tasks/{t.pk}/").content.decode()
    assert '<span class="text">Collect the &lt;b&gt;signature&lt;/b&gt;</span>' in page and "· disp" in page
    dispatcher.post(f"{base}{first.pk}/untick/")
    first.refresh_from_db()
    assert (first.done, first.done_at, first.done_by) == (False, None, None)
    dispatcher.post(f"{base}{second.pk}/remove/")
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["Collect the <b>signature</b>"]
    blank = dispatcher.post(base, {"text": "   "})
    assert blank.status_code == 400 and "Write what is to be done." in blank.content.decode()
    long = dispatcher.post(base, {"text": "x" * 301})
    assert long.status_code == 400 and "at most 300 characters" in long.content.decode()


def test_another_organisations_checklist_is_404_and_viewers_change_nothing(
    client, dispatcher, org_a, org_b, django_user_model
):
    mine, theirs = task(org_a), task(org_b, "B-1")
    their_item = ChecklistItem.objects.create(task=theirs, text="theirs")
    assert dispatcher.post(f"/dispatch/tasks/{theirs.pk}/checklist/", {"text": "x"}).status_code == 404
    assert dispatcher.post(f"/dispatch/tasks/{theirs.pk}/checklist/{their_item.pk}/tick/").status_code == 404
    assert dispatcher.post(f"/dispatch/tasks/{mine.pk}/checklist/{their_item.pk}/remove/").status_code == 404
    client.force_login(make_user(django_user_model, "view", org_a, role=Membership.Role.VIEWER, staff=False))
    assert client.post(f"/dispatch/tasks/{mine.pk}/checklist/", {"text": "x"}).status_code == 403
    assert ChecklistItem.objects.count() == 1 and not ChecklistItem.objects.get().done
