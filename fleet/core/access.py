"""Who may open the pages that not every member opens. The pages ask here, and so does the top bar, which shows
a link only to those its page opens for. Every member opens the organisation's own pages (map, devices, places,
reports, dispatch, alerts, vendor accounts, API tokens); viewers see them read-only."""

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from fleet.core import members
from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, User, org_ids_where


def uses_admin(request: HttpRequest, site: admin.AdminSite | None = None) -> bool:
    """The Django admin opens for active staff users it has something to show: an app they may see there."""
    user = request.user
    return user.is_active and user.is_staff and bool((site or admin.site).get_app_list(request))


def administered(user: User) -> models.QuerySet[Organization]:
    """The organisations the user administers: their members and vendor integrations are theirs to manage."""
    return members.managed_organizations(user)


def manages_members(user: User) -> bool:
    return user.is_authenticated and administered(user).exists()


manages_integrations = manages_members
manages_webhooks = manages_members  # an organisation's webhooks are its admins' too


def shares_locations(user: User) -> bool:
    """Admins and dispatchers share a vehicle's live location (``/shares/``)."""
    return user.is_authenticated and bool(org_ids_where(user, EDITORS))
