import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from fleet.core.fields import EncryptedTextField, validate_base_url
from fleet.core.models import OrgOwned

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class Endpoint(OrgOwned):
    """An organisation's webhook endpoint: a URL that receives the chosen message types as signed JSON
    (docs/api.md#webhooks). The signing secret is stored encrypted and shown once, when it is made. An endpoint
    that keeps failing is switched off, with the reason kept in ``disabled_reason`` for its page."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500, validators=[validate_base_url])
    types = models.JSONField(default=list, blank=True, help_text="Message types; none: every type.")
    active = models.BooleanField(default=True)
    secret = EncryptedTextField(editable=False, default=new_secret)
    created = models.DateTimeField(default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="webhook_unique_org_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from fleet.webhooks.kinds import TYPES

        types = self.types
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ValidationError({"types": "A list of message type names."})
        if unknown := sorted(set(types) - TYPES.keys()):
            raise ValidationError({"types": f"Unknown message types: {', '.join(unknown)}."})

    def save(self, *args, **kwargs) -> None:
        if self.active and self.disabled_at:  # switched on again by someone who fixed the receiver
            self.consecutive_failures, self.failing_since, self.disabled_at, self.disabled_reason = 0, None, None, ""
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], *self.FAILURE_FIELDS}
        super().save(*args, **kwargs)

    FAILURE_FIELDS = ("consecutive_failures", "failing_since", "disabled_at", "disabled_reason")

    def wants(self, kind: str) -> bool:
        return kind == "test" or not self.types or kind in self.types


class Delivery(models.Model):
    """One message to one endpoint, tried until it is answered with a 2xx or its day of retries is over."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # retries given up, or the endpoint was switched off meanwhile

    org_path = "endpoint__organization"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=50)
    body = models.TextField(help_text="The JSON sent, byte for byte the same at every attempt.")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} to {self.endpoint} ({self.status})"


class Attempt(models.Model):
    """One HTTP request of a delivery: when, its answer's status code or the error, how long it took."""

    org_path = "delivery__endpoint__organization"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
