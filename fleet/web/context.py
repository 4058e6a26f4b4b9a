"""Template context for every page: which links of the top bar the user can use (computed only when shown)."""

from django.http import HttpRequest

from fleet.core import members


def navigation(request: HttpRequest) -> dict:
    user = request.user

    def uses_admin() -> bool:
        return user.is_active and user.is_staff and bool(user.is_superuser or user.get_all_permissions())

    def manages_members() -> bool:
        return user.is_authenticated and members.managed_organizations(user).exists()

    # Organisation admins manage their members, their vendor integrations and their webhooks.
    return {
        "nav_admin": uses_admin,
        "nav_members": manages_members,
        "nav_integrations": manages_members,
        "nav_webhooks": manages_members,
    }
