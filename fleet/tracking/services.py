"""Model services: upsert what connectors report, in bulk, keyed by (account, vendor_id)."""

from collections.abc import Iterable
from typing import Any

from django.contrib.gis.geos import Point
from django.db import connection, models, transaction

from fleet.tracking.models import Beacon, Device, DeviceGroup, Driver, Event
from fleet.tracking.records import BeaconRecord, DeviceRecord, DriverRecord, EventRecord, GroupRecord


def upsert(model: type[models.Model], org_id: int, account_id: int, rows: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """Create or update ``model`` rows of one account from {vendor_id: fields}; return (created, updated)."""
    existing = {o.vendor_id: o for o in model.objects.filter(account_id=account_id, vendor_id__in=rows.keys())}
    new, changed, fields = [], [], set()
    for vendor_id, values in rows.items():
        obj = existing.get(vendor_id)
        if obj is None:
            new.append(model(organization_id=org_id, account_id=account_id, vendor_id=vendor_id, **values))
            continue
        diff = {k: v for k, v in values.items() if getattr(obj, k) != v}
        if diff:
            for k, v in diff.items():
                setattr(obj, k, v)
            changed.append(obj)
            fields |= diff.keys()
    with transaction.atomic():
        model.objects.bulk_create(new, ignore_conflicts=True)
        if changed:
            model.objects.bulk_update(changed, sorted(fields), batch_size=500)
    return len(new), len(changed)


def vendor_pks(model: type[models.Model], account_id: int) -> dict[str, int]:
    return dict(model.objects.filter(account_id=account_id).values_list("vendor_id", "pk"))


def upsert_groups(org_id: int, account_id: int, records: Iterable[GroupRecord]) -> tuple[int, int]:
    records = list(records)
    counts = upsert(
        DeviceGroup, org_id, account_id, {r.vendor_id: {"name": r.name, "attributes": r.attributes} for r in records}
    )
    pks = vendor_pks(DeviceGroup, account_id)  # parents once every group exists
    upsert(DeviceGroup, org_id, account_id, {r.vendor_id: {"parent_id": pks.get(r.parent_id)} for r in records})
    return counts


def upsert_drivers(org_id: int, account_id: int, records: Iterable[DriverRecord]) -> tuple[int, int]:
    rows = {
        r.vendor_id: {"name": r.name, "unique_id": r.unique_id, "phone": r.phone, "attributes": r.attributes}
        for r in records
    }
    return upsert(Driver, org_id, account_id, rows)


DEVICE_FIELDS = ["name", "unique_id", "category", "phone", "model", "disabled", "status", "last_update"]


def upsert_devices(org_id: int, account_id: int, records: Iterable[DeviceRecord]) -> tuple[int, int]:
    groups = vendor_pks(DeviceGroup, account_id)
    rows = {}
    for r in records:
        values = {f: getattr(r, f) for f in DEVICE_FIELDS}
        if r.plate:
            values["plate"] = r.plate
        values["group_id"] = groups.get(r.group_id) if r.group_id else None
        rows[r.vendor_id] = values
    return upsert(Device, org_id, account_id, rows)


def upsert_beacons(org_id: int, account_id: int, records: Iterable[BeaconRecord]) -> tuple[int, int]:
    rows = {}
    for r in records:
        point = (
            Point(r.longitude, r.latitude, srid=4326) if r.latitude is not None and r.longitude is not None else None
        )
        rows[r.vendor_id] = {
            "uuid": r.uuid,
            "major": r.major,
            "minor": r.minor,
            "name": r.name,
            "point": point,
            "floor": r.floor,
            "last_seen": r.last_seen,
            "battery_level": r.battery_level,
        }
    return upsert(Beacon, org_id, account_id, rows)


EVENT_INSERT = (
    f"INSERT INTO {Event._meta.db_table} (organization_id, device_id, type, time, key, geofence_id, attributes) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, type, time, key) DO NOTHING"
)


def store_events(org_id: int, account_id: int, records: Iterable[EventRecord], geofences: dict[str, int]) -> int:
    """Insert events once (unique device/type/time/key); return how many were new.

    One prepared INSERT … ON CONFLICT DO NOTHING run over all rows (psycopg pipelines it; SQLite runs it
    in one call): no model instance per event, and the count of new rows comes from the statement itself."""
    devices = vendor_pks(Device, account_id)
    ops = connection.ops
    rows = [
        (
            org_id,
            devices[r.device_id],
            r.type,
            ops.adapt_datetimefield_value(r.time),
            r.vendor_id,
            geofences.get(r.geofence_id or ""),
            ops.adapt_json_value(r.attributes or {}, None),
        )
        for r in records
        if r.device_id in devices and r.time is not None
    ]
    if not rows:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(EVENT_INSERT, rows)
        return max(cursor.rowcount, 0)
