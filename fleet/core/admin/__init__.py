"""The admin of organisations, memberships, users and failed logins; ``OrgScopedAdmin``, the base of every admin."""

from fleet.core.admin import logins, organizations, users  # noqa: F401 (they register their admins)
from fleet.core.admin.scoped import (
    OrgScopedAdmin,
    OrgScopedInline,
    ReadOnlyAdmin,
    RetiredFilter,
    ScopedRelatedFieldListFilter,
)

__all__ = ["OrgScopedAdmin", "OrgScopedInline", "ReadOnlyAdmin", "RetiredFilter", "ScopedRelatedFieldListFilter"]
