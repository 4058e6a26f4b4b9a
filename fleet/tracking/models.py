"""Canonical tracking data. Units: km/h, metres, degrees, seconds, UTC (docs/architecture.md)."""

from django.contrib.gis.db import models as gis
from django.db import models
from django.urls import reverse

from fleet.core.models import Job, OrgOwned


class VendorOwned(OrgOwned):
    """A row mirrored from a vendor account: (account, vendor_id) identifies it there."""

    account = models.ForeignKey(
        "vendors.VendorAccount", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    vendor_id = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    retired = models.DateTimeField(
        null=True, blank=True, help_text="When the vendor stopped listing it: kept for history, hidden from the map."
    )

    class Meta:
        abstract = True


def unique_vendor_id(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["account", "vendor_id"], condition=~models.Q(vendor_id=""), name=f"{name}_unique_vendor_id"
    )


class DeviceGroup(VendorOwned):
    name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")

    class Meta:
        ordering = ["name"]
        constraints = [unique_vendor_id("devicegroup")]

    def __str__(self) -> str:
        return self.name


class Driver(VendorOwned):
    name = models.CharField(max_length=200)
    unique_id = models.CharField(
        "identifier", max_length=100, blank=True, help_text="RFID / iButton / driver card id, as vendors report it."
    )
    phone = models.CharField(max_length=50, blank=True)
    licence = models.CharField("driving licence", max_length=50, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [unique_vendor_id("driver")]

    def __str__(self) -> str:
        return self.name


class Device(VendorOwned):
    class Status(models.TextChoices):
        ONLINE = "online"
        OFFLINE = "offline"
        UNKNOWN = "unknown"

    unique_id = models.CharField("unique id / IMEI", max_length=100, blank=True, db_index=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=50, blank=True)
    plate = models.CharField(max_length=50, blank=True)
    group = models.ForeignKey(DeviceGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="devices")
    driver = models.ForeignKey(Driver, on_delete=models.SET_NULL, null=True, blank=True, related_name="devices")
    phone = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, blank=True)
    disabled = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status, default=Status.UNKNOWN)
    last_update = models.DateTimeField(null=True, blank=True, help_text="Last time the vendor heard from the device.")
    # The latest fix, denormalised so the live map and lists need no join into the positions table.
    last_position = models.ForeignKey(
        "Position", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    last_fix_time = models.DateTimeField(null=True, blank=True)
    last_latitude = models.FloatField(null=True, blank=True)
    last_longitude = models.FloatField(null=True, blank=True)
    last_speed = models.FloatField(null=True, blank=True)
    last_course = models.FloatField(null=True, blank=True)
    last_attributes = models.JSONField(default=dict, blank=True)

    # The denormalised latest fix: written by ingest only (read-only in the admin, not loaded by reports).
    LIVE_FIELDS = (
        "last_update",
        "last_position",
        "last_fix_time",
        "last_latitude",
        "last_longitude",
        "last_speed",
        "last_course",
        "last_attributes",
    )

    class Meta:
        ordering = ["name"]
        constraints = [unique_vendor_id("device")]

    def __str__(self) -> str:
        return self.name


class DriverAssignment(OrgOwned):
    """Who drove a vehicle from ``start`` until ``end`` (open-ended while ``end`` is empty). One vehicle's
    assignments never overlap (``fleet.tracking.drivers.assign`` refuses it); ``source`` says whether a person set
    it or a vendor's driver id on the positions did."""

    class Source(models.TextChoices):
        FLEET = "fleet", "Set in fleet"
        VENDOR = "vendor", "Reported by the vendor"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="assignments")
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="assignments")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source, default=Source.FLEET)

    class Meta:
        ordering = ["device", "-start"]
        indexes = [models.Index(fields=["device", "start"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__isnull=True) | models.Q(end__gt=models.F("start")),
                name="driverassignment_end_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.driver} in {self.device} from {self.start:%Y-%m-%d %H:%M}"


class Beacon(VendorOwned):
    """A BLE beacon placed indoors (Safectory); positions name the beacon a tag heard."""

    name = models.CharField(max_length=200, blank=True)
    uuid = models.CharField(max_length=36)
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    point = gis.PointField(srid=4326, null=True, blank=True)
    floor = models.IntegerField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    battery_level = models.FloatField(null=True, blank=True, help_text="%")

    class Meta:
        ordering = ["name"]
        constraints = [unique_vendor_id("beacon")]

    def __str__(self) -> str:
        return self.name or f"{self.uuid}/{self.major}/{self.minor}"


class Position(models.Model):
    """One fix. Deliberately non-spatial (plain floats) so bulk inserts run at COPY speed.

    On PostgreSQL the table is range-partitioned by ``fix_time`` (migration 0003) with
    primary key (id, fix_time); (device, fix_time) is unique, so re-syncs are idempotent.
    """

    org_path = "device__organization"

    # No separate index: the (device, fix_time) unique index leads with device.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="positions", db_index=False)
    fix_time = models.DateTimeField()
    server_time = models.DateTimeField(null=True, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    altitude = models.FloatField(null=True, blank=True)
    speed = models.FloatField(default=0.0, help_text="km/h")
    course = models.FloatField(null=True, blank=True, help_text="degrees 0-360")
    accuracy = models.FloatField(null=True, blank=True, help_text="metres")
    valid = models.BooleanField(default=True)
    # ignition, battery_level, power_v, fuel_l, odometer_m, rssi, floor, temperatures, beacon_id...
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["device", "fix_time"]
        constraints = [models.UniqueConstraint(fields=["device", "fix_time"], name="position_unique_device_fix")]

    def __str__(self) -> str:
        return f"{self.device_id}@{self.fix_time:%Y-%m-%d %H:%M:%S}"


class Event(OrgOwned):
    """Something that happened to a device: ignition, geofence enter/exit, alarm, task arrival... reported by a
    vendor, or found by fleet's own event engine (``fleet.events``)."""

    class Source(models.TextChoices):
        VENDOR = "vendor"
        FLEET = "fleet"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=50)
    time = models.DateTimeField()
    position = models.ForeignKey(
        Position, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    geofence = models.ForeignKey(
        "geo.Geofence", on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    task = models.ForeignKey("dispatch.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    # Distinguishes simultaneous events of one type (the vendor's event id, or a geofence id).
    key = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=8, choices=Source, default=Source.VENDOR, db_default=Source.VENDOR)

    class Meta:
        ordering = ["-time"]
        indexes = [models.Index(fields=["device", "time"])]
        constraints = [
            models.UniqueConstraint(fields=["device", "type", "time", "key"], name="event_unique_device_type_time")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.device} {self.time:%Y-%m-%d %H:%M:%S}"


class IngestBacklog(OrgOwned):
    """A stored batch whose deferred subscribers (the event engine) have not run yet (``ingest``): written in
    the transaction that inserts the positions, deleted in the one that evaluates them, so a process that dies
    in between leaves it here and ``ingest.recover_backlog`` (beat, every minute) has the work done.
    ``since``: device pk (as text) -> the epoch seconds of its first fix in the batch."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    since = models.JSONField()

    def __str__(self) -> str:
        return f"backlog {self.pk}: {len(self.since)} devices"


class TrackDay(models.Model):
    """One device's closed UTC day of positions, column by column (``fleet.tracking.store.archive``).

    ``version`` counts the changes to that day's positions once they have settled: triggers on the positions
    table raise it on every insert, update or delete of a fix dated before the later of the current UTC day's
    start and ten minutes ago (``archive.settled_until``; today's row then has a version and no data yet), and
    ``first_change`` keeps the earliest fix time such a change touched (a window of the day ending before it
    was never changed). ``data`` is valid while ``built_version`` equals ``version``. The device is not a
    database foreign key: the triggers may touch a day of a device whose deletion is under way;
    ``archive.prune`` removes such rows.
    """

    device = models.ForeignKey(
        Device, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    day = models.DateField()
    version = models.IntegerField(default=0)
    built_version = models.IntegerField(null=True, blank=True)
    count = models.IntegerField(default=0)
    data = models.BinaryField(null=True, blank=True)
    first_change = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "day"], name="tracking_trackday_device_day")]

    def __str__(self) -> str:
        return f"device {self.device_id} {self.day} v{self.version}"


class GpxImport(Job):
    """A GPX file uploaded for one device, imported by a Celery task (``fleet.tracking.gpxjobs``).

    ``data`` is the uploaded file, kept in the one store the web process and every worker share until the
    task has read it (then emptied); ``summary`` is the result's counts for the user, ``warned`` whether
    they deserve a second look (every point rejected, times read in a chosen zone).
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    data = models.BinaryField(null=True, blank=True, editable=False)
    timezone = models.CharField(max_length=64, default="UTC", help_text="The zone of times written without one.")
    done = models.PositiveIntegerField(default=0, help_text="Track points checked and stored so far.")
    total = models.PositiveIntegerField(default=0, help_text="Track points in the file (0 until it is read).")
    summary = models.TextField(blank=True)
    warned = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["organization", "-created"])]
        verbose_name = "GPX import"

    def __str__(self) -> str:
        return f"GPX import #{self.pk} of {self.file_name or 'a file'} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("import-job", args=[self.pk])
