"""Failed logins (django-axes) in the admin: superusers only, with an action that unlocks them."""

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest

from fleet.core.admin.users import SuperuserOnly


class LoginAttemptAdmin(SuperuserOnly, AccessAttemptAdmin):
    """Failed logins per username and IP address (django-axes), for superusers only: they name the users of
    every organisation. Unlocking deletes a pair's failures."""

    actions = ["unlock"]

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Unlock the selected logins", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: models.QuerySet[AccessAttempt]) -> None:
        pairs = [f"{a.username} from {a.ip_address}" for a in queryset]
        queryset.delete()
        self.message_user(request, f"Unlocked {len(pairs)} login(s): {', '.join(pairs)}.", messages.SUCCESS)


# axes registers its own admins (unrestricted, and two of them for logs fleet does not keep): replaced.
for model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
admin.site.register(AccessAttempt, LoginAttemptAdmin)
