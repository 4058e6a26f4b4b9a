"""Template context for every page: which links of the top bar the user may open (``fleet.core.access``, which
the pages themselves ask; computed only when shown)."""

from django.http import HttpRequest

from fleet.core import access


def navigation(request: HttpRequest) -> dict:
    user = request.user
    return {
        "nav_admin": lambda: access.uses_admin(request),
        "nav_members": lambda: access.manages_members(user),
        "nav_integrations": lambda: access.manages_integrations(user),
        "nav_webhooks": lambda: access.manages_webhooks(user),
        "nav_shares": lambda: access.shares_locations(user),
    }
