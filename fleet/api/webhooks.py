"""Webhook endpoints through the API (the organisation's admins only): create (the signing secret is in the
answer once), change, delete, send a test, a new secret, and each endpoint's delivery log."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fleet.api.auth import TokenScope
from fleet.api.paging import ById, Newest
from fleet.core.models import Membership, Organization
from fleet.core.scoping import org_ids_where
from fleet.webhooks import send
from fleet.webhooks.kinds import TYPES
from fleet.webhooks.models import Attempt, Delivery, Endpoint, new_secret


def admin_orgs(user) -> set[int]:
    return org_ids_where(user, (Membership.Role.ADMIN,))


class Admins(permissions.BasePermission):
    message = "Only the organisation's admins see and change its webhooks."

    def has_permission(self, request, view) -> bool:
        return bool(admin_orgs(request.user))


class EndpointSerializer(serializers.ModelSerializer):
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(TYPES)), required=False, help_text="None: every type."
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "organization",
            "name",
            "url",
            "types",
            "active",
            "created",
            "consecutive_failures",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ]
        read_only_fields = ["id", "created", "consecutive_failures", "failing_since", "disabled_at", "disabled_reason"]
        validators = []

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        orgs = admin_orgs(user) if user is not None and user.is_authenticated else set()
        fields["organization"].queryset = Organization.objects.filter(pk__in=orgs)
        return fields

    def validate(self, data: dict) -> dict:
        org = data.get("organization", getattr(self.instance, "organization", None))
        name = data.get("name")
        same = Endpoint.objects.filter(organization=org, name=name)
        if name and same.exclude(pk=getattr(self.instance, "pk", None)).exists():
            raise serializers.ValidationError({"name": f"The organisation already has a webhook {name}."})
        return data


class CreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown in this answer only: keep it.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "at", "status_code", "error", "duration_ms"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    attempts_made = AttemptSerializer(source="tries", many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "uuid",
            "type",
            "created",
            "status",
            "attempts",
            "next_at",
            "last_code",
            "last_error",
            "finished",
            "attempts_made",
        ]
        read_only_fields = fields


def _admin_orgs(request):
    return Organization.objects.filter(pk__in=admin_orgs(request.user)) if request else Organization.objects.none()


class EndpointFilter(django_filters.FilterSet):
    organization = django_filters.ModelChoiceFilter(queryset=_admin_orgs)

    class Meta:
        model = Endpoint
        fields = ["organization", "active"]


class WebhookViewSet(viewsets.ModelViewSet):
    """An organisation's webhook endpoints (docs/api.md#webhooks)."""

    serializer_class = EndpointSerializer
    pagination_class = ById
    permission_classes = [permissions.IsAuthenticated, TokenScope, Admins]
    filterset_class = EndpointFilter

    def get_queryset(self):
        return Endpoint.objects.filter(organization_id__in=admin_orgs(self.request.user))

    @extend_schema(responses={201: CreatedSerializer})
    def create(self, request, *args, **kwargs):
        """Make an endpoint; the answer holds its signing secret, this once."""
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = self._full_clean(Endpoint(**body.validated_data))
        endpoint.save()
        return Response(CreatedSerializer(endpoint, context=self.get_serializer_context()).data, status=201)

    def perform_update(self, serializer):
        endpoint = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(endpoint, field, value)
        self._full_clean(endpoint).save()

    @staticmethod
    def _full_clean(endpoint: Endpoint) -> Endpoint:
        from django.core.exceptions import ValidationError as ModelError

        try:
            endpoint.full_clean(validate_constraints=False)
        except ModelError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return endpoint

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a test message now (one attempt; see it in the deliveries)."""
        delivery = send.send_test(self.get_object())
        return Response(DeliverySerializer(delivery).data, status=202)

    @extend_schema(request=None, responses=SecretSerializer)
    @action(detail=True, methods=["post"], url_path="new-secret")
    def new_secret(self, request, pk=None):
        """Replace the signing secret (the old one stops at once); the answer holds the new one, this once."""
        endpoint = self.get_object()
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret"])
        return Response({"secret": endpoint.secret})

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, pagination_class=Newest, filter_backends=[])
    def deliveries(self, request, pk=None):
        """The endpoint's delivery log, newest first, each with its attempts."""
        endpoint = self.get_object()
        rows = Delivery.objects.filter(endpoint=endpoint).prefetch_related("tries")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
