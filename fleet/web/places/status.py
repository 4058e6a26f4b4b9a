"""Where a geofence or POI came from and how its pushes to the organisation's vendor accounts stand, read from
``VendorLink``: a link with ``last_pulled`` names the account it was pulled from; per account that can take
this kind of object, the push is done (pushed, or pulled and unchanged since), failed (with the vendor's
reason) or pending (saved since, or never pushed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model

from fleet.vendors.models import VendorAccount, VendorLink
from fleet.vendors.registry import CONNECTORS, capabilities

# A pulled object is stored just after its link's last_pulled time is taken (one sync transaction): saved
# later than this after it, it was changed in fleet.
PULL_SLACK = timedelta(seconds=60)


@dataclass
class Push:
    account: str
    state: str  # pending, done, failed
    error: str = ""


@dataclass
class Origin:
    source: VendorAccount | None = None  # None: made in fleet
    pushes: list[Push] = field(default_factory=list)
    read_only: str = ""  # why it cannot be edited in fleet, when it cannot

    @property
    def source_label(self) -> str:
        return "fleet" if self.source is None else self.source.name


def _state(link: VendorLink | None, updated) -> tuple[str, str]:
    if link is None:
        return "pending", ""
    if link.push_error:
        return "failed", link.push_error
    if link.last_pushed and link.last_pushed >= updated:
        return "done", ""
    if link.last_pulled and not link.last_pushed and updated <= link.last_pulled + PULL_SLACK:
        return "done", ""
    return "pending", ""


def origins(objects: list[Model], capability: str) -> dict[int, Origin]:
    """Each object's Origin, by pk (two queries for the lot)."""
    if not objects:
        return {}
    ct = ContentType.objects.get_for_model(objects[0])
    links: dict[int, dict[int, VendorLink]] = {}
    query = VendorLink.objects.filter(content_type=ct, object_id__in=[o.pk for o in objects]).select_related("account")
    for link in query:
        links.setdefault(link.object_id, {})[link.account_id] = link
    accounts = VendorAccount.objects.filter(
        organization_id__in={o.organization_id for o in objects}, enabled=True, disabled_by_error=False
    ).order_by("name")
    writable = [a for a in accounts if capability in capabilities(a.kind)]
    return {o.pk: _origin(o, links.get(o.pk, {}), writable, capability) for o in objects}


def _origin(obj: Model, links: dict[int, VendorLink], writable: list[VendorAccount], capability: str) -> Origin:
    pulled = [link for link in links.values() if link.last_pulled]
    origin = Origin(source=pulled[0].account if pulled else None)
    for account in writable:
        if account.organization_id == obj.organization_id:
            origin.pushes.append(Push(account.name, *_state(links.get(account.pk), obj.updated)))
    if origin.source is not None and capability not in capabilities(origin.source.kind):
        vendor = CONNECTORS.get(origin.source.kind, (origin.source.kind,))[0]
        origin.read_only = f"Pulled from {origin.source.name}: {vendor} cannot take changes from fleet; edit it there."
    return origin
