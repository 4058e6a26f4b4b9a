"""A task's checklist: items added in order, ticked off (who and when kept) and removed."""

from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from fleet.dispatch.models import ChecklistItem, Task

MAX_ITEMS = 100


def add_item(task: Task, text: str) -> ChecklistItem:
    """Append an item; ``ValidationError`` for an empty or too long text, or a full list."""
    text = " ".join(text.replace("\x00", "").split())
    if not text:
        raise ValidationError("Write what is to be done.")
    if len(text) > ChecklistItem._meta.get_field("text").max_length:
        raise ValidationError("An item may be at most 300 characters.")
    if task.checklist.count() >= MAX_ITEMS:
        raise ValidationError(f"A task may have at most {MAX_ITEMS} checklist items.")
    last = task.checklist.aggregate(last=Max("order"))["last"]
    return ChecklistItem.objects.create(task=task, text=text, order=0 if last is None else last + 1)


def tick(item: ChecklistItem, done: bool, user=None) -> ChecklistItem:
    """Mark the item done (now, by ``user``) or not done."""
    item.done = done
    item.done_at, item.done_by = (timezone.now(), user) if done else (None, None)
    item.save(update_fields=["done", "done_at", "done_by"])
    return item
