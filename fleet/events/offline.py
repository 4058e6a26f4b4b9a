"""Devices that went silent: a ``deviceOffline`` event when a device's last fix is older than its organisation's
stale time, once per silence (the engine state's ``off`` flag; the next fix reports ``deviceOnline``). The engine
reports the same silence itself when a fix ends it before this check ran: both give the event the same time
(last fix + stale time), so it is stored once."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from fleet.core.models import Organization
from fleet.events import run
from fleet.events.engine import OFFLINE, Found
from fleet.events.models import EngineState
from fleet.tracking.models import Device


def report_offline() -> int:
    now = timezone.now()
    total = 0
    for org_id, stale_minutes in Organization.objects.values_list("pk", "stale_after_minutes"):
        stale = timedelta(minutes=stale_minutes)
        silent = list(
            Device.objects.filter(organization_id=org_id, disabled=False, last_fix_time__lt=now - stale)
            .exclude(pk__in=EngineState.objects.filter(state__off=True).values("device_id"))
            .values_list("pk", "last_fix_time")
        )
        if not silent:
            continue
        with transaction.atomic():
            rows = run.locked(sorted(pk for pk, _ in silent))
            found, states = [], {}
            for pk, last in silent:
                state = dict(rows[pk].state)
                if state.get("off") or (state.get("t") or 0) > last.timestamp():
                    continue  # reported meanwhile, or a newer fix arrived
                at = last + stale
                found.append(Found(pk, OFFLINE, at.timestamp(), attributes={"last_fix": last.timestamp()}))
                state["off"] = True
                states[pk] = state
            created = run.store(org_id, found, [])
            if states:
                run.save_states(rows, states)
        if created:
            transaction.on_commit(lambda o=org_id, c=created: run.tell(o, c))
        total += len(created)
    return total
