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


class Street(models.Model):
    """A named street segment (OpenStreetMap way or part of one), shared by every organisation: what
    "near <street>" addresses are made from. Loaded by ``seeddemo`` (the demo's road graph) and ``loadstreets``."""

    name = models.CharField(max_length=200)
    geometry = gis.LineStringField(srid=4326)
    source = models.CharField(max_length=100, help_text="Where it was loaded from: a replaced source is deleted first.")

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["source"])]

    def __str__(self) -> str:
        return self.name


class CachedAddress(models.Model):
    """A geocoding provider's answer for one grid cell (about 10 m), shared by every organisation (an address
    is public): asked by the Celery task ``fill_address_cache`` while ``PENDING``, never during a request."""

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    provider = models.CharField(max_length=20)
    cell = models.BigIntegerField(help_text="The grid cell: fleet.geo.geocoding.cache.cell_of.")
    latitude = models.FloatField()
    longitude = models.FloatField()
    text = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=8, choices=State, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    fetched = models.DateTimeField(null=True, blank=True, help_text="Last asked (answered or failed for good).")
    next_try = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "cell"], name="cached_address_unique_cell")]
        indexes = [models.Index(fields=["state", "next_try"]), models.Index(fields=["fetched"])]

    def __str__(self) -> str:
        return self.text or f"{self.latitude:.4f}, {self.longitude:.4f} ({self.state})"
