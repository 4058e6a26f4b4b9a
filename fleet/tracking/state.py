"""The one place that decides a device's state (docs/live-protocol.md, State rules).

``device_state`` is a pure function; the helpers feed it a Device row or a stored position with
the organisation's rules, which are cached briefly so the ingest hot path queries nothing.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

MOVING, IDLE, STOPPED, STALE, NOFIX = "moving", "idle", "stopped", "stale", "nofix"
STATES = [MOVING, IDLE, STOPPED, STALE, NOFIX]
RULES_TTL_S = 30.0


def device_state(
    fix_time: float | datetime | None,
    valid: bool | None,
    speed: float | None,
    ignition: bool | None,
    now: float | datetime,
    speed_threshold_kmh: float,
    stale_after_s: float,
) -> str:
    """Return one of STATES; times are epoch seconds or aware datetimes (not mixed with naive ones)."""
    if fix_time is None or valid is False:
        return NOFIX
    age = (now - fix_time).total_seconds() if isinstance(now, datetime) else now - fix_time
    if age > stale_after_s:
        return STALE
    if (speed or 0.0) > speed_threshold_kmh:
        return MOVING
    return IDLE if ignition is True else STOPPED


@dataclass(frozen=True, slots=True)
class Rules:
    speed_threshold_kmh: float
    stale_after_s: float


DEFAULT_RULES = Rules(1.852, 900.0)
_rules: dict[int, tuple[float, Rules]] = {}  # organisation id -> (monotonic expiry, rules)


def rules_for(organization_id: int) -> Rules:
    """The organisation's state rules, cached for RULES_TTL_S (an edit shows within half a minute)."""
    cached = _rules.get(organization_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    from fleet.core.models import Organization

    row = (
        Organization.objects.filter(pk=organization_id)
        .values_list("speed_threshold_kmh", "stale_after_minutes")
        .first()
    )
    rules = Rules(row[0], row[1] * 60.0) if row else DEFAULT_RULES
    _rules[organization_id] = (time.monotonic() + RULES_TTL_S, rules)
    return rules


def rules_from(organization) -> Rules:
    """Rules from an Organization already loaded (and refresh the cache with them)."""
    rules = Rules(organization.speed_threshold_kmh, organization.stale_after_minutes * 60.0)
    _rules[organization.pk] = (time.monotonic() + RULES_TTL_S, rules)
    return rules


def forget_rules() -> None:
    _rules.clear()


def state_of_device(device, now: datetime, rules: Rules, valid: bool | None = True) -> str:
    """State of a Device row from its denormalised last_* fields (``valid`` of its last fix, if known)."""
    attrs = device.last_attributes or {}
    return device_state(
        device.last_fix_time,
        valid,
        device.last_speed,
        attrs.get("ignition"),
        now,
        rules.speed_threshold_kmh,
        rules.stale_after_s,
    )


def with_states(devices, rules: dict[int, Rules], now: datetime):
    """``devices`` (a Device queryset) annotated with ``state``, the same rules as ``device_state`` written in
    SQL (per organisation's rules, ``DEFAULT_RULES`` for others), so that a list can filter and sort by it."""
    from django.db.models import Case, CharField, OuterRef, Q, Subquery, Value, When

    from fleet.tracking.models import Position

    last = Position.objects.filter(device_id=OuterRef("pk"), fix_time=OuterRef("last_fix_time"))
    devices = devices.annotate(last_valid=Subquery(last.order_by().values("valid")[:1]))
    whens = [When(Q(last_fix_time__isnull=True) | Q(last_valid=False), then=Value(NOFIX))]
    for org_id, r in [*rules.items(), (None, DEFAULT_RULES)]:
        org = ~Q(organization_id__in=list(rules)) if org_id is None else Q(organization_id=org_id)
        whens += [
            When(org & Q(last_fix_time__lt=now - timedelta(seconds=r.stale_after_s)), then=Value(STALE)),
            When(org & Q(last_speed__gt=r.speed_threshold_kmh), then=Value(MOVING)),
        ]
    whens.append(When(Q(last_attributes__ignition=True), then=Value(IDLE)))
    return devices.annotate(state=Case(*whens, default=Value(STOPPED), output_field=CharField()))
