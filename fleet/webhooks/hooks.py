"""What becomes a webhook message: the events the engine stored, the notices of notification rules with the webhook
channel, a task's status moves, a failed sync run.
Registered in ``WebhooksConfig.ready()`` with the apps that own those moments (they never import this one)."""

from __future__ import annotations

from collections import defaultdict

from fleet.dispatch.models import TaskChange
from fleet.tracking.models import Event
from fleet.vendors.models import SyncRun
from fleet.webhooks import kinds, send


def on_events(organization_id: int, events: list[Event]) -> None:
    send.emit(organization_id, [(event.type, kinds.event_data(event)) for event in events])


def on_rule_notices(organization_id: int, notices: list[tuple[int, str, Event]]) -> None:
    send.emit(organization_id, [(kinds.RULE_MATCHED, kinds.rule_notice_data(*notice)) for notice in notices])


def on_task_changes(changes: list[TaskChange]) -> None:
    moved = [c for c in changes if c.old and c.old != c.new]
    if not moved:
        return
    by_org: dict[int, list] = defaultdict(list)
    for change in moved:
        task = change.task  # loaded by the code that recorded the step
        by_org[task.organization_id].append((kinds.TASK_STATUS, kinds.task_change_data(change, task)))
    for organization_id, messages in by_org.items():
        send.emit(organization_id, messages)


def on_sync_run(run: SyncRun) -> None:
    if run.status in (SyncRun.Status.ERROR, SyncRun.Status.PARTIAL):
        send.emit(run.account.organization_id, [(kinds.SYNC_FAILED, kinds.sync_run_data(run))])
