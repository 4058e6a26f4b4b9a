"""Push geofences created, edited or deleted in fleet to every vendor account of the organisation
whose connector can write them, recording the vendor's id in VendorLink. ``fleet.geo.services``
calls the two schedulers (registered in ``VendorsConfig.ready``); a Celery task per account does the push."""

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from fleet.geo.models import Geofence
from fleet.vendors import base, mirror
from fleet.vendors.errors import VendorError
from fleet.vendors.models import VendorAccount, VendorLink
from fleet.vendors.registry import capabilities
from fleet.vendors.sync import connector_for


def writable_accounts(organization_id: int, capability: str) -> list[VendorAccount]:
    accounts = VendorAccount.objects.filter(organization_id=organization_id, enabled=True, disabled_by_error=False)
    return [a for a in accounts if capability in capabilities(a.kind)]


def push_geofence(geofence: Geofence, account: VendorAccount) -> VendorLink:
    """Create the geofence at the vendor, or update the copy it already has."""
    ct = ContentType.objects.get_for_model(Geofence)
    link = VendorLink.objects.filter(account=account, content_type=ct, object_id=geofence.pk).first()
    with connector_for(account) as connector:
        try:
            if link:
                connector.update_geofence(mirror.record_for(geofence, link.vendor_id))
            else:
                vendor_id = connector.create_geofence(mirror.record_for(geofence))
                link = VendorLink(account=account, content_type=ct, object_id=geofence.pk, vendor_id=vendor_id)
        except VendorError as exc:
            if link and link.pk:
                VendorLink.objects.filter(pk=link.pk).update(push_error=exc.message)
            raise
    link.last_pushed, link.push_error = timezone.now(), ""
    link.save()
    return link


def delete_geofence(account: VendorAccount, vendor_id: str) -> None:
    with connector_for(account) as connector:
        connector.delete_geofence(vendor_id)


def schedule_geofence_push(geofence: Geofence) -> None:
    """Queue a push to each writable account (the geofence is saved and committed)."""
    from fleet.vendors.tasks import push_geofence_task

    for account in writable_accounts(geofence.organization_id, base.GEOFENCE_WRITE):
        push_geofence_task.delay(geofence.pk, account.pk)


def schedule_geofence_delete(geofence: Geofence) -> None:
    """Forget the geofence's links and, once the transaction commits, delete every vendor copy they
    name. Call it before deleting the geofence."""
    from fleet.vendors.tasks import delete_geofence_task

    ct = ContentType.objects.get_for_model(Geofence)
    links = list(VendorLink.objects.filter(content_type=ct, object_id=geofence.pk).select_related("account"))
    for link in links:
        if base.GEOFENCE_WRITE in capabilities(link.account.kind):  # not an account whose kind lost its connector
            transaction.on_commit(lambda a=link.account_id, v=link.vendor_id: delete_geofence_task.delay(a, v))
    VendorLink.objects.filter(pk__in=[link.pk for link in links]).delete()
