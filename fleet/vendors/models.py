"""Vendor accounts, their sync runs, and the links between vendor objects and fleet's canonical ones."""

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from fleet.core.fields import EncryptedJSONField, validate_base_url
from fleet.core.models import OrgOwned
from fleet.vendors.registry import KIND_CHOICES


class VendorAccount(OrgOwned):
    """One login at one vendor; its devices and data belong to the account's organisation."""

    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    name = models.CharField(max_length=100)
    base_url = models.CharField(
        max_length=300, validators=[validate_base_url], help_text="e.g. https://track.example.com"
    )
    # {"username": ..., "password": ...} or {"token": ...}; encrypted at rest, never shown back.
    credentials = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    sync_interval_s = models.PositiveIntegerField(default=60)
    cursors = models.JSONField(default=dict, blank=True, help_text="Where each resource's last sync stopped.")
    last_success = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_errors = models.PositiveIntegerField(default=0)
    next_run = models.DateTimeField(default=timezone.now, db_index=True)
    disabled_by_error = models.BooleanField(
        default=False,
        help_text="Set by a permanent vendor error (e.g. bad credentials); cleared when saved by an admin.",
    )
    stream_connected = models.BooleanField(default=False, help_text="A live socket is feeding this account.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="account_unique_org_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_due(self) -> bool:
        return self.enabled and not self.disabled_by_error and self.next_run <= timezone.now()

    def schedule_next(self, delay_s: float | None = None) -> None:
        self.next_run = timezone.now() + timedelta(seconds=self.sync_interval_s if delay_s is None else delay_s)


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        PARTIAL = "partial"  # some resources failed as a whole; the others were synced
        ERROR = "error"

    org_path = "account__organization"

    account = models.ForeignKey(VendorAccount, on_delete=models.CASCADE, related_name="runs")
    started = models.DateTimeField(default=timezone.now, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.RUNNING)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Per resource counts and reject reasons.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"{self.account} at {self.started:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self) -> timedelta | None:
        return self.finished - self.started if self.finished else None


class VendorLink(models.Model):
    """Which vendor object mirrors which canonical object (geofences, POIs, tasks...), for write-back."""

    org_path = "account__organization"

    account = models.ForeignKey(VendorAccount, on_delete=models.CASCADE, related_name="links")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    vendor_id = models.CharField(max_length=100)
    last_pulled = models.DateTimeField(null=True, blank=True)
    last_pushed = models.DateTimeField(null=True, blank=True)
    push_error = models.TextField(blank=True)
    state = models.JSONField(
        default=dict, blank=True, help_text="What both sides last agreed on (a task's status), to tell who changed it."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "content_type", "vendor_id"], name="link_unique_vendor_id"),
            models.UniqueConstraint(fields=["account", "content_type", "object_id"], name="link_unique_object"),
        ]

    def __str__(self) -> str:
        return f"{self.account}:{self.content_type.model}:{self.vendor_id}"


class PoiReport(models.Model):
    """A vendor's POI visit report, asked for and then polled until the vendor has made it (it takes a while)."""

    class Status(models.TextChoices):
        PENDING = "pending"  # not asked yet, or asked and not done
        DONE = "done"
        ERROR = "error"

    org_path = "account__organization"

    account = models.ForeignKey(VendorAccount, on_delete=models.CASCADE, related_name="poi_reports")
    start = models.DateTimeField()
    end = models.DateTimeField()
    vendor_id = models.CharField(max_length=100, blank=True, help_text="The vendor's id of the report, once asked.")
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    rows = models.JSONField(default=list, blank=True, help_text="The visits, once done.")
    error = models.TextField(blank=True)
    requested = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested"]

    def __str__(self) -> str:
        return f"{self.account} POI report {self.start:%Y-%m-%d}–{self.end:%Y-%m-%d}"


class CommandLog(OrgOwned):
    """A command a user sent to a device through its vendor account, and what the vendor answered."""

    class Status(models.TextChoices):
        OK = "ok", "Sent"
        QUEUED = "queued", "Queued (device offline)"
        FAILED = "failed", "Failed"

    device = models.ForeignKey("tracking.Device", on_delete=models.CASCADE, related_name="commands")
    account = models.ForeignKey(VendorAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=64)
    attributes = models.JSONField(default=dict, blank=True)
    confirmed = models.BooleanField(default=False, help_text="The sender ticked the confirmation of a dangerous one.")
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=8, choices=Status)
    response = models.TextField(blank=True, help_text="An excerpt of the vendor's answer (or its error).")

    class Meta:
        ordering = ["-sent_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} to {self.device_id} ({self.status})"
