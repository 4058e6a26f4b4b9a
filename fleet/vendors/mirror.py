"""Mirror vendor objects that fleet can also create (geofences, POIs and tasks) through VendorLink, so
one canonical object can be linked to several vendor accounts.

A task's status can change on both sides: its link's ``state["status"]`` holds the last status fleet and the
vendor agreed on, and ``reconcile_status`` settles a difference (docs/architecture.md, Sync, streams, rate
limits, write-back)."""

from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.geos import GEOSGeometry, Point
from django.db import transaction
from django.utils import timezone

from fleet.dispatch import lifecycle
from fleet.dispatch.models import Task, TaskChange, TaskFile
from fleet.geo.models import POI, Geofence
from fleet.tracking import validate
from fleet.tracking.models import Device
from fleet.tracking.records import GeofenceRecord, PoiRecord, TaskFileRecord, TaskRecord
from fleet.tracking.services import gated
from fleet.tracking.validate import Tally
from fleet.vendors.models import VendorAccount, VendorLink


def linked_ids(account: VendorAccount, model: type) -> dict[str, int]:
    """vendor id -> canonical pk for one account and model."""
    ct = ContentType.objects.get_for_model(model)
    return dict(VendorLink.objects.filter(account=account, content_type=ct).values_list("vendor_id", "object_id"))


def geofence_fields(record: GeofenceRecord) -> dict:
    return {
        "name": record.name,
        "description": record.description,
        "kind": record.kind,
        "geometry": GEOSGeometry(record.wkt, srid=4326),
        "radius_m": record.radius_m,
        "width_m": record.width_m,
        "attributes": record.attributes,
        "retired": None,
    }


def pull_geofences(account: VendorAccount, records: list[GeofenceRecord]) -> Tally:
    """Create or update the account's geofences in fleet, through the validation gate."""
    tally = Tally()
    records = gated(records, lambda record, now: validate.geofence(record), tally)
    ct = ContentType.objects.get_for_model(Geofence)
    links = linked_ids(account, Geofence)
    # Only the account's organisation's geofences: a link to another organisation's object is never followed.
    existing = Geofence.objects.filter(organization_id=account.organization_id).in_bulk(links.values())
    now = timezone.now()
    with transaction.atomic():
        for record in records:
            fields = geofence_fields(record)
            geofence = existing.get(links.get(record.vendor_id))
            if geofence is None:
                # Saved directly, not through geo.services: the vendor's own geofence is not pushed back.
                geofence = Geofence.objects.create(organization_id=account.organization_id, **fields)
                # A link whose object is gone or belongs elsewhere is pointed at the new geofence.
                VendorLink.objects.update_or_create(
                    account=account,
                    content_type=ct,
                    vendor_id=record.vendor_id,
                    defaults={"object_id": geofence.pk, "last_pulled": now},
                )
                tally.created += 1
            elif _differs(geofence, fields):
                Geofence.objects.filter(pk=geofence.pk).update(**fields)
                tally.updated += 1
            else:
                tally.duplicates += 1
    return tally


def retire_geofences(account: VendorAccount, listed: set[str]) -> int:
    """Mark the account's geofences the vendor no longer lists as retired (kept, hidden); return how many."""
    gone = VendorLink.objects.filter(account=account, content_type=ContentType.objects.get_for_model(Geofence))
    ids = gone.exclude(vendor_id__in=listed).values("object_id")
    mine = Geofence.objects.filter(organization_id=account.organization_id, pk__in=ids, retired__isnull=True)
    return mine.update(retired=timezone.now())


def _differs(geofence: Geofence, fields: dict) -> bool:
    for key, value in fields.items():
        current = getattr(geofence, key)
        if key == "geometry":
            if not current.equals_exact(value, tolerance=1e-9):
                return True
        elif current != value:
            return True
    return False


def record_for(geofence: Geofence, vendor_id: str = "") -> GeofenceRecord:
    return GeofenceRecord(
        vendor_id=vendor_id,
        name=geofence.name,
        kind=geofence.kind,
        wkt=geofence.geometry.wkt,
        radius_m=geofence.radius_m,
        width_m=geofence.width_m,
        description=geofence.description,
        attributes=geofence.attributes,
    )


def reconcile_status(task: Task, vendor_status: str, agreed: str | None) -> bool:
    """Settle the task's status with the vendor's, given the last status both agreed on; return whether the
    task changed (not saved). A status changed only at the vendor comes to fleet; one changed only in fleet
    stays (its push carries it); one changed on both sides keeps the vendor's, and fleet's discarded change
    goes on the task's history (``attributes["history"]``)."""
    if vendor_status in (agreed, task.status):
        return False
    if agreed is not None and task.status != agreed:  # both sides changed it, differently
        entry = {"at": timezone.now().isoformat(), "field": "status", "discarded": task.status}
        entry |= {"kept": vendor_status, "why": "changed at the vendor too: the vendor's status is kept"}
        task.attributes = {**task.attributes, "history": [*task.attributes.get("history", []), entry]}
    task.status = vendor_status
    return True


def pull_tasks(account: VendorAccount, records: list[TaskRecord]) -> Tally:
    """The vendor's tasks in fleet: new ones created (or an unlinked task of the same order_ref linked), the
    status of linked ones reconciled. Saved directly, not through dispatch.services: nothing is echoed back.
    A fixed number of queries, whatever the number of tasks."""
    tally = Tally()
    records = gated(records, validate.task, tally)
    ct = ContentType.objects.get_for_model(Task)
    links = {link.vendor_id: link for link in VendorLink.objects.filter(account=account, content_type=ct)}
    tasks = Task.objects.filter(organization_id=account.organization_id)
    existing = tasks.in_bulk([link.object_id for link in links.values()])
    unlinked = tasks.filter(order_ref__in=[r.order_ref for r in records]).exclude(pk__in=existing)
    by_ref = {t.order_ref: t for t in unlinked}
    devices = dict(Device.objects.filter(account=account).values_list("vendor_id", "pk"))
    new, changed, settled = [], [], []  # (record, task) of the new tasks; tasks whose status moved; the rest
    steps = []  # (task, old status) for the tasks' timelines
    for record in records:
        link = links.get(record.vendor_id)
        task = (existing.get(link.object_id) if link else None) or by_ref.get(record.order_ref)
        if task is None:
            task = Task(organization_id=account.organization_id, status=record.status, **task_fields(record, devices))
            new.append((record, task))
            steps.append((task, ""))
        else:
            before = task.status
            if reconcile_status(task, record.status, link.state.get("status") if link else None):
                changed.append(task)
                if task.status != before:
                    steps.append((task, before))
        settled.append((record, task))
    now = timezone.now()
    with transaction.atomic():
        Task.objects.bulk_create([task for _, task in new])
        Task.objects.bulk_update(changed, ["status", "attributes"])
        steps_kept = TaskChange.objects.bulk_create(  # the vendor's moves on the timelines (dispatch/lifecycle.py)
            TaskChange(
                task=task,
                time=now,
                old=old,
                new=task.status,
                source=TaskChange.Source.VENDOR,
                note=f"from {account.name}",
            )
            for task, old in steps
        )
        lifecycle.recorded(steps_kept)
        fresh, moved = [], []
        for record, task in settled:
            link = links.get(record.vendor_id)
            state = {**(link.state if link else {}), "status": record.status}
            if link is None:
                fresh.append(VendorLink(account=account, content_type=ct, vendor_id=record.vendor_id))
                link = fresh[-1]
            else:
                moved.append(link)
            link.object_id, link.last_pulled, link.state = task.pk, now, state
        VendorLink.objects.bulk_create(fresh)
        VendorLink.objects.bulk_update(moved, ["object_id", "last_pulled", "state"])
    tally.created, tally.updated = len(new), len(changed)
    tally.duplicates += len(settled) - len(new) - len(changed)
    return tally


def task_fields(record: TaskRecord, devices: dict[str, int]) -> dict:
    return {
        "order_ref": record.order_ref,
        "title": record.title,
        "device_id": devices.get(record.device_id or ""),
        "destination": Point(record.longitude, record.latitude, srid=4326),
        "destination_address": record.address,
        "planned_start": record.planned_start,
        "planned_stop": record.planned_stop,
        "attributes": {k: v for k, v in record.attributes.items() if v is not None},
    }


def task_record(task: Task, vendor_id: str = "") -> TaskRecord:
    return TaskRecord(
        vendor_id=vendor_id,
        order_ref=task.order_ref,
        latitude=task.destination.y,
        longitude=task.destination.x,
        device_id=task.device.vendor_id if task.device else None,
        title=task.title,
        status=task.status,
        planned_start=task.planned_start,
        planned_stop=task.planned_stop,
        address=task.destination_address,
    )


POI_ATTRIBUTES = ("purpose", "contact_name", "contact_phone")  # PoiRecord.attributes that are POI fields


def pull_pois(account: VendorAccount, records: list[PoiRecord]) -> Tally:
    """Create or update the account's POIs in fleet, through the validation gate (saved directly: not pushed
    back)."""
    tally = Tally()
    records = gated(records, lambda record, now: validate.poi(record), tally)
    ct = ContentType.objects.get_for_model(POI)
    links = linked_ids(account, POI)
    existing = POI.objects.filter(organization_id=account.organization_id).in_bulk(links.values())
    now = timezone.now()
    with transaction.atomic():
        for record in records:
            fields = poi_fields(record)
            poi = existing.get(links.get(record.vendor_id))
            if poi is None:
                poi = POI.objects.create(organization_id=account.organization_id, **fields)
                VendorLink.objects.update_or_create(
                    account=account,
                    content_type=ct,
                    vendor_id=record.vendor_id,
                    defaults={"object_id": poi.pk, "last_pulled": now},
                )
                tally.created += 1
            elif any(getattr(poi, k) != v for k, v in fields.items() if k != "point") or not poi.point.equals_exact(
                fields["point"], tolerance=1e-9
            ):
                POI.objects.filter(pk=poi.pk).update(**fields)
                tally.updated += 1
            else:
                tally.duplicates += 1
    return tally


def poi_fields(record: PoiRecord) -> dict:
    attrs = record.attributes
    purpose = attrs.get("purpose") if attrs.get("purpose") in POI.Purpose.values else POI.Purpose.POI
    return {
        "name": record.name,
        "description": record.description,
        "purpose": purpose,
        "point": Point(record.longitude, record.latitude, srid=4326),
        "radius_m": record.radius_m,
        "address": record.address,
        "contact_name": str(attrs.get("contact_name") or "")[:200],
        "contact_phone": str(attrs.get("contact_phone") or "")[:50],
        "attributes": {k: v for k, v in attrs.items() if k not in POI_ATTRIBUTES},
    }


def poi_record(poi: POI, vendor_id: str = "") -> PoiRecord:
    attrs = {**poi.attributes, "purpose": poi.purpose, "contact_name": poi.contact_name}
    return PoiRecord(
        vendor_id=vendor_id,
        name=poi.name,
        latitude=poi.point.y,
        longitude=poi.point.x,
        radius_m=poi.radius_m,
        description=poi.description,
        address=poi.address,
        attributes=attrs | {"contact_phone": poi.contact_phone},
    )


def pull_task_files(account: VendorAccount, records: list[TaskFileRecord]) -> Tally:
    """The vendor's files of the tasks fleet knows, as metadata on their task (the files fleet uploaded are
    linked already: only their metadata is refreshed). A file of a task fleet does not know is counted and
    skipped."""
    tally = Tally()
    records = gated(records, validate.task_file, tally)
    tasks = linked_ids(account, Task)
    links = linked_ids(account, TaskFile)
    existing = TaskFile.objects.filter(organization_id=account.organization_id).in_bulk(links.values())
    ct = ContentType.objects.get_for_model(TaskFile)
    new_links, now = [], timezone.now()
    with transaction.atomic():
        for record in records:
            fields = task_file_fields(record)
            task_file = existing.get(links.get(record.vendor_id))
            if task_file is not None:
                changed = any(getattr(task_file, k) != v for k, v in fields.items())
                if changed:
                    TaskFile.objects.filter(pk=task_file.pk).update(**fields)
                tally.updated += changed
                tally.duplicates += not changed
            elif record.task_id not in tasks:
                tally.reject("task unknown to fleet", record.vendor_id)
            else:
                org, task = account.organization_id, tasks[record.task_id]
                task_file = TaskFile.objects.create(organization_id=org, task_id=task, **fields)
                new_links.append(VendorLink(account=account, content_type=ct, object_id=task_file.pk))
                new_links[-1].vendor_id, new_links[-1].last_pulled = record.vendor_id, now
                tally.created += 1
        VendorLink.objects.bulk_create(new_links)
    return tally


def task_file_fields(record: TaskFileRecord) -> dict:
    fields = ("name", "mime", "kind", "uploaded", "sender")
    return {name: getattr(record, name) for name in fields}


def task_file_record(task_file: TaskFile, vendor_id: str = "") -> TaskFileRecord:
    return TaskFileRecord(
        vendor_id=vendor_id,
        task_id="",
        name=task_file.name,
        mime=task_file.mime,
        kind=task_file.kind,
        uploaded=task_file.uploaded,
    )
