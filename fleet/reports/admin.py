from django.contrib import admin
from django.http import HttpRequest

from fleet.core.admin import OrgScopedAdmin
from fleet.reports.models import ReportJob


@admin.register(ReportJob)
class ReportJobAdmin(OrgScopedAdmin):
    """Background report jobs, read-only: they are created by the report pages and written by the worker."""

    list_display = ["id", "kind", "status", "done", "total", "rows", "user", "organization", "created", "finished"]
    list_filter = ["status", "kind", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["error", "user__username"]
    date_hierarchy = "created"
    fields = [
        "organization",
        "user",
        "kind",
        "params",
        "status",
        "done",
        "total",
        "rows",
        "task_id",
        "created",
        "started",
        "finished",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReportJob | None = None) -> bool:
        return False
