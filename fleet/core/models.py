import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


def default_timezone() -> str:
    return settings.FLEET_DEFAULT_TIME_ZONE


class Organization(models.Model):
    """A customer company; every row of data belongs to exactly one."""

    class SpeedUnit(models.TextChoices):
        KMH = "kmh", "km/h"
        MPH = "mph", "mph"
        KNOTS = "kn", "knots"

    class DistanceUnit(models.TextChoices):
        KM = "km", "kilometres"
        MI = "mi", "miles"
        NMI = "nmi", "nautical miles"

    class VolumeUnit(models.TextChoices):
        LITRE = "l", "litres"
        GALLON = "gal", "US gallons"

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    timezone = models.CharField(max_length=64, default=default_timezone, validators=[validate_timezone])
    # The live map's first view, set by an admin from the map ({"lat", "lon", "zoom"}); none: the densest cluster.
    map_home = models.JSONField(null=True, blank=True)
    speed_unit = models.CharField(max_length=4, choices=SpeedUnit, default=SpeedUnit.KMH)
    distance_unit = models.CharField(max_length=4, choices=DistanceUnit, default=DistanceUnit.KM)
    volume_unit = models.CharField(max_length=4, choices=VolumeUnit, default=VolumeUnit.LITRE)
    # Report parameters (docs/reports-engine.md); the trip and gap defaults are Traccar's (report.trip.* in its
    # default.xml), the stop radius trackintel's and movingpandas' customary 100 m.
    min_trip_distance_m = models.PositiveIntegerField(
        default=500, help_text="Movements between stops shorter than this (metres) are not trips. Default 500."
    )
    min_trip_duration_s = models.PositiveIntegerField(
        default=300, help_text="Movements between stops shorter than this (seconds) are not trips. Default 300."
    )
    min_parking_duration_s = models.PositiveIntegerField(
        default=300,
        help_text="A stop: the vehicle stayed within the stop radius at least this long (seconds). Default 300.",
    )
    stop_radius_m = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(1)],
        help_text="A stop: the vehicle stayed within this many metres of where it stopped. Default 100.",
    )
    min_no_data_gap_s = models.PositiveIntegerField(
        default=3600,
        help_text="A silence this long (seconds) is part of a stop if the vehicle moved less than the stop radius "
        "across it, else a span without data (neither stop nor trip). Default 3600.",
    )
    speed_threshold_kmh = models.FloatField(
        default=1.852, help_text="Above this reported speed (km/h) a vehicle is moving. Default 1.852 (1 knot)."
    )
    use_ignition = models.BooleanField(
        default=True, help_text="Ignition off this long makes a stop when the device reports it. Default on."
    )
    trip_needs_distance_and_duration = models.BooleanField(
        default=True,
        help_text="A movement is a trip only if it is long enough in distance and in time. Off: either suffices "
        "(Traccar's rule). Default on.",
    )
    task_dwell_s = models.PositiveIntegerField(
        default=120, help_text="A vehicle at a task's destination this long (seconds) is working on it. Default 120."
    )
    task_complete_on_leave = models.BooleanField(
        default=True,
        help_text="A vehicle leaving a task's destination after working there completes it; off: the dispatcher "
        "confirms. Default on.",
    )
    max_speed_kmh = models.FloatField(
        default=300.0,
        validators=[MinValueValidator(1.0)],
        help_text="The plausible maximum (km/h): fixes reported faster are refused, a fix its neighbours could only "
        "reach faster is ignored by reports as implausible, and no speed in a report exceeds it. Default 300.",
    )
    stale_after_minutes = models.PositiveIntegerField(default=15, help_text="A device silent this long is shown stale.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        DISPATCHER = "dispatcher", "Dispatcher"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class OrgOwned(models.Model):
    """Abstract base for every organisation-owned row."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class Job(OrgOwned):
    """Abstract base of a background job run by a Celery task (a report, a GPX import): who asked, its status,
    progress as done of total, and why it failed. The helpers every kind shares are in ``fleet.core.jobs``."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def is_over(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    def status_data(self) -> dict:
        """What a job page polls (``static/js/job.js``)."""
        return {
            "id": self.pk,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "error": self.error,
            "finished": self.is_over,
            "url": self.get_absolute_url(),
        }
