"""Creating and editing a task in the dashboard (nearest vehicles, vendor copies, timeline), and CSV import and
export. Admins and dispatchers change tasks; viewers look. Another organisation's task is a 404."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from fleet.core.scoping import get_for_user
from fleet.dispatch import assignment, csvio, lifecycle, services
from fleet.dispatch.models import Task
from fleet.web.dispatch.board import board_tasks
from fleet.web.dispatch.forms import ChecklistItemForm, ImportForm, TaskFileForm, TaskForm, deny_unless_editor


@login_required
def task_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    task = get_for_user(Task.objects.all(), request.user, pk=pk) if pk else None
    deny_unless_editor(request, task)
    form = TaskForm(request.POST or None, instance=task, user=request.user)
    if request.method == "POST" and form.is_valid():
        task = form.save(commit=False)
        new = task.pk is None
        if not new:
            task.status = Task.objects.get(pk=task.pk).status  # moves go through the board / lifecycle
        services.save_task(task)
        if new and task.device_id:
            lifecycle.transition(task, Task.Status.ASSIGNED, "dispatcher", user=request.user, note="created assigned")
        messages.success(request, f"Saved task {task.order_ref}.")
        return redirect("dispatch")
    return task_page(request, form, task, status=400 if form.errors else 200)


def task_page(request: HttpRequest, form: TaskForm, task: Task | None, status: int = 200, **extra) -> HttpResponse:
    """The task form and, for a stored task, its attachments, checklist, nearest vehicles, vendor copies and
    timeline (``extra``: the attachment and checklist forms when one of them was refused)."""
    context = {"form": form, "task": task, **extra}
    if task is not None:
        context["timeline"] = lifecycle.timeline(task)
        context["links"] = vendor_links(task)
        context["nearest"] = assignment.nearest(task)
        context["files"] = list(task.files.all())
        context["checklist"] = list(task.checklist.select_related("done_by"))
        context.setdefault("file_form", TaskFileForm())
        context.setdefault("item_form", ChecklistItemForm())
    return render(request, "web/task_form.html", context, status=status)


@login_required
def task_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV: checked first (every bad row with its line and reason, nothing imported); imported only when
    the dispatcher asks with a clean file."""
    deny_unless_editor(request)
    if request.GET.get("template"):
        response = HttpResponse(csvio.TEMPLATE, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="tasks-template.csv"'
        return response
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    checked, error = None, ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > csvio.MAX_BYTES:
                raise csvio.CsvError(f"The file is larger than {csvio.MAX_BYTES // 1_000_000} MB.")
            checked = csvio.read(upload.read(csvio.MAX_BYTES + 1), form.cleaned_data["organization"])
            if request.POST.get("apply") and not checked.errors:
                count = csvio.import_tasks(checked, user=request.user)
                messages.success(request, f"Imported {count} tasks.")
                return redirect("dispatch")
        except csvio.CsvError as exc:
            error = str(exc)
    return render(request, "web/task_import.html", {"form": form, "checked": checked, "error": error})


@login_required
def task_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(csvio.export(board_tasks(request)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="tasks.csv"'
    return response


def vendor_links(task: Task) -> list[dict]:
    """The vendor accounts that hold the task: its id there and whether fleet's last change reached it."""
    from django.contrib.contenttypes.models import ContentType

    from fleet.vendors.models import VendorLink

    links = VendorLink.objects.filter(content_type=ContentType.objects.get_for_model(Task), object_id=task.pk)
    out = []
    for link in links.select_related("account"):
        if link.push_error:
            state = f"failed: {link.push_error}"
        elif link.last_pushed and link.last_pushed >= task.updated - timedelta(seconds=1):
            state = "sent"
        elif link.last_pulled and not link.last_pushed:
            state = "from the vendor"
        else:
            state = "pending"
        out.append({"account": link.account.name, "vendor_id": link.vendor_id, "state": state})
    return out
