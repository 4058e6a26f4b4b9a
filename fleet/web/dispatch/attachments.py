"""A task's attachments (files checked and stored by ``fleet.dispatch.files``) and checklist, on its page.
Admins and dispatchers change them; everyone in the organisation downloads its files; another organisation's
task or file is a 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from fleet.core.scoping import get_for_user
from fleet.dispatch import checklist, files
from fleet.dispatch.models import ChecklistItem, Task, TaskFile
from fleet.web.dispatch.forms import ChecklistItemForm, TaskFileForm, TaskForm, deny_unless_editor
from fleet.web.dispatch.views import task_page
from fleet.web.imports import content_length

MULTIPART_SLACK = 64 * 1024  # the form's other fields and the multipart framing around the file


def _task(request: HttpRequest, pk: int) -> Task:
    task = get_for_user(Task.objects.all(), request.user, pk=pk)
    deny_unless_editor(request, task)
    return task


def _back(task: Task, anchor: str) -> HttpResponse:
    return redirect(f"{reverse('task-edit', args=[task.pk])}#{anchor}")


def _refused(request: HttpRequest, task: Task, **forms) -> HttpResponse:
    return task_page(request, TaskForm(instance=task, user=request.user), task, status=400, **forms)


@login_required
@require_POST
def file_add(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    if content_length(request) > settings.TASK_FILE_MAX_BYTES + MULTIPART_SLACK:  # refused before it is read
        error = f"A task file may be at most {settings.TASK_FILE_MAX_BYTES // (1024 * 1024)} MB."
        return _refused(request, task, file_error=error)
    form = TaskFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refused(request, task, file_form=form)
    stored = files.add_task_file(task, form.cleaned_data["file"], form.cleaned_data["kind"])
    messages.success(request, f"Attached {stored.name}.")
    return _back(task, "attachments")


@login_required
@require_GET
def file_download(request: HttpRequest, pk: int, file_pk: int) -> FileResponse:
    task_file = get_for_user(TaskFile.objects.filter(task_id=pk), request.user, pk=file_pk)
    if not task_file.file:
        raise Http404("The vendor keeps this file; fleet has its name only.")
    try:
        handle = task_file.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from the storage.") from exc
    return FileResponse(
        handle, as_attachment=True, filename=task_file.name, content_type=files.download_type(task_file)
    )


@login_required
@require_POST
def file_delete(request: HttpRequest, pk: int, file_pk: int) -> HttpResponse:
    task = _task(request, pk)
    task_file = get_for_user(TaskFile.objects.filter(task=task), request.user, pk=file_pk)
    files.delete_task_file(task_file)
    messages.success(request, f"Deleted {task_file.name}.")
    return _back(task, "attachments")


@login_required
@require_POST
def item_add(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    form = ChecklistItemForm(request.POST)
    if form.is_valid():
        try:
            checklist.add_item(task, form.cleaned_data["text"])
        except ValidationError as exc:
            form.add_error("text", exc)
    if form.errors:
        return _refused(request, task, item_form=form)
    return _back(task, "checklist")


@login_required
@require_POST
def item_change(request: HttpRequest, pk: int, item_pk: int, action: str) -> HttpResponse:
    """``action``: tick, untick or remove."""
    task = _task(request, pk)
    item = get_for_user(ChecklistItem.objects.filter(task=task), request.user, pk=item_pk)
    if action == "remove":
        item.delete()
    else:
        checklist.tick(item, action == "tick", request.user)
    return _back(task, "checklist")
