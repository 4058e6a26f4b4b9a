"""The admin site: Django's, opened only to staff users it has something to show (``fleet.core.access``), so
that the top bar's Admin link and the admin agree; a staff user without permissions gets the admin's login
page saying they are not authorised, not an empty index."""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class FleetAdminSite(AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        from fleet.core.access import uses_admin

        return uses_admin(request, self)


class FleetAdminConfig(AdminConfig):
    default_site = "fleet.core.adminsite.FleetAdminSite"
