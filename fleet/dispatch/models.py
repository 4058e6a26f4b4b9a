from django.conf import settings
from django.contrib.gis.db import models as gis
from django.core.exceptions import ValidationError
from django.db import models

from fleet.core.models import OrgOwned


class Task(OrgOwned):
    """A delivery or service job: go to a destination, work there, finish."""

    class Status(models.TextChoices):  # the allowed moves between them: fleet/dispatch/lifecycle.py
        CREATED = "created", "Created"
        ASSIGNED = "assigned", "Assigned"
        EN_ROUTE = "en_route", "En route"
        ARRIVED = "arrived", "Arrived"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"  # by the driver (a vendor's status)
        CANCELLED = "cancelled", "Cancelled"

    class Priority(models.IntegerChoices):
        LOW = 0, "Low"
        NORMAL = 1, "Normal"
        HIGH = 2, "High"
        URGENT = 3, "Urgent"

    order_ref = models.CharField(max_length=100)
    title = models.CharField(max_length=200, blank=True)
    device = models.ForeignKey(
        "tracking.Device", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    driver = models.ForeignKey(
        "tracking.Driver", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    poi = models.ForeignKey(
        "geo.POI",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        verbose_name="customer / POI",
        help_text="The place the task goes to, when it is one of the organisation's POIs (customers, depots).",
    )
    destination = gis.PointField(srid=4326)
    destination_address = models.CharField(max_length=300, blank=True)
    destination_radius_m = models.FloatField(default=100.0)
    start_point = gis.PointField(srid=4326, null=True, blank=True)
    start_address = models.CharField(max_length=300, blank=True)
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_stop = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.CREATED, db_index=True)
    priority = models.PositiveSmallIntegerField(choices=Priority, default=Priority.NORMAL)
    late = models.BooleanField(default=False, help_text="Not at its destination by the end of its time window.")
    arrived = models.DateTimeField(null=True, blank=True)
    work_started = models.DateTimeField(null=True, blank=True)
    work_finished = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    cancel_reason = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-planned_start", "order_ref"]
        constraints = [models.UniqueConstraint(fields=["organization", "order_ref"], name="task_unique_org_order_ref")]

    def __str__(self) -> str:
        return f"{self.order_ref} {self.title}".strip()

    def clean(self) -> None:
        if self.planned_start and self.planned_stop and self.planned_stop <= self.planned_start:
            raise ValidationError({"planned_stop": "The planned stop must come after the planned start."})
        if self.destination_radius_m is not None and not self.destination_radius_m > 0:
            raise ValidationError({"destination_radius_m": "The radius must be more than 0 m."})


class TaskChange(models.Model):
    """One step of a task's timeline: its status from / to, when, who or what made it, and where the vehicle was."""

    class Source(models.TextChoices):
        DISPATCHER = "dispatcher"
        VEHICLE = "vehicle"  # fleet's event engine, from the vehicle's positions
        VENDOR = "vendor"
        SYSTEM = "system"  # e.g. the late check

    org_path = "task__organization"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="changes")
    time = models.DateTimeField(db_index=True)
    old = models.CharField(max_length=12, blank=True)
    new = models.CharField(max_length=12)
    source = models.CharField(max_length=10, choices=Source)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["time", "pk"]

    def __str__(self) -> str:
        return f"{self.task}: {self.old or '—'} → {self.new} ({self.source})"


class TaskFile(OrgOwned):
    """A file attached to a task: uploaded in fleet (kept in Django's storage), or a vendor's file known by its
    metadata (no bytes: ``file`` is empty)."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        CMR = "cmr", "CMR"
        DELIVERY_NOTE = "delivery_note", "Delivery note"
        ORDER = "order", "Order"
        OTHER = "other", "Other"
        RECEIVER_SIGNATURE = "receiver_signature", "Receiver's signature"
        SENDER_SIGNATURE = "sender_signature", "Sender's signature"
        CARRIER_SIGNATURE = "carrier_signature", "Carrier's signature"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to="task-files/%Y/%m/", blank=True)
    mime = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.OTHER)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    uploaded = models.DateTimeField(null=True, blank=True)
    sender = models.CharField(max_length=100, blank=True, help_text="Who uploaded it at the vendor.")

    class Meta:
        ordering = ["task", "uploaded", "pk"]

    def __str__(self) -> str:
        return self.name


class ChecklistItem(models.Model):
    """One thing to do at a task's destination, ticked off in the dashboard (who and when kept)."""

    org_path = "task__organization"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="checklist")
    text = models.CharField(max_length=300)
    order = models.PositiveIntegerField(default=0)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["task", "order", "pk"]

    def __str__(self) -> str:
        return f"{'☑' if self.done else '☐'} {self.text}"
