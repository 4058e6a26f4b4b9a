"""Push geofences created, edited or deleted in fleet, and POIs saved in fleet, to every vendor account of the
organisation whose connector can write them, and tasks to their vehicle's account, recording the vendor's id in
VendorLink. ``fleet.geo.services`` and ``fleet.dispatch.services`` call the schedulers (registered in
``VendorsConfig.ready``); a Celery task per account does the push."""

from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from fleet.dispatch.models import Task, TaskFile
from fleet.geo.models import POI, Geofence
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
    with connector_for(account) as connector:
        return _push(account, geofence, mirror.record_for, connector.create_geofence, connector.update_geofence)


def push_poi(poi: POI, account: VendorAccount) -> VendorLink:
    """Create the POI at the vendor, or update the copy it already has."""
    with connector_for(account) as connector:
        return _push(account, poi, mirror.poi_record, connector.create_poi, connector.update_poi)


def _push(account: VendorAccount, obj: Model, record_for: Callable, create: Callable, update: Callable) -> VendorLink:
    """Update the vendor's copy of ``obj`` when a link names one, else create it and link it; a failure is kept
    on the link (and raised)."""
    ct = ContentType.objects.get_for_model(obj)
    link = VendorLink.objects.filter(account=account, content_type=ct, object_id=obj.pk).first()
    try:
        if link:
            update(record_for(obj, link.vendor_id))
        else:
            link = VendorLink(account=account, content_type=ct, object_id=obj.pk, vendor_id=create(record_for(obj)))
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


def schedule_poi_push(poi: POI) -> None:
    """Queue a push to each account of the organisation whose connector writes POIs (the POI is committed)."""
    from fleet.vendors.tasks import push_poi_task

    for account in writable_accounts(poi.organization_id, base.POI_WRITE):
        push_poi_task.delay(poi.pk, account.pk)


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


def task_account(task: Task) -> VendorAccount | None:
    """The account of the task's vehicle, when it is enabled and its connector writes tasks."""
    account = task.device.account if task.device_id and task.device else None
    if account is None or not account.enabled or account.disabled_by_error:
        return None
    return account if base.TASK_WRITE in capabilities(account.kind) else None


def schedule_task_push(task: Task) -> None:
    """Queue a push of the task to its vehicle's vendor account (the task is saved and committed)."""
    from fleet.vendors.tasks import push_task_task

    if account := task_account(task):
        push_task_task.delay(task.pk, account.pk)


def push_task(task: Task, account: VendorAccount) -> VendorLink:
    """Create the task at the vendor, or update its copy. Before an update the vendor's status is read: one
    changed there since the last agreement wins over fleet's (``mirror.reconcile_status``)."""
    ct = ContentType.objects.get_for_model(Task)
    link = VendorLink.objects.filter(account=account, content_type=ct, object_id=task.pk).first()
    with connector_for(account) as connector:
        try:
            if link:
                theirs = next((r for r in connector.tasks() if r.vendor_id == link.vendor_id), None)
                if theirs is not None and mirror.reconcile_status(task, theirs.status, link.state.get("status")):
                    Task.objects.filter(pk=task.pk).update(status=task.status, attributes=task.attributes)
                connector.update_task(mirror.task_record(task, link.vendor_id))
            else:
                vendor_id = connector.create_task(mirror.task_record(task))
                link = VendorLink(account=account, content_type=ct, object_id=task.pk, vendor_id=vendor_id)
        except VendorError as exc:
            if link and link.pk:
                VendorLink.objects.filter(pk=link.pk).update(push_error=exc.message)
            raise
    link.state = {**link.state, "status": task.status}
    link.last_pushed, link.push_error = timezone.now(), ""
    link.save()
    return link


def schedule_task_file_push(task_file: TaskFile) -> None:
    """Queue the upload of a file added in fleet to its task's vendor account, when its connector takes files."""
    from fleet.vendors.tasks import push_task_file_task

    account = task_account(task_file.task)
    if account and base.TASK_FILES in capabilities(account.kind):
        push_task_file_task.delay(task_file.pk, account.pk)


def push_task_file(task_file: TaskFile, account: VendorAccount) -> VendorLink | None:
    """Upload the file to the vendor's copy of its task, once (a file is never changed); a task not at the vendor
    yet is a transient error (its own push is queued too, so a retry finds it)."""
    ct = ContentType.objects.get_for_model(TaskFile)
    if link := VendorLink.objects.filter(account=account, content_type=ct, object_id=task_file.pk).first():
        return link
    task_ct = ContentType.objects.get_for_model(Task)
    task_link = VendorLink.objects.filter(account=account, content_type=task_ct, object_id=task_file.task_id).first()
    if task_link is None:
        raise VendorError(f"task {task_file.task_id} is not at the vendor yet: its file waits")
    with task_file.file.open("rb") as handle:
        content = handle.read()
    with connector_for(account) as connector:
        vendor_id = connector.upload_task_file(task_link.vendor_id, mirror.task_file_record(task_file), content)
    return VendorLink.objects.create(
        account=account, content_type=ct, object_id=task_file.pk, vendor_id=vendor_id, last_pushed=timezone.now()
    )
