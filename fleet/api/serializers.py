"""Serializers of the REST API: canonical units (km/h, metres, degrees, UTC times), GeoJSON for shapes."""

from __future__ import annotations

import json

from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fleet.dispatch.models import Task
from fleet.geo import calendar
from fleet.geo.models import POI, Geofence
from fleet.geo.validation import checked_wkt
from fleet.tracking.models import Device, Event, Position
from fleet.tracking.state import device_state, rules_for


class ScopedRelations:
    """Related objects (devices, groups, geofences, users...) chosen among the caller's organisations' only, so an
    id of another organisation reads as one that does not exist, as everywhere in the API."""

    def get_fields(self):
        from django.contrib.auth import get_user_model

        from fleet.core.scoping import for_user, org_ids_for_user

        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return fields
        for field in fields.values():
            related = getattr(field, "child_relation", field)
            queryset = getattr(related, "queryset", None)
            if queryset is None:
                continue
            if queryset.model is get_user_model():
                members = queryset.filter(memberships__organization_id__in=org_ids_for_user(user)).distinct()
                related.queryset = queryset if user.is_superuser else members
            else:
                related.queryset = for_user(queryset, user)
        return fields


class DeviceSerializer(serializers.ModelSerializer):
    """A device, from a queryset annotated with its account's kind as ``vendor_kind`` (``with_vendor``): no
    account instances are made (a page is 1,000 devices)."""

    vendor = serializers.CharField(source="vendor_kind", default=None, read_only=True)
    last_position = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "organization",
            "name",
            "unique_id",
            "plate",
            "category",
            "group",
            "driver",
            "vendor",
            "account",
            "status",
            "disabled",
            "last_update",
            "last_position",
            "state",
        ]
        read_only_fields = fields

    def to_representation(self, device: Device) -> dict:
        """What ModelSerializer.to_representation answers (a test holds them equal), without its per-field
        machinery: a page is 1,000 devices."""
        return {
            "id": device.pk,
            "organization": device.organization_id,
            "name": device.name,
            "unique_id": device.unique_id,
            "plate": device.plate,
            "category": device.category,
            "group": device.group_id,
            "driver": device.driver_id,
            "vendor": getattr(device, "vendor_kind", None),
            "account": device.account_id,
            "status": device.status,
            "disabled": device.disabled,
            "last_update": self.fields["last_update"].to_representation(device.last_update),
            "last_position": self.get_last_position(device),
            "state": self.get_state(device),
        }

    def get_last_position(self, device: Device) -> dict | None:
        if device.last_fix_time is None:
            return None
        return {
            "time": device.last_fix_time,
            "latitude": device.last_latitude,
            "longitude": device.last_longitude,
            "speed": device.last_speed,
            "course": device.last_course,
            "attributes": device.last_attributes,
        }

    def get_state(self, device: Device) -> str:
        rules = rules_for(device.organization_id)
        ignition = (device.last_attributes or {}).get("ignition")
        return device_state(
            device.last_fix_time,
            True,
            device.last_speed,
            ignition,
            self._now(),
            rules.speed_threshold_kmh,
            rules.stale_after_s,
        )

    def _now(self):
        """One "now" for the whole answer (a page of devices is judged at one moment)."""
        from django.utils import timezone

        root = self.root
        if not hasattr(root, "_state_now"):
            root._state_now = timezone.now()
        return root._state_now

    @staticmethod
    def with_vendor(queryset):
        from django.db.models import F

        return queryset.annotate(vendor_kind=F("account__kind"))


class PositionSerializer(serializers.ModelSerializer):
    time = serializers.DateTimeField(source="fix_time")

    class Meta:
        model = Position
        fields = [
            "id",
            "device",
            "time",
            "latitude",
            "longitude",
            "altitude",
            "speed",
            "course",
            "accuracy",
            "valid",
            "attributes",
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "device", "type", "time", "source", "key", "geofence", "task", "position", "attributes"]
        read_only_fields = fields


@extend_schema_field(
    {
        "type": "object",
        "description": "A GeoJSON geometry (longitude, latitude)",
        "example": {"type": "Point", "coordinates": [24.94, 60.17]},
    }
)
class GeoJSONField(serializers.Field):
    """A GeoJSON geometry in and out (lon, lat order), checked as any outside geometry is."""

    def to_representation(self, value):
        return json.loads(value.geojson) if value is not None else None

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError('A GeoJSON geometry object, e.g. {"type": "Point", ...}.')
        try:
            return GEOSGeometry(json.dumps(data), srid=4326)
        except (GEOSException, GDALException, ValueError, TypeError) as exc:
            raise serializers.ValidationError(f"Not a readable GeoJSON geometry ({exc}).") from None


class GeofenceSerializer(ScopedRelations, serializers.ModelSerializer):
    geometry = GeoJSONField()

    class Meta:
        model = Geofence
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "kind",
            "geometry",
            "radius_m",
            "width_m",
            "colour",
            "speed_limit_kmh",
            "dwell_s",
            "calendar",
            "devices",
            "groups",
            "updated",
            "retired",
        ]
        read_only_fields = ["id", "updated", "retired"]

    def validate(self, data: dict) -> dict:
        kind = data.get("kind", getattr(self.instance, "kind", "polygon"))
        geometry = data.get("geometry", getattr(self.instance, "geometry", None))
        wkt, reason = checked_wkt(kind, geometry.wkt if geometry is not None else None)
        if reason:
            raise serializers.ValidationError({"geometry": reason.removeprefix("area: ").capitalize() + "."})
        data["geometry"] = GEOSGeometry(wkt, srid=4326)
        if reason := calendar.validate(data.get("calendar", "")):
            raise serializers.ValidationError({"calendar": f"The calendar cannot be used: {reason}."})
        org = data.get("organization", getattr(self.instance, "organization", None))
        for name in ("devices", "groups"):
            wrong = [o.pk for o in data.get(name, []) if o.organization_id != getattr(org, "pk", None)]
            if wrong:
                raise serializers.ValidationError({name: f"Not in the geofence's organisation: {wrong}."})
        return data

    def to_representation(self, instance):
        data = super().to_representation(instance)
        geometry = data.pop("geometry")
        return {"type": "Feature", "id": data["id"], "geometry": geometry, "properties": data}

    def to_internal_value(self, data):
        if isinstance(data, dict) and data.get("type") == "Feature":
            data = {**(data.get("properties") or {}), "geometry": data.get("geometry")}
        return super().to_internal_value(data)


class PoiSerializer(ScopedRelations, serializers.ModelSerializer):
    point = GeoJSONField()

    class Meta:
        model = POI
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "purpose",
            "point",
            "radius_m",
            "address",
            "colour",
            "contact_name",
            "contact_phone",
            "updated",
        ]
        read_only_fields = ["id", "updated"]

    def validate_point(self, value):
        if value.geom_type != "Point":
            raise serializers.ValidationError("A POI is a Point.")
        if not (-180 <= value.x <= 180 and -90 <= value.y <= 90):
            raise serializers.ValidationError("Coordinates out of range.")
        return value

    def to_representation(self, instance):
        data = super().to_representation(instance)
        geometry = data.pop("point")
        return {"type": "Feature", "id": data["id"], "geometry": geometry, "properties": data}

    def to_internal_value(self, data):
        if isinstance(data, dict) and data.get("type") == "Feature":
            data = {**(data.get("properties") or {}), "point": data.get("geometry")}
        return super().to_internal_value(data)


class TaskSerializer(ScopedRelations, serializers.ModelSerializer):
    destination = GeoJSONField()

    class Meta:
        model = Task
        fields = [
            "id",
            "organization",
            "order_ref",
            "title",
            "priority",
            "status",
            "late",
            "device",
            "driver",
            "destination",
            "destination_address",
            "destination_radius_m",
            "planned_start",
            "planned_stop",
            "arrived",
            "work_started",
            "work_finished",
            "notes",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "status", "late", "arrived", "work_started", "work_finished", "created", "updated"]
        validators = []  # the unique order reference is checked in validate(), with a sentence

    def validate(self, data: dict) -> dict:
        org = data.get("organization", getattr(self.instance, "organization", None))
        for name in ("device", "driver"):
            obj = data.get(name)
            if obj is not None and obj.organization_id != getattr(org, "pk", None):
                raise serializers.ValidationError({name: "Not in the task's organisation."})
        ref = data.get("order_ref")
        if (
            ref
            and Task.objects.filter(organization=org, order_ref=ref)
            .exclude(pk=getattr(self.instance, "pk", None))
            .exists()
        ):
            raise serializers.ValidationError({"order_ref": f"The organisation already has a task {ref}."})
        destination = data.get("destination")
        if destination is not None and destination.geom_type != "Point":
            raise serializers.ValidationError({"destination": "A destination is a Point."})
        return data


class TransitionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Task.Status.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class AssignSerializer(serializers.Serializer):
    device = serializers.IntegerField()


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        from fleet.tracking.models import DeviceGroup

        model = DeviceGroup
        fields = ["id", "organization", "name", "parent", "account", "vendor_id"]
        read_only_fields = fields


class DriverSerializer(serializers.ModelSerializer):
    class Meta:
        from fleet.tracking.models import Driver

        model = Driver
        fields = ["id", "organization", "name", "unique_id", "phone", "licence", "account", "vendor_id"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    """A vendor account without its credentials (they are never sent back)."""

    class Meta:
        from fleet.vendors.models import VendorAccount

        model = VendorAccount
        fields = [
            "id",
            "organization",
            "kind",
            "name",
            "base_url",
            "enabled",
            "sync_interval_s",
            "last_success",
            "last_error",
            "last_error_at",
            "consecutive_errors",
            "disabled_by_error",
            "stream_connected",
            "next_run",
            "created",
        ]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        from fleet.vendors.models import SyncRun

        model = SyncRun
        fields = [
            "id",
            "account",
            "started",
            "finished",
            "status",
            "fetched",
            "created",
            "updated",
            "rejected",
            "counts",
            "error",
        ]
        read_only_fields = fields


class RuleSerializer(ScopedRelations, serializers.ModelSerializer):
    class Meta:
        from fleet.events.models import NotificationRule

        model = NotificationRule
        fields = [
            "id",
            "organization",
            "name",
            "enabled",
            "event_types",
            "devices",
            "groups",
            "geofences",
            "calendar",
            "web",
            "email",
            "recipients",
            "webhook",
            "min_interval_s",
            "created",
        ]
        read_only_fields = ["id", "created"]
        validators = []

    def validate(self, data: dict) -> dict:
        from django.core.exceptions import ValidationError as ModelError

        org = data.get("organization", getattr(self.instance, "organization", None))
        current = (
            {}
            if self.instance is None
            else {"email": self.instance.email, "recipients": [*self.instance.recipients.all()]}
        )
        if problems := self.Meta.model.problems(org, current | data):
            raise serializers.ValidationError(problems)
        probe = self.Meta.model(calendar=data.get("calendar", ""), event_types=data.get("event_types", []))
        try:
            probe.clean()
        except ModelError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        name = data.get("name")
        same = type(self.instance or self.Meta.model()).objects.filter(organization=org, name=name)
        if name and same.exclude(pk=getattr(self.instance, "pk", None)).exists():
            raise serializers.ValidationError({"name": f"The organisation already has a rule {name}."})
        return data
