"""Files attached to tasks in fleet: checked (size, and a type told by the file's first bytes, never by its
name or the browser's word), stored through Django's storage, then handed to the write-back handlers other apps
register (the vendors app uploads it to the task's vendor)."""

from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from fleet.dispatch.models import Task, TaskFile

# Leading bytes -> the type they announce. Images and PDF documents (delivery notes, CMRs, signatures).
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
Handler = Callable[[TaskFile], None]
_added: list[Handler] = []


def on_task_file_added(handler: Handler) -> None:
    """Register ``handler(task_file)``, run after the transaction that stored the file commits."""
    if handler not in _added:
        _added.append(handler)


def sniff(head: bytes) -> str | None:
    """The type a file's first bytes announce (WebP: RIFF....WEBP), or None for any other file."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in SIGNATURES if head.startswith(magic)), None)


def check(upload: UploadedFile) -> str:
    """The upload's type; ``ValidationError`` when it is too big or not an image or a PDF."""
    limit = settings.TASK_FILE_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationError(f"A task file may be at most {limit // (1024 * 1024)} MB.")
    upload.seek(0)
    mime = sniff(upload.read(16))
    upload.seek(0)
    if mime is None:
        raise ValidationError("A task file must be an image (JPEG, PNG, GIF, WebP) or a PDF document.")
    return mime


def add_task_file(task: Task, upload: UploadedFile, kind: str = TaskFile.Kind.OTHER) -> TaskFile:
    """Check and store the file on the task, then notify the handlers once it is committed."""
    if kind not in TaskFile.Kind.values:
        raise ValidationError(f"Unknown file type {kind!r}.")
    mime = check(upload)
    name = (upload.name or "file").rsplit("/", 1)[-1][:255]
    task_file = TaskFile(organization_id=task.organization_id, task=task, name=name, mime=mime, kind=kind)
    task_file.size, task_file.uploaded = upload.size, timezone.now()
    with transaction.atomic():
        task_file.file.save(name, upload, save=False)
        task_file.save()
        for handler in _added:
            transaction.on_commit(partial(handler, task_file))
    return task_file


def delete_task_file(task_file: TaskFile) -> None:
    """Delete the file's row and, once that is committed, its bytes in the storage (a vendor's copy stays)."""
    stored = task_file.file.name
    with transaction.atomic():
        task_file.delete()
        if stored:
            transaction.on_commit(partial(task_file.file.storage.delete, stored))


def download_type(task_file: TaskFile) -> str:
    """The type a download is served as: one ``check`` told (an image or a PDF), else bytes to save."""
    known = {mime for _, mime in SIGNATURES} | {"image/webp"}
    return task_file.mime if task_file.mime in known else "application/octet-stream"
