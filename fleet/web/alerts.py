"""Notification rules (list, create, edit, delete, test) and the live map's event feed (recent events,
acknowledge). Organisation admins and dispatchers manage rules; viewers see them and their history. Every query
is scoped to the user's organisations: another organisation's rule or event is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, for_user, get_for_user, org_ids_where
from fleet.events import engine
from fleet.events.labels import LABELS, label
from fleet.events.models import EventAck, Notification, NotificationRule
from fleet.events.notify import test_rule
from fleet.geo.models import Geofence
from fleet.tracking.models import Device, DeviceGroup, Event

FEED_SIZE = 50
TYPE_CHOICES = sorted({*engine.TYPES, *LABELS} - {"test"}, key=label)


def editable_org_ids(user) -> set[int]:
    """The organisations whose rules, tasks and shapes the user may change (admins and dispatchers)."""
    return org_ids_where(user, EDITORS)


class RuleForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(t, f"{label(t)} ({t})") for t in TYPE_CHOICES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )

    class Meta:
        model = NotificationRule
        fields = [
            "organization",
            "name",
            "enabled",
            "event_types",
            "devices",
            "groups",
            "geofences",
            "calendar",
            "web",
            "email",
            "recipients",
            "webhook",
            "min_interval_s",
        ]
        widgets = {"calendar": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        orgs = editable_org_ids(user)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=orgs)
        self.fields["organization"].empty_label = None
        self.fields["devices"].queryset = Device.objects.filter(organization_id__in=orgs, retired__isnull=True)
        self.fields["groups"].queryset = DeviceGroup.objects.filter(organization_id__in=orgs)
        self.fields["geofences"].queryset = Geofence.objects.filter(organization_id__in=orgs, retired__isnull=True)
        self.fields["recipients"].queryset = (
            get_user_model().objects.filter(memberships__organization_id__in=orgs, is_active=True).distinct()
        )
        for name in ("devices", "groups", "geofences", "recipients"):
            self.fields[name].required = False

    def clean(self) -> dict:
        data = super().clean()
        if (org := data.get("organization")) is not None:
            for name, problem in NotificationRule.problems(org, data).items():
                self.add_error(name, problem)
        return data


def _rule(request: HttpRequest, pk: int, edit: bool = False) -> NotificationRule:
    rule = get_for_user(NotificationRule.objects.all(), request.user, pk=pk)
    if edit and rule.organization_id not in editable_org_ids(request.user):
        raise PermissionDenied("Only the organisation's admins and dispatchers change its notification rules.")
    return rule


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = for_user(NotificationRule.objects.select_related("organization"), request.user)
    history = for_user(Notification.objects.select_related("rule", "event", "event__device"), request.user)[:100]
    context = {"rules": rules, "history": history, "can_edit": bool(editable_org_ids(request.user))}
    return render(request, "web/rules.html", context)


@login_required
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = _rule(request, pk, edit=True) if pk else None
    if rule is None and not editable_org_ids(request.user):
        raise PermissionDenied("Only the organisation's admins and dispatchers add notification rules.")
    form = RuleForm(request.POST or None, instance=rule, user=request.user)
    if request.method == "POST" and form.is_valid():
        rule = form.save()
        messages.success(request, f"Saved the rule “{rule.name}”.")
        return redirect("rule-list")
    return render(request, "web/rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule(request, pk, edit=True)
    rule.delete()
    messages.success(request, f"Deleted the rule “{rule.name}”.")
    return redirect("rule-list")


@login_required
@require_POST
def rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule(request, pk, edit=True)
    sent = test_rule(rule)
    if sent:
        where = ", ".join(sorted({n.recipient for n in sent}))
        messages.success(request, f"Sent a test notice of “{rule.name}” to {where}.")
    else:
        messages.warning(request, f"“{rule.name}” has no channel to send on (tick dashboard, e-mail or webhooks).")
    return redirect("rule-list")


@login_required
def recent_events(request: HttpRequest) -> JsonResponse:
    """The newest events of the user's organisations for the map's feed (newest first), with who acknowledged."""
    events = list(for_user(Event.objects.select_related("device"), request.user).order_by("-time", "-pk")[:FEED_SIZE])
    acks = {a.event_id: a for a in EventAck.objects.filter(event__in=events).select_related("user")}
    rows = []
    for e in events:
        ack = acks.get(e.pk)
        rows.append(
            {
                "id": e.pk,
                "device": e.device_id,
                "type": e.type,
                "label": label(e.type),
                "time": e.time.timestamp(),
                "zone": (e.attributes or {}).get("zone"),
                "speed": (e.attributes or {}).get("speed"),
                "alert": False,
                "ack": ack.user.get_username() if ack and ack.user else ("yes" if ack else None),
            }
        )
    return JsonResponse({"events": rows})


@login_required
@require_POST
def acknowledge(request: HttpRequest, pk: int) -> JsonResponse:
    event = get_for_user(Event.objects.all(), request.user, pk=pk)
    ack, _ = EventAck.objects.get_or_create(event=event, defaults={"user": request.user, "at": timezone.now()})
    return JsonResponse({"id": event.pk, "ack": ack.user.get_username() if ack.user else "yes"})
