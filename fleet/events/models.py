from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from fleet.core.models import OrgOwned
from fleet.geo import calendar
from fleet.tracking.models import Device, Event


class EngineState(models.Model):
    """What the event engine remembers of a device between batches (see fleet/events/engine.py): its last fix,
    the zones it is in or about to enter or leave, its ignition, overspeed and idle runs, battery and offline
    flags. Locked per device while a batch is evaluated, so two workers never evaluate one device at once."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, primary_key=True, related_name="+")
    state = models.JSONField(default=dict)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"engine state of device {self.device_id}"


class NotificationRule(OrgOwned):
    """Who hears of which events: event types x devices / groups x geofences, while a calendar is active, by the
    dashboard (a toast and the map's event feed) and / or e-mail; at most one notice per device and event type
    every ``min_interval_s`` (a flapping device cannot flood anyone)."""

    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Event types; none: every type.")
    devices = models.ManyToManyField(Device, blank=True, related_name="+", help_text="None: every device.")
    groups = models.ManyToManyField("tracking.DeviceGroup", blank=True, related_name="+")
    geofences = models.ManyToManyField(
        "geo.Geofence", blank=True, related_name="+", help_text="Only events of these geofences (none: any)."
    )
    calendar = models.TextField(blank=True, help_text="Optional iCalendar text: the rule sends only then.")
    web = models.BooleanField("dashboard", default=True, help_text="A toast on the live map of every member.")
    email = models.BooleanField(default=False)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="E-mail goes to these members."
    )
    webhook = models.BooleanField(
        "webhooks",
        default=False,
        help_text="A ruleMatched message to the organisation's webhook endpoints that chose that type.",
    )
    min_interval_s = models.PositiveIntegerField(
        "at most one notice per device and type every (s)", default=300, validators=[MaxValueValidator(86400)]
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="rule_unique_org_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if reason := calendar.validate(self.calendar):
            raise ValidationError({"calendar": f"The calendar cannot be used: {reason}."})
        types = self.event_types
        if not isinstance(types, list) or not all(isinstance(t, str) and 0 < len(t) <= 50 for t in types):
            raise ValidationError({"event_types": "A list of event type names."})

    @staticmethod
    def problems(organization, chosen: dict) -> dict[str, str]:
        """Field -> what is wrong with the related objects ``chosen`` for a rule of ``organization`` (devices,
        groups and geofences of another organisation, recipients who are not its members, e-mail without a
        recipient): the same check for the page's form and the API."""
        from fleet.core.models import Membership

        out = {}
        for name in ("devices", "groups", "geofences"):
            wrong = [str(o) for o in chosen.get(name) or () if o.organization_id != organization.pk]
            if wrong:
                out[name] = f"Not in {organization.name}: {', '.join(wrong)}."
        members = set(Membership.objects.filter(organization=organization).values_list("user_id", flat=True))
        if wrong := [u.get_username() for u in chosen.get("recipients") or () if u.pk not in members]:
            out["recipients"] = f"Not members of {organization.name}: {', '.join(wrong)}."
        if chosen.get("email") and not chosen.get("recipients"):
            out["recipients"] = "E-mail needs at least one recipient."
        return out


class Notification(models.Model):
    """One notice sent (or refused) by a rule: the history of what went to whom."""

    class Status(models.TextChoices):
        SENT = "sent"
        FAILED = "failed"
        SUPPRESSED = "suppressed"  # within the rule's interval for that device and type

    org_path = "rule__organization"

    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    channel = models.CharField(max_length=8)  # "web", "email" or "webhook"
    recipient = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.SENT)
    error = models.TextField(blank=True)
    test = models.BooleanField(default=False)
    sent = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-sent"]

    def __str__(self) -> str:
        return f"{self.rule} {self.channel} {self.recipient} {self.status}"


class EventAck(models.Model):
    """An event acknowledged on the map's event feed, by whom and when."""

    org_path = "event__organization"

    event = models.OneToOneField(Event, on_delete=models.CASCADE, primary_key=True, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"event {self.event_id} acknowledged"


class ServicePlan(OrgOwned):
    """A service reminder: every so many kilometres of odometer, hours of engine time or days, whichever comes
    first, for some vehicles (its devices and groups; none: all the organisation's). Each vehicle's next service
    is counted from its last ``ServiceRecord`` of the plan (a baseline one is made when the plan first sees it)."""

    name = models.CharField(max_length=100)
    devices = models.ManyToManyField(Device, blank=True, related_name="+", help_text="None: every vehicle.")
    groups = models.ManyToManyField("tracking.DeviceGroup", blank=True, related_name="+")
    every_km = models.FloatField(null=True, blank=True, help_text="Kilometres of odometer between two services.")
    every_engine_h = models.FloatField(null=True, blank=True, help_text="Engine hours between two services.")
    every_days = models.PositiveIntegerField(null=True, blank=True, help_text="Days between two services.")
    notes = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        intervals = (self.every_km, self.every_engine_h, self.every_days)
        if all(v is None for v in intervals):
            raise ValidationError("Give at least one interval: kilometres, engine hours or days.")
        for field in ("every_km", "every_engine_h"):
            value = getattr(self, field)
            if value is not None and not 0 < value < 10_000_000:
                raise ValidationError({field: "A positive number, please."})
        if self.every_days is not None and not 0 < self.every_days <= 3660:
            raise ValidationError({"every_days": "Between 1 and 3,660 days."})


class ServiceRecord(models.Model):
    """A service done (or, ``baseline``, the readings when the plan first saw the vehicle): the next one of the
    plan is due from here."""

    org_path = "plan__organization"

    plan = models.ForeignKey(ServicePlan, on_delete=models.CASCADE, related_name="records")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    done_at = models.DateTimeField(default=timezone.now)
    odometer_km = models.FloatField(null=True, blank=True)
    engine_h = models.FloatField(null=True, blank=True)
    baseline = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["-done_at", "-pk"]
        indexes = [models.Index(fields=["plan", "device", "-done_at"])]

    def __str__(self) -> str:
        return f"{self.plan} on {self.device_id} at {self.done_at:%Y-%m-%d}"
