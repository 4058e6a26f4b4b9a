"""Users, groups and API tokens span every organisation: their admins are for superusers only, whatever
permissions another staff user holds (organisation admins manage their members on the Members page)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

SUPERUSER_ONLY = [get_user_model(), Group, TokenProxy]


class SuperuserOnly:
    """No view, add, change or delete, and no entry on the admin index, for anyone but a superuser."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_module_permission(request)


def restrict_to_superusers(site: admin.AdminSite, model: type[models.Model]) -> None:
    """Re-register ``model``'s admin (Django's or a package's) with ``SuperuserOnly`` in front."""
    current = type(site.get_model_admin(model))
    site.unregister(model)
    site.register(model, type(f"SuperuserOnly{current.__name__}", (SuperuserOnly, current), {}))


for _model in SUPERUSER_ONLY:
    if admin.site.is_registered(_model):
        restrict_to_superusers(admin.site, _model)
