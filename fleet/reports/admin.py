from django.contrib import admin
from django.http import HttpRequest

from fleet.core.admin import OrgScopedAdmin, ReadOnlyAdmin
from fleet.reports.models import ReportJob, ScheduledReport
from fleet.reports.schedules import schedule_next


@admin.register(ReportJob)
class ReportJobAdmin(ReadOnlyAdmin):
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


@admin.register(ScheduledReport)
class ScheduledReportAdmin(OrgScopedAdmin):
    """Scheduled reports, to look at and pause; they are made on /reports/scheduled/, which validates the report."""

    list_display = [
        "name",
        "kind",
        "frequency",
        "hour",
        "format",
        "enabled",
        "organization",
        "last_run_at",
        "next_run_at",
    ]
    list_filter = ["enabled", "kind", "frequency", "organization"]
    list_select_related = ["organization", "owner"]
    search_fields = ["name", "recipients", "last_error"]
    fields = [
        "enabled",
        "name",
        "organization",
        "owner",
        "kind",
        "params",
        "period",
        "frequency",
        "weekday",
        "monthday",
        "hour",
        "format",
        "recipients",
        "last_run_at",
        "next_run_at",
        "last_error",
    ]
    readonly_fields = [f for f in fields if f != "enabled"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ScheduledReport, form, change: bool) -> None:
        schedule_next(obj)  # paused: no next run; resumed: the next one from now, not a stale one
        super().save_model(request, obj, form, change)
