"""Notification rules applied to the events the engine stores: match, limit, send, remember.

A rule matches an event by type, device (its devices and groups; none: all), geofence (none: any) and calendar.
Per rule, device and event type, one notice per ``min_interval_s``: the first claims the slot in the shared cache
(an atomic add, so every worker agrees) and the rest are dropped silently. Matched dashboard rules make the event
an alert on the live map (a toast); e-mail goes out from a Celery task, never from the ingest path. Every notice
sent is kept (``Notification``): the rule page shows what went to whom."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from fleet.events import places
from fleet.events.kept import Kept
from fleet.events.labels import label
from fleet.events.models import Notification, NotificationRule
from fleet.geo import calendar
from fleet.tracking.models import Device, Event

log = logging.getLogger(__name__)
RULES_TTL_S = 30.0


@dataclass
class _Rule:
    pk: int
    name: str
    types: frozenset[str]
    devices: frozenset[int] | None
    geofences: frozenset[int] | None
    calendar: calendar.Calendar | None
    web: bool
    email: bool
    recipients: list[str]
    webhook: bool
    interval_s: int

    def matches(self, event: Event) -> bool:
        return (
            (not self.types or event.type in self.types)
            and (self.devices is None or event.device_id in self.devices)
            and (self.geofences is None or event.geofence_id in self.geofences)
            and (self.calendar is None or self.calendar.is_active(event.time))
        )


FeedHook = Callable[[int, list[Event], set[int]], None]
_feeds: list[FeedHook] = []
NoticeHook = Callable[[int, list[tuple[int, str, Event]]], None]
_notices: list[NoticeHook] = []


def on_feed(fn: FeedHook) -> None:
    """Register ``fn(organization_id, events, alert_ids)``: the live map's event feed (the live app)."""
    if fn not in _feeds:
        _feeds.append(fn)


def on_notice(fn: NoticeHook) -> None:
    """Register ``fn(organization_id, [(rule id, rule name, event), ...])``: the notices of rules with the webhook
    channel (the webhooks app sends them), called after they are recorded."""
    if fn not in _notices:
        _notices.append(fn)


def _tell_notices(organization_id: int, notices: list[tuple[int, str, Event]]) -> None:
    for fn in _notices:
        try:
            fn(organization_id, notices)
        except Exception:
            log.exception("notice hook %s failed", getattr(fn, "__qualname__", fn))


def rules_changed(organization_id: int) -> None:
    _rules.changed(organization_id)


def forget() -> None:
    _rules.forget()


def rules_of(organization_id: int) -> list[_Rule]:
    """The organisation's enabled rules, kept by this process (``kept.Kept``)."""
    return _rules.get(organization_id)


def _build_rules(organization_id: int) -> list[_Rule]:
    zone, members = places.org_zone(organization_id), places.group_members(organization_id)
    out = []
    query = NotificationRule.objects.filter(organization_id=organization_id, enabled=True).prefetch_related(
        "devices", "groups", "geofences", "recipients"
    )
    for rule in query:
        fences = {g.pk for g in rule.geofences.all()}
        try:
            cal = calendar.parse(rule.calendar, zone)
        except calendar.CalendarError:
            cal = None
        out.append(
            _Rule(
                rule.pk,
                rule.name,
                frozenset(rule.event_types or ()),
                places.applies_to(rule, members),
                frozenset(fences) if fences else None,
                cal,
                rule.web,
                rule.email,
                [u.email for u in rule.recipients.all() if u.email and u.is_active],
                rule.webhook,
                rule.min_interval_s,
            )
        )
    return out


_rules: Kept[list[_Rule]] = Kept("rules", RULES_TTL_S, _build_rules)


def _claim(rule: _Rule, event: Event) -> bool:
    """The rule's slot for this device and type, if free (the first notice of an interval takes it)."""
    if rule.interval_s <= 0:
        return True
    try:
        return cache.add(f"events:sent:{rule.pk}:{event.device_id}:{event.type}", 1, rule.interval_s)
    except Exception:  # Redis restarting: a notice sent twice beats one never sent
        log.warning("rule %s: the shared cache is unreachable, the notice goes out without its interval", rule.pk)
        return True


def deliver(organization_id: int, events: list[Event]) -> set[int]:
    """Apply the organisation's rules to new events; returns the ids of events that are dashboard alerts."""
    alerts: set[int] = set()
    sent: list[Notification] = []
    hooked: list[tuple[int, str, Event]] = []
    rules = rules_of(organization_id)
    for event in events:
        for rule in rules:
            if not rule.matches(event) or not _claim(rule, event):
                continue
            if rule.web:
                alerts.add(event.pk)
                sent.append(Notification(rule_id=rule.pk, event=event, channel="web", recipient="dashboard"))
            if rule.email:
                sent += [
                    Notification(rule_id=rule.pk, event=event, channel="email", recipient=address)
                    for address in rule.recipients
                ]
            if rule.webhook:
                sent.append(Notification(rule_id=rule.pk, event=event, channel="webhook", recipient="webhooks"))
                hooked.append((rule.pk, rule.name, event))
    if sent:
        Notification.objects.bulk_create(sent)
        emails = [n.pk for n in sent if n.channel == "email"]
        if emails:
            from fleet.events.tasks import send_emails

            transaction.on_commit(lambda: send_emails.delay(emails))
    if hooked:
        _tell_notices(organization_id, hooked)
    for fn in _feeds:
        try:
            fn(organization_id, events, alerts)
        except Exception:
            log.exception("event feed %s failed", getattr(fn, "__qualname__", fn))
    return alerts


def describe(event: Event) -> str:
    """One line for a person: what happened, to which device, where, when (UTC)."""
    device = Device.objects.filter(pk=event.device_id).values_list("name", flat=True).first() or "a device"
    where = (event.attributes or {}).get("zone")
    text = f"{label(event.type)}: {device}"
    if where:
        text += f" — {where}"
    return f"{text} at {event.time:%Y-%m-%d %H:%M:%S} UTC"


def test_rule(rule: NotificationRule) -> list[Notification]:
    """Send the rule's notices for a made-up event now (the rule page's test button), ignoring its interval."""
    sent = []
    if rule.web:
        sent.append(Notification(rule=rule, channel="web", recipient="dashboard", test=True))
    if rule.email:
        for user in rule.recipients.filter(is_active=True).exclude(email=""):
            sent.append(Notification(rule=rule, channel="email", recipient=user.email, test=True))
    if rule.webhook:
        sent.append(Notification(rule=rule, channel="webhook", recipient="webhooks", test=True))
    Notification.objects.bulk_create(sent)
    emails = [n.pk for n in sent if n.channel == "email"]
    if emails:
        from fleet.events.tasks import send_emails

        transaction.on_commit(lambda: send_emails.delay(emails))
    probe = Event(organization_id=rule.organization_id, type="test", time=timezone.now())
    probe.attributes = {"zone": f"test of “{rule.name}”"}
    if rule.web:  # a toast on every live map of the organisation, marked as a test
        for fn in _feeds:
            fn(rule.organization_id, [probe], {None})
    if rule.webhook:
        _tell_notices(rule.organization_id, [(rule.pk, rule.name, probe)])
    return sent


def _rule_changed(sender, instance, **kwargs) -> None:
    rules_changed(instance.organization_id)


def connect_signals() -> None:
    post_save.connect(_rule_changed, sender=NotificationRule, dispatch_uid="events-rules-save")
    post_delete.connect(_rule_changed, sender=NotificationRule, dispatch_uid="events-rules-delete")
    for field in ("devices", "groups", "geofences", "recipients"):
        through = getattr(NotificationRule, field).through
        m2m_changed.connect(_rule_changed, sender=through, dispatch_uid=f"events-rules-{field}")
