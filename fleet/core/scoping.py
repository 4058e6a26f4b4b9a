"""The one place that decides what a user may see: every view, admin, API and socket goes through here."""

from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.http import Http404

from fleet.core.models import Membership, Organization

M = TypeVar("M", bound=models.Model)
User = AbstractBaseUser | AnonymousUser
MAX_PK = 2**63 - 1  # the largest id a 64-bit key holds


def org_lookup(model: type[models.Model]) -> str:
    """The ORM path from a model to its Organization (``org_path`` on the model, else ``organization``)."""
    if model is Organization:
        return "pk"
    return getattr(model, "org_path", "organization")


def is_org_scoped(model: type[models.Model]) -> bool:
    """Whether rows of ``model`` belong to organisations (so ``for_user`` can scope them)."""
    if model is Organization or hasattr(model, "org_path"):
        return True
    return any(field.name == "organization" and field.related_model is Organization for field in model._meta.fields)


def org_ids_for_user(user: User, roles: tuple[str, ...] | None = None) -> list[int]:
    if not user.is_authenticated:
        return []
    memberships = Membership.objects.filter(user=user)
    if roles:
        memberships = memberships.filter(role__in=roles)
    return list(memberships.values_list("organization_id", flat=True))


def for_user(queryset: models.QuerySet[M], user: User) -> models.QuerySet[M]:
    """Restrict a queryset to the user's organisations; superusers see everything."""
    if user.is_authenticated and user.is_superuser:
        return queryset
    lookup = org_lookup(queryset.model)
    return queryset.filter(**{f"{lookup}__in": org_ids_for_user(user)})


def get_for_user(queryset: models.QuerySet[M], user: User, **lookup: object) -> M:
    """Fetch one object the user may see, or raise Http404 (never 403: do not reveal that it exists)."""
    try:
        return for_user(queryset, user).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc


def parse_pk(value: object) -> int | None:
    """An id from a query string or a form, or None: ASCII digits only (``"²".isdigit()`` is true, yet
    ``int("²")`` fails) and no larger than a 64-bit key."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    pk = int(value)
    return pk if 0 < pk <= MAX_PK else None


def organizations_for_user(user: User) -> models.QuerySet[Organization]:
    return for_user(Organization.objects.all(), user)


EDITORS = (Membership.Role.ADMIN, Membership.Role.DISPATCHER)  # who changes an organisation's shapes, tasks, rules


def org_ids_where(user: User, roles: tuple[str, ...]) -> set[int]:
    """Ids of the organisations where the user has one of ``roles`` (superusers: all)."""
    if user.is_authenticated and user.is_superuser:
        return set(Organization.objects.values_list("pk", flat=True))
    return set(org_ids_for_user(user, roles))


def organizations_where(user: User, roles: tuple[str, ...]) -> models.QuerySet[Organization]:
    """The organisations where the user has one of ``roles`` (superusers: all)."""
    if user.is_authenticated and user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(pk__in=org_ids_for_user(user, roles))
