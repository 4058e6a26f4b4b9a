"""Commands to devices for integrators (docs/api.md#commands): the types a device takes now with the attributes
each takes, sending one (a dangerous one only with ``"confirm": true``) by the organisation's admins and
dispatchers, and the command log; through the same service as the commands page (``fleet.vendors.commands``)."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from fleet.api.auth import TokenScope
from fleet.api.errors import Conflict, VendorFailed
from fleet.api.paging import Newest
from fleet.api.views import Editors, Scoped, UtcDateTimeFilter, _scoped, editor_orgs
from fleet.core.scoping import get_for_user
from fleet.tracking.models import Device
from fleet.vendors import commands
from fleet.vendors.errors import VendorError
from fleet.vendors.models import CommandLog


class CommandLogSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, help_text="Who sent it.")
    label = serializers.SerializerMethodField(help_text="The type in plain words.")

    class Meta:
        model = CommandLog
        fields = ["id", "organization", "device", "type", "label", "attributes", "confirmed", "user", "sent_at"]
        fields += ["status", "response"]
        read_only_fields = fields

    def get_label(self, log: CommandLog) -> str:
        return commands.label(log.type)


class SendSerializer(serializers.Serializer):
    device = serializers.IntegerField(help_text="One of the caller's devices.")
    type = serializers.CharField(max_length=64, help_text="One of the types `commands/types/?device=` lists.")
    attributes = serializers.DictField(
        required=False, default=dict, help_text="The type's attributes (`commands/types/` lists them); none: {}."
    )
    confirm = serializers.BooleanField(
        required=False, default=False, help_text="Required true for a dangerous type (engine stop, alarm...)."
    )


AttributeSchema = inline_serializer(
    "CommandAttribute",
    many=True,
    fields={
        "key": serializers.CharField(),
        "label": serializers.CharField(),
        "kind": serializers.ChoiceField(choices=[commands.TEXT, commands.NUMBER, commands.BOOLEAN]),
        "minimum": serializers.IntegerField(help_text="number: the smallest allowed."),
        "maximum": serializers.IntegerField(help_text="number: the largest allowed."),
        "max_length": serializers.IntegerField(help_text="text: the most characters allowed."),
    },
)
TypesSchema = inline_serializer(
    "CommandTypes",
    {
        "device": serializers.IntegerField(),
        "types": inline_serializer(
            "CommandType",
            many=True,
            fields={
                "type": serializers.CharField(),
                "label": serializers.CharField(),
                "dangerous": serializers.BooleanField(help_text="Sending it needs confirm: true."),
                "attributes": AttributeSchema,
            },
        ),
    },
)


class CommandFilter(django_filters.FilterSet):
    device = django_filters.ModelChoiceFilter(queryset=_scoped(Device))
    start = UtcDateTimeFilter(field_name="sent_at", lookup_expr="gte")
    end = UtcDateTimeFilter(field_name="sent_at", lookup_expr="lt")

    class Meta:
        model = CommandLog
        fields = ["device", "type", "status"]


class CommandViewSet(Scoped, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The command log (newest first); POST sends a command; ``types/?device=`` lists what a device takes."""

    model = CommandLog
    serializer_class = CommandLogSerializer
    pagination_class = Newest
    filterset_class = CommandFilter
    permission_classes = [permissions.IsAuthenticated, TokenScope, Editors]

    def base_queryset(self):
        return CommandLog.objects.select_related("user")

    @extend_schema(request=SendSerializer, responses={201: CommandLogSerializer, 202: CommandLogSerializer})
    def create(self, request, *args, **kwargs):
        """Send a command: 201 when the vendor sent it, 202 when it is queued until the device connects, 502 when
        the vendor refused or failed (the attempt is in the log all the same)."""
        body = SendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        device = self._device(given["device"])
        if device.organization_id not in editor_orgs(request.user):
            raise PermissionDenied("Only the organisation's admins and dispatchers send commands.")
        kind = given["type"]
        attributes = _attributes(kind, given["attributes"])
        if kind in commands.DANGEROUS and not given["confirm"]:
            message = f'“{commands.label(kind)}” acts on the vehicle: send "confirm": true to mean it.'
            raise ValidationError({"confirm": [message]})
        types = _types(device)
        if kind not in types:
            listed = ", ".join(types) or "none"
            raise ValidationError({"type": [f"This device does not take “{kind}” commands (it takes: {listed})."]})
        log = commands.send(device, request.user, kind, attributes, given["confirm"])
        if log.status == CommandLog.Status.FAILED:
            raise VendorFailed(f"The vendor did not take the command (log {log.pk}): {log.response}")
        status = 202 if log.status == CommandLog.Status.QUEUED else 201
        return Response(CommandLogSerializer(log).data, status=status)

    @extend_schema(
        parameters=[OpenApiParameter("device", int, required=True, description="One of the caller's devices.")],
        responses=TypesSchema,
    )
    @action(detail=False, pagination_class=None, filter_backends=[])
    def types(self, request):
        """The command types the device takes now, as its vendor says, with the attributes each takes; 409 for a
        device whose vendor takes no commands, 502 when the vendor cannot say."""
        value = request.query_params.get("device", "")
        if not value.isdigit():
            raise ValidationError({"device": ["Give one of your devices' ids."]})
        device = self._device(int(value))
        rows = [
            {
                "type": kind,
                "label": commands.label(kind),
                "dangerous": kind in commands.DANGEROUS,
                "attributes": [_attribute_json(a) for a in commands.attributes_of(kind)],
            }
            for kind in _types(device)
        ]
        return Response({"device": device.pk, "types": rows})

    def _device(self, pk: int) -> Device:
        return get_for_user(Device.objects.select_related("account"), self.request.user, pk=pk)


def _types(device: Device) -> list[str]:
    if not commands.supported(device):
        where = f"its vendor account ({device.account}) does not take commands, or is disabled"
        raise Conflict(f"Commands cannot be sent to this device: {where if device.account else 'it has no account'}.")
    try:
        return commands.types(device)
    except VendorError as exc:
        raise VendorFailed(f"The vendor did not say which commands this device takes: {exc.message}.") from None


def _attributes(kind: str, given: dict) -> dict:
    try:
        return commands.clean_attributes(kind, given)
    except DjangoValidationError as exc:
        raise ValidationError({f"attributes.{k}": v for k, v in exc.message_dict.items()}) from None


def _attribute_json(attribute: commands.Attribute) -> dict:
    return {
        "key": attribute.key,
        "label": attribute.label,
        "kind": attribute.kind,
        "minimum": attribute.minimum,
        "maximum": attribute.maximum,
        "max_length": attribute.max_length,
    }
