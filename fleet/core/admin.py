from typing import Any

from django.contrib import admin
from django.db import models
from django.http import Http404, HttpRequest

from fleet.core.models import Membership, Organization
from fleet.core.scoping import for_user


class OrgScopedAdmin(admin.ModelAdmin):
    """Every admin list, form choice and object lookup limited to the user's organisations."""

    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return for_user(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if related is Organization or hasattr(related, "organization") or hasattr(related, "org_path"):
            kwargs["queryset"] = for_user(related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # Another organisation's object must look exactly like a missing one.
        raise Http404(f"No {opts.verbose_name} with id {object_id!r}.")


class RetiredFilter(admin.SimpleListFilter):
    """Objects a vendor still lists, or those it stopped listing (``retired``)."""

    title = "listed by the vendor"
    parameter_name = "retired"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("no", "Listed"), ("yes", "Retired")]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(retired__isnull=self.value() == "no")
        return queryset


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdmin):
    list_display = ["name", "slug", "timezone", "speed_unit", "distance_unit", "created"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "timezone"]}),
        ("Units", {"fields": ["speed_unit", "distance_unit", "volume_unit"]}),
        (
            "Reports and live map",
            {
                "fields": [
                    "min_trip_distance_m",
                    "min_trip_duration_s",
                    "min_parking_duration_s",
                    "min_no_data_gap_s",
                    "speed_threshold_kmh",
                    "use_ignition",
                    "trip_needs_distance_and_duration",
                    "stale_after_minutes",
                ]
            },
        ),
    ]


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user"]
