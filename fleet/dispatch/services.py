"""Saving tasks made in fleet (the admin, pages): validate, store, and notify the write-back handlers other
apps register here (the vendors app pushes a task to its vehicle's vendor account). Code that mirrors a
vendor's own tasks saves the model directly, so nothing is echoed back."""

from collections.abc import Callable
from functools import partial

from django.db import transaction

from fleet.dispatch.models import Task

Handler = Callable[[Task], None]
_saved: list[Handler] = []


def on_task_saved(handler: Handler) -> None:
    """Register ``handler(task)``, run after the transaction that saved the task commits."""
    if handler not in _saved:
        _saved.append(handler)


def save_task(task: Task) -> Task:
    """Validate and save the task, then notify the handlers once the save is committed."""
    task.full_clean()
    with transaction.atomic():
        task.save()
        changed(task)
    return task


def changed(task: Task) -> None:
    """Notify the handlers (after the commit) that fleet changed the task: a status moved by the lifecycle too."""
    for handler in _saved:
        transaction.on_commit(partial(handler, task))
