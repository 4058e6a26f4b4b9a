"""The message types an endpoint may choose and the ``data`` each carries: fleet's events (the engine's types),
a notification rule's notice (rules with the webhook channel), a task's status change, a failed sync run, and the
test message of the "Send a test" button."""

from __future__ import annotations

from fleet.dispatch.models import Task, TaskChange
from fleet.events import engine
from fleet.events.labels import LABELS, label
from fleet.tracking.models import Event
from fleet.vendors.models import SyncRun

TASK_STATUS = "taskStatusChanged"
SYNC_FAILED = "syncFailed"
RULE_MATCHED = "ruleMatched"
TEST = "test"

TYPES: dict[str, str] = {
    **{t: label(t) for t in sorted({*engine.TYPES, *LABELS} - {TEST})},
    TASK_STATUS: "Task status changed",
    SYNC_FAILED: "Vendor sync failed",
    RULE_MATCHED: "Notification rule matched",
}


def event_data(event: Event) -> dict:
    return {
        "id": event.pk,
        "device": event.device_id,
        "type": event.type,
        "time": event.time.isoformat(),
        "source": event.source,
        "key": event.key,
        "geofence": event.geofence_id,
        "task": event.task_id,
        "position": event.position_id,
        "attributes": event.attributes or {},
    }


def rule_notice_data(rule_id: int, rule_name: str, event: Event) -> dict:
    return {"rule": rule_id, "rule_name": rule_name, "test": event.pk is None, "event": event_data(event)}


def task_change_data(change: TaskChange, task: Task) -> dict:
    return {
        "task": task.pk,
        "order_ref": task.order_ref,
        "old": change.old,
        "new": change.new,
        "source": change.source,
        "time": change.time.isoformat(),
        "device": task.device_id,
        "note": change.note,
    }


def sync_run_data(run: SyncRun) -> dict:
    account = run.account
    return {
        "run": run.pk,
        "account": account.pk,
        "account_name": account.name,
        "kind": account.kind,
        "status": run.status,
        "error": run.error,
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
        "account_disabled": account.disabled_by_error,
    }
