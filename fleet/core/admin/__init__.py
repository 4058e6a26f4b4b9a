"""The admin of organisations, memberships and users, and ``OrgScopedAdmin``, the base of every app's admin."""

from fleet.core.admin import organizations, users  # noqa: F401 (they register their admins)
from fleet.core.admin.scoped import OrgScopedAdmin, OrgScopedInline, RetiredFilter, ScopedRelatedFieldListFilter

__all__ = ["OrgScopedAdmin", "OrgScopedInline", "RetiredFilter", "ScopedRelatedFieldListFilter"]
