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
    speed_unit = models.CharField(max_length=4, choices=SpeedUnit, default=SpeedUnit.KMH)
    distance_unit = models.CharField(max_length=4, choices=DistanceUnit, default=DistanceUnit.KM)
    volume_unit = models.CharField(max_length=4, choices=VolumeUnit, default=VolumeUnit.LITRE)
    # Report parameters; defaults are Traccar's (report.trip.* in its default.xml).
    min_trip_distance_m = models.PositiveIntegerField(default=500, help_text="Shorter movements are not trips.")
    min_trip_duration_s = models.PositiveIntegerField(default=300, help_text="Shorter movements are not trips.")
    min_parking_duration_s = models.PositiveIntegerField(default=300, help_text="Shorter halts do not end a trip.")
    min_no_data_gap_s = models.PositiveIntegerField(default=3600, help_text="A gap without data this long ends a trip.")
    speed_threshold_kmh = models.FloatField(default=1.852, help_text="Above this speed a vehicle is moving.")
    use_ignition = models.BooleanField(
        default=True, help_text="Use ignition to split trips when the device reports it."
    )
    trip_needs_distance_and_duration = models.BooleanField(
        default=True,
        help_text="A movement is a trip only if it is long enough in distance and in time. Off: either suffices "
        "(Traccar's rule, which can turn parked GPS wander into trips).",
    )
    max_speed_kmh = models.FloatField(
        default=300.0,
        validators=[MinValueValidator(1.0)],
        help_text="Fixes reported faster than this are refused as implausible (and no trip reaches it).",
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
