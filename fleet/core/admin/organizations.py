"""Admin for organisations and memberships. Only superusers add organisations and memberships or pick users;
an organisation admin changes roles and removes members of the organisations they administer, under the rules
of ``fleet.core.members`` (the dashboard's Members page is where they invite people)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from fleet.core import members
from fleet.core.admin.scoped import OrgScopedAdmin, OrgScopedInline
from fleet.core.models import Membership, Organization


def superuser(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_superuser


class MembershipInline(OrgScopedInline):
    """Read-only except for superusers: organisation admins use the Members page or the Membership admin."""

    model = Membership
    extra = 1
    autocomplete_fields = ["user"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return superuser(request)


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
                    "stop_radius_m",
                    "min_no_data_gap_s",
                    "speed_threshold_kmh",
                    "max_speed_kmh",
                    "use_ignition",
                    "trip_needs_distance_and_duration",
                    "stale_after_minutes",
                ]
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new organisation has no members: only a superuser would ever see it again.
        return superuser(request)


class MembershipForm(forms.ModelForm):
    """A role change that would leave the organisation without an admin is refused (superusers excepted)."""

    enforce_rules = True

    class Meta:
        model = Membership
        fields = ["user", "organization", "role"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        demoted = self.enforce_rules and self.instance.pk and role != members.ADMIN
        if demoted and members.left_without_admin([Membership.objects.get(pk=self.instance.pk)]):
            raise forms.ValidationError(members.needs_an_admin(self.instance.organization))
        return role


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        fields = super().get_readonly_fields(request, obj)
        return fields if superuser(request) else [*fields, "organization"]

    def get_form(self, request: HttpRequest, obj: Membership | None = None, **kwargs: Any) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, **kwargs)
        form.enforce_rules = not superuser(request)
        return form

    def has_add_permission(self, request: HttpRequest) -> bool:
        return superuser(request)  # organisation admins invite on the Members page

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    def _manages(self, request: HttpRequest, obj: Membership | None) -> bool:
        return obj is None or superuser(request) or members.manages(request.user, obj.organization)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Deletions the rules refuse show as protected objects: the admin then deletes nothing."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if not superuser(request):
            protected = [*protected, *self._refusals(list(objs), request)]
        return deleted, counts, perms_needed, protected

    def _refusals(self, memberships: list[Membership], request: HttpRequest) -> list[str]:
        managed = set(members.managed_organizations(request.user).values_list("pk", flat=True))
        others = [m for m in memberships if m.organization_id not in managed]
        refused = [f"{m}: you are not an admin of {m.organization}" for m in others]
        return refused + [members.needs_an_admin(org) for org in members.left_without_admin(memberships)]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "organization")
