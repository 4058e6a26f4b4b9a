from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from fleet.core.admin import OrgScopedAdmin
from fleet.dispatch import services
from fleet.dispatch.models import Task


@admin.register(Task)
class TaskAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["order_ref", "title", "status", "device", "driver", "planned_start", "planned_stop", "arrived"]
    list_filter = ["status", "organization"]
    search_fields = ["order_ref", "title", "destination_address", "notes"]
    list_select_related = ["device", "driver"]
    date_hierarchy = "planned_start"

    def save_model(self, request, obj: Task, form, change: bool) -> None:
        """Through the service, so a task saved here reaches its vehicle's vendor."""
        services.save_task(obj)
