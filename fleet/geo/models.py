from django.contrib.gis.db import models as gis
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from fleet.core.models import OrgOwned
from fleet.geo import calendar

COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is # and six hex digits, e.g. #3388ff.")


class Geofence(OrgOwned):
    """A polygon, a circle (centre point + radius) or a corridor (polyline + width)."""

    class Kind(models.TextChoices):
        POLYGON = "polygon"
        CIRCLE = "circle"
        CORRIDOR = "corridor"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.POLYGON)
    geometry = gis.GeometryField(srid=4326, help_text="Polygon, centre Point (circle) or LineString (corridor).")
    radius_m = models.FloatField(null=True, blank=True, help_text="Circle radius in metres.")
    width_m = models.FloatField(null=True, blank=True, help_text="Corridor width in metres.")
    calendar = models.TextField(blank=True, help_text="Optional iCalendar text: the geofence is active only then.")
    colour = models.CharField(max_length=7, default="#3388ff", validators=[COLOUR])
    speed_limit_kmh = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1.0)], help_text="Overspeed inside it above this."
    )
    dwell_s = models.PositiveIntegerField(
        default=0, help_text="Enter only after this many seconds inside, exit only after as many outside."
    )
    devices = models.ManyToManyField(
        "tracking.Device", blank=True, related_name="geofences", help_text="Applies to these (none: to every device)."
    )
    groups = models.ManyToManyField("tracking.DeviceGroup", blank=True, related_name="geofences")
    attributes = models.JSONField(default=dict, blank=True)
    updated = models.DateTimeField(auto_now=True)
    retired = models.DateTimeField(
        null=True, blank=True, help_text="When its vendor stopped listing it: kept for history, hidden from the map."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        expected = {self.Kind.POLYGON: "Polygon", self.Kind.CIRCLE: "Point", self.Kind.CORRIDOR: "LineString"}[
            self.kind
        ]
        if self.geometry is not None and self.geometry.geom_type != expected:
            raise ValidationError({"geometry": f"A {self.kind} geofence needs a {expected}."})
        if self.kind == self.Kind.CIRCLE and not (self.radius_m or 0) > 0:
            raise ValidationError({"radius_m": "A circle needs a radius."})
        if self.kind == self.Kind.CORRIDOR and not (self.width_m or 0) > 0:
            raise ValidationError({"width_m": "A corridor needs a width."})
        if reason := calendar.validate(self.calendar):
            raise ValidationError({"calendar": f"The calendar cannot be used: {reason}."})


class POI(OrgOwned):
    class Purpose(models.TextChoices):
        POI = "poi", "Point of interest"
        CUSTOMER = "customer", "Customer"
        WIFI = "wifi", "Wi-Fi router"
        BEACON = "beacon", "Beacon"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    purpose = models.CharField(max_length=10, choices=Purpose, default=Purpose.POI)
    point = gis.PointField(srid=4326)
    radius_m = models.FloatField(default=50.0, validators=[MinValueValidator(1.0)])
    colour = models.CharField(max_length=7, default="#e4572e", validators=[COLOUR])
    address = models.CharField(max_length=300, blank=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_phone = models.CharField(max_length=50, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "POI"
        verbose_name_plural = "POIs"

    def __str__(self) -> str:
        return self.name
