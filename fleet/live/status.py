"""States that change without new data (`states` in docs/live-protocol.md): a silent device turns stale
and goes offline. Run by the `refresh_device_states` beat task; set-based, three queries whatever the fleet size."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery

from fleet.core.models import Organization
from fleet.live.broadcast import publish_states
from fleet.tracking.models import Device, Position
from fleet.tracking.state import Rules, device_state, rules_from

# Devices that crossed the stale line this recently are published again even when already offline
# (a vendor sync may have set offline first); a few repeats are harmless, the browser is idempotent.
RECENT = timedelta(seconds=60)
Change = tuple[int, str, str, float | None]


def push_silent_changes(now: datetime | None = None) -> dict[int, int]:
    """Mark newly stale devices offline and publish one `states.batch` per organisation; org -> count."""
    changes = silent_changes(now or datetime.now(UTC))
    for org_id, rows in changes.items():
        publish_states(org_id, rows)
    return {org_id: len(rows) for org_id, rows in changes.items()}


def silent_changes(now: datetime) -> dict[int, list[Change]]:
    orgs = {o.pk: rules_from(o) for o in Organization.objects.all()}
    turned = stale_filter(orgs, now)
    if turned is None:
        return {}
    last_valid = Position.objects.filter(device_id=OuterRef("pk"), fix_time=OuterRef("last_fix_time"))
    last_valid = last_valid.order_by().values("valid")  # no default ordering: it would join Device
    with transaction.atomic():
        rows = list(
            Device.objects.select_for_update(of=("self",))
            .filter(turned)
            .annotate(valid=Subquery(last_valid[:1]))
            .values_list("pk", "organization_id", "last_fix_time", "valid", "last_speed", "last_attributes", "status")
        )
        going_offline = [r[0] for r in rows if r[6] != Device.Status.OFFLINE]
        Device.objects.filter(pk__in=going_offline).update(status=Device.Status.OFFLINE)
    out: dict[int, list[Change]] = defaultdict(list)
    for pk, org_id, fix, valid, speed, attrs, _ in rows:
        rules = orgs[org_id]
        state = device_state(
            fix, valid, speed, (attrs or {}).get("ignition"), now, rules.speed_threshold_kmh, rules.stale_after_s
        )
        out[org_id].append((pk, state, Device.Status.OFFLINE.value, fix.timestamp()))
    return dict(out)


def stale_filter(orgs: dict[int, Rules], now: datetime) -> Q | None:
    """Devices past their organisation's stale line that are not offline yet, or crossed it just now."""
    by_rule: dict[float, list[int]] = defaultdict(list)
    for org_id, rules in orgs.items():
        by_rule[rules.stale_after_s].append(org_id)
    q = None
    for stale_after_s, org_ids in by_rule.items():
        cutoff = now - timedelta(seconds=stale_after_s)
        part = Q(organization_id__in=org_ids, last_fix_time__lt=cutoff) & (
            ~Q(status=Device.Status.OFFLINE) | Q(last_fix_time__gte=cutoff - RECENT)
        )
        q = part if q is None else q | part
    return q
