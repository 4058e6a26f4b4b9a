"""Mirror vendor objects that fleet can also create (geofences today; POIs and tasks later)
through VendorLink, so one canonical object can be linked to several vendor accounts."""

from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction
from django.utils import timezone

from fleet.geo.models import Geofence
from fleet.tracking import validate
from fleet.tracking.records import GeofenceRecord
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
