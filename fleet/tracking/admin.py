from datetime import UTC, datetime

from django.contrib import admin
from django.http import HttpRequest
from leaflet.admin import LeafletGeoAdmin

from fleet.core.admin import OrgScopedAdmin, ReadOnlyAdmin, RetiredFilter
from fleet.tracking.models import (
    Beacon,
    Device,
    DeviceGroup,
    Driver,
    DriverAssignment,
    Event,
    GpxImport,
    IngestBacklog,
    Position,
)


@admin.register(DeviceGroup)
class DeviceGroupAdmin(OrgScopedAdmin):
    list_display = ["name", "parent", "organization", "account", "retired"]
    list_filter = ["organization", RetiredFilter]
    search_fields = ["name"]


@admin.register(Driver)
class DriverAdmin(OrgScopedAdmin):
    list_display = ["name", "unique_id", "phone", "licence", "organization", "account", "retired"]
    list_filter = ["organization", "account", RetiredFilter]
    search_fields = ["name", "unique_id", "phone", "licence"]


@admin.register(DriverAssignment)
class DriverAssignmentAdmin(OrgScopedAdmin):
    list_display = ["driver", "device", "start", "end", "source", "organization"]
    list_filter = ["organization", "source"]
    search_fields = ["driver__name", "device__name"]
    list_select_related = ["driver", "device", "organization"]
    raw_id_fields = ["device", "driver"]


@admin.register(Device)
class DeviceAdmin(OrgScopedAdmin):
    list_display = [
        "name",
        "unique_id",
        "plate",
        "category",
        "status",
        "last_update",
        "last_fix_time",
        "account",
        "group",
        "retired",
    ]
    list_filter = ["status", RetiredFilter, "organization", "account__kind", "account", "category", "disabled"]
    search_fields = ["name", "unique_id", "plate", "vendor_id", "phone"]
    list_select_related = ["account", "group"]
    readonly_fields = Device.LIVE_FIELDS


@admin.register(Beacon)
class BeaconAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["__str__", "uuid", "major", "minor", "floor", "last_seen", "battery_level", "account", "retired"]
    list_filter = ["organization", "account", "floor", RetiredFilter]
    search_fields = ["name", "uuid", "vendor_id"]


@admin.register(Position)
class PositionAdmin(OrgScopedAdmin):
    """The biggest table: no full counts, no unbounded sorting, device via autocomplete."""

    list_display = ["device", "fix_time", "latitude", "longitude", "speed", "course", "valid", "server_time"]
    list_filter = ["valid", "device__account__kind"]
    search_fields = ["device__name", "device__unique_id"]
    list_select_related = ["device"]
    show_full_result_count = False
    autocomplete_fields = ["device"]
    ordering = ["-fix_time"]


@admin.register(Event)
class EventAdmin(OrgScopedAdmin):
    list_display = ["type", "device", "time", "geofence", "task"]
    list_filter = ["type", "organization"]
    search_fields = ["device__name", "type"]
    list_select_related = ["device", "geofence", "task"]
    autocomplete_fields = ["device"]
    raw_id_fields = ["position"]
    show_full_result_count = False


@admin.register(GpxImport)
class GpxImportAdmin(ReadOnlyAdmin):
    """GPX import jobs, read-only: created by the upload page and written by the worker (the file is not shown)."""

    list_display = ["id", "file_name", "device", "status", "done", "total", "user", "organization", "created"]
    list_filter = ["status", "organization"]
    list_select_related = ["device", "user", "organization"]
    search_fields = ["file_name", "error", "summary", "user__username"]
    date_hierarchy = "created"
    fields = [
        "organization",
        "device",
        "user",
        "file_name",
        "timezone",
        "status",
        "done",
        "total",
        "summary",
        "warned",
        "error",
        "task_id",
        "created",
        "started",
        "finished",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).defer("data")


@admin.register(IngestBacklog)
class IngestBacklogAdmin(ReadOnlyAdmin):
    """Stored batches the event engine has not evaluated yet (``ingest``). A row older than a minute or two means
    a process died between storing and evaluating, or the engine failed on the batch: the beat's
    ``recover_ingest_backlog`` replays it and deletes the row (its log says so). A row that stays is a batch the
    engine fails on every time; deleting it gives up on evaluating those fixes."""

    list_display = ["id", "organization", "created", "devices", "first_fix"]
    list_filter = ["organization"]
    list_select_related = ["organization"]
    date_hierarchy = "created"
    ordering = ["created"]
    fields = ["organization", "created", "since"]
    readonly_fields = fields

    @admin.display(description="devices")
    def devices(self, obj: IngestBacklog) -> int:
        return len(obj.since or {})

    @admin.display(description="first fix (UTC)")
    def first_fix(self, obj: IngestBacklog) -> str:
        epochs = [v for v in (obj.since or {}).values() if isinstance(v, int | float)]
        return datetime.fromtimestamp(min(epochs), UTC).strftime("%Y-%m-%d %H:%M:%S") if epochs else "-"
