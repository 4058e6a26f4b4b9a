"""The REST API (/api/v1/): every resource scoped to the caller's organisations (another organisation's id is a
404), changes only by organisation admins and dispatchers with a read-write token or a session, geofences and
POIs as GeoJSON, task moves through the dispatch state machine, and cursor feeds of positions and events."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.api import feeds
from fleet.api import serializers as s
from fleet.api.auth import TokenScope
from fleet.api.models import ApiToken
from fleet.api.paging import ById, FeatureCollection
from fleet.core.models import Membership, Organization
from fleet.core.scoping import EDITORS, for_user, get_for_user, org_ids_where
from fleet.dispatch import lifecycle, services
from fleet.dispatch.models import Task
from fleet.geo import services as geo_services
from fleet.geo.models import POI, Geofence
from fleet.tracking.models import Device, DeviceGroup, Event, Position


class Editors(permissions.BasePermission):
    """Reading: any member. Writing: the organisation's admins and dispatchers (checked on the object's org)."""

    message = "Only the organisation's admins and dispatchers change this."

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(editor_orgs(request.user))

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in permissions.SAFE_METHODS or obj.organization_id in editor_orgs(request.user)


def editor_orgs(user) -> set[int]:
    return org_ids_where(user, EDITORS)


class Scoped:
    """Querysets limited to the caller's organisations; objects looked up the same way (404, never 403)."""

    model = None

    def get_queryset(self):
        return for_user(self.base_queryset(), self.request.user)

    def base_queryset(self):
        return self.model.objects.all()

    def check_org(self, serializer) -> None:
        org = serializer.validated_data.get("organization")
        if org is not None and org.pk not in editor_orgs(self.request.user):
            raise PermissionDenied("Only the organisation's admins and dispatchers change this.")


def _scoped(model):
    """A filter's choices among the caller's organisations only: another organisation's id is "not a valid
    choice", as an id that does not exist (never an empty answer that tells it exists)."""

    def choices(request):
        return for_user(model.objects.all(), request.user) if request else model.objects.none()

    return choices


class DeviceFilter(django_filters.FilterSet):
    organization = django_filters.ModelChoiceFilter(queryset=_scoped(Organization))
    group = django_filters.ModelChoiceFilter(queryset=_scoped(DeviceGroup))

    class Meta:
        model = Device
        fields = {"organization": ["exact"], "group": ["exact"], "status": ["exact"], "name": ["exact", "icontains"]}


class DeviceViewSet(Scoped, viewsets.ReadOnlyModelViewSet):
    model = Device
    serializer_class = s.DeviceSerializer
    pagination_class = ById
    filterset_class = DeviceFilter

    def base_queryset(self):
        return s.DeviceSerializer.with_vendor(Device.objects.filter(retired__isnull=True))


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time read as UTC: PostgreSQL refuses offsets past ±15:59 (Python allows ±23:59), and a time
    that becomes year 10000 in UTC is out of range, not a server error."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This time is out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class PositionFilter(django_filters.FilterSet):
    device = django_filters.ModelChoiceFilter(queryset=_scoped(Device))
    start = UtcDateTimeFilter(field_name="fix_time", lookup_expr="gte")
    end = UtcDateTimeFilter(field_name="fix_time", lookup_expr="lt")

    class Meta:
        model = Position
        fields = ["device"]


class PositionViewSet(Scoped, viewsets.ReadOnlyModelViewSet):
    model = Position
    serializer_class = s.PositionSerializer
    pagination_class = ById
    filterset_class = PositionFilter

    def base_queryset(self):
        return Position.objects.all()

    def get_queryset(self):
        return Position.objects.filter(device__in=for_user(Device.objects.all(), self.request.user))

    @extend_schema(parameters=feeds.PARAMETERS, responses=feeds.schema("PositionFeed", s.PositionSerializer))
    @action(detail=False, pagination_class=None, filter_backends=[])
    def feed(self, request):
        """Every position stored after the cursor (across devices, in storage order, late fixes included)."""
        return feeds.positions(request)

    @extend_schema(responses=s.PositionSerializer(many=True))
    @action(detail=False, pagination_class=None, filter_backends=[])
    def latest(self, request):
        """The newest position of each of the caller's devices (from the device rows)."""
        devices = for_user(Device.objects.filter(retired__isnull=True, last_position__isnull=False), request.user)
        rows = Position.objects.filter(pk__in=devices.values("last_position")).order_by("device_id")
        return Response(s.PositionSerializer(rows, many=True).data)


class EventFilter(django_filters.FilterSet):
    device = django_filters.ModelChoiceFilter(queryset=_scoped(Device))
    geofence = django_filters.ModelChoiceFilter(queryset=_scoped(Geofence))
    task = django_filters.ModelChoiceFilter(queryset=_scoped(Task))
    start = UtcDateTimeFilter(field_name="time", lookup_expr="gte")
    end = UtcDateTimeFilter(field_name="time", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["device", "type", "source", "geofence", "task"]


class EventViewSet(Scoped, viewsets.ReadOnlyModelViewSet):
    model = Event
    serializer_class = s.EventSerializer
    pagination_class = ById
    filterset_class = EventFilter

    @extend_schema(parameters=feeds.PARAMETERS, responses=feeds.schema("EventFeed", s.EventSerializer))
    @action(detail=False, pagination_class=None, filter_backends=[])
    def feed(self, request):
        """Every event stored after the cursor, in storage order."""
        return feeds.rows(request, self.get_queryset(), s.EventSerializer)


class GeofenceViewSet(Scoped, viewsets.ModelViewSet):
    """Geofences as GeoJSON Features (a list: a FeatureCollection)."""

    model = Geofence
    serializer_class = s.GeofenceSerializer
    pagination_class = FeatureCollection
    permission_classes = [permissions.IsAuthenticated, TokenScope, Editors]
    filterset_fields = ["organization", "kind"]

    def perform_create(self, serializer):
        self.check_org(serializer)
        self._save(serializer)

    def perform_update(self, serializer):
        self.check_org(serializer)
        self._save(serializer)

    @staticmethod
    def _save(serializer):
        m2m = {k: serializer.validated_data.pop(k) for k in ("devices", "groups") if k in serializer.validated_data}
        instance = serializer.instance or Geofence()
        for field, value in serializer.validated_data.items():
            setattr(instance, field, value)
        geo_services.save_geofence(instance)
        for field, value in m2m.items():
            getattr(instance, field).set(value)
        serializer.instance = instance

    def perform_destroy(self, instance):
        geo_services.delete_geofence(instance)


class PoiViewSet(Scoped, viewsets.ModelViewSet):
    model = POI
    serializer_class = s.PoiSerializer
    pagination_class = ById
    permission_classes = [permissions.IsAuthenticated, TokenScope, Editors]
    filterset_fields = ["organization", "purpose"]

    def perform_create(self, serializer):
        self.check_org(serializer)
        serializer.instance = geo_services.save_poi(POI(**serializer.validated_data))

    def perform_update(self, serializer):
        self.check_org(serializer)
        for field, value in serializer.validated_data.items():
            setattr(serializer.instance, field, value)
        geo_services.save_poi(serializer.instance)


class TaskViewSet(Scoped, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    model = Task
    serializer_class = s.TaskSerializer
    pagination_class = ById
    permission_classes = [permissions.IsAuthenticated, TokenScope, Editors]
    filterset_fields = ["organization", "status", "device", "late", "order_ref"]

    def perform_create(self, serializer):
        self.check_org(serializer)
        task = Task(**serializer.validated_data)
        services.save_task(task)
        if task.device_id:
            lifecycle.transition(task, Task.Status.ASSIGNED, "dispatcher", user=self.request.user, note="API")
        serializer.instance = task

    def perform_update(self, serializer):
        self.check_org(serializer)
        for field, value in serializer.validated_data.items():
            setattr(serializer.instance, field, value)
        services.save_task(serializer.instance)

    @extend_schema(request=s.TransitionSerializer, responses=s.TaskSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the task through the dispatch state machine; an illegal move is a 409 with the reason."""
        task = self.get_object()
        body = s.TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            lifecycle.transition(
                task,
                body.validated_data["status"],
                "dispatcher",
                user=request.user,
                note=body.validated_data.get("note", ""),
            )
        except lifecycle.TransitionError as exc:
            from fleet.api.errors import Conflict

            raise Conflict(str(exc)) from None
        task.refresh_from_db()
        return Response(s.TaskSerializer(task).data)

    @extend_schema(request=s.AssignSerializer, responses=s.TaskSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the task a vehicle (and its driver) and mark it assigned."""
        task = self.get_object()
        body = s.AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        device = get_for_user(
            Device.objects.filter(organization_id=task.organization_id), request.user, pk=body.validated_data["device"]
        )
        try:
            lifecycle.assign(task, device, user=request.user)
        except lifecycle.TransitionError as exc:
            from fleet.api.errors import Conflict

            raise Conflict(str(exc)) from None
        task.refresh_from_db()
        return Response(s.TaskSerializer(task).data)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    organizations = serializers.ListField(child=serializers.DictField())
    token = serializers.DictField(allow_null=True)


class MeView(APIView):
    """Who is calling: the user, their organisations and roles, and the token's scope."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        memberships = Membership.objects.filter(user=request.user).select_related("organization")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "username": request.user.get_username(),
                "organizations": [
                    {"id": m.organization_id, "name": m.organization.name, "role": m.role} for m in memberships
                ],
                "token": {"name": token.name, "scope": token.scope} if token else None,
            }
        )


class GroupViewSet(Scoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.GroupSerializer
    pagination_class = ById
    filterset_fields = ["organization", "account"]

    def base_queryset(self):
        from fleet.tracking.models import DeviceGroup

        return DeviceGroup.objects.filter(retired__isnull=True)


class DriverViewSet(Scoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.DriverSerializer
    pagination_class = ById
    filterset_fields = ["organization", "account", "unique_id"]

    def base_queryset(self):
        from fleet.tracking.models import Driver

        return Driver.objects.filter(retired__isnull=True)


class Admins(permissions.BasePermission):
    """Vendor accounts: the organisation's admins only (members see no account through the API)."""

    message = "Only the organisation's admins see and sync its vendor accounts."

    def has_permission(self, request, view) -> bool:
        return bool(admin_orgs(request.user))


def admin_orgs(user) -> set[int]:
    return org_ids_where(user, (Membership.Role.ADMIN,))


class AccountViewSet(viewsets.ReadOnlyModelViewSet):
    """Vendor accounts without their credentials; ``sync`` queues a sync now."""

    serializer_class = s.AccountSerializer
    pagination_class = ById
    permission_classes = [permissions.IsAuthenticated, TokenScope, Admins]
    filterset_fields = ["organization", "kind", "enabled"]

    def get_queryset(self):
        from fleet.vendors.models import VendorAccount

        return VendorAccount.objects.filter(organization_id__in=admin_orgs(self.request.user))

    @extend_schema(request=None, responses=s.AccountSerializer)
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Queue a sync of the account now (as the Integrations page's "Sync now")."""
        from fleet.vendors import tasks

        account = self.get_object()
        tasks.sync_account.delay(account.pk)
        return Response(s.AccountSerializer(account).data, status=202)


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SyncRunSerializer
    pagination_class = ById
    permission_classes = [permissions.IsAuthenticated, TokenScope, Admins]
    filterset_fields = ["account", "status"]

    def get_queryset(self):
        from fleet.vendors.models import SyncRun

        return SyncRun.objects.filter(account__organization_id__in=admin_orgs(self.request.user))


class RuleViewSet(Scoped, viewsets.ModelViewSet):
    serializer_class = s.RuleSerializer
    pagination_class = ById
    permission_classes = [permissions.IsAuthenticated, TokenScope, Editors]
    filterset_fields = ["organization", "enabled"]

    def base_queryset(self):
        from fleet.events.models import NotificationRule

        return NotificationRule.objects.all()

    def perform_create(self, serializer):
        self.check_org(serializer)
        serializer.save()

    def perform_update(self, serializer):
        self.check_org(serializer)
        serializer.save()
