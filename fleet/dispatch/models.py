from django.contrib.gis.db import models as gis
from django.db import models

from fleet.core.models import OrgOwned


class Task(OrgOwned):
    """A delivery or service job: go to a destination, work there, finish."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    order_ref = models.CharField(max_length=100)
    title = models.CharField(max_length=200, blank=True)
    device = models.ForeignKey(
        "tracking.Device", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    driver = models.ForeignKey(
        "tracking.Driver", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    destination = gis.PointField(srid=4326)
    destination_address = models.CharField(max_length=300, blank=True)
    destination_radius_m = models.FloatField(default=100.0)
    start_point = gis.PointField(srid=4326, null=True, blank=True)
    start_address = models.CharField(max_length=300, blank=True)
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_stop = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.CREATED, db_index=True)
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
