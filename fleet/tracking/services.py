"""Model services: store what connectors report, in bulk, keyed by (account, vendor_id), through the
validation gate (``fleet.tracking.validate``); each returns a ``Tally`` of what it created, updated, found
unchanged (``duplicates``) and rejected with a reason."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.gis.geos import Point
from django.db import connection, models, transaction
from django.utils import timezone

from fleet.tracking import validate
from fleet.tracking.models import Beacon, Device, DeviceGroup, Driver, Event
from fleet.tracking.records import BeaconRecord, DeviceRecord, DriverRecord, EventRecord, GroupRecord
from fleet.tracking.validate import Tally


def gated(records: Iterable, check: Callable[[Any, datetime], str | None], tally: Tally, key: str = "vendor_id"):
    """The records that pass ``check`` (counted in ``tally.received``; the others rejected with their reason);
    a second record with an id already seen in the batch is a duplicate."""
    now, seen, kept = timezone.now(), set(), []
    for record in records:
        tally.received += 1
        if reason := check(record, now):
            tally.reject(reason, getattr(record, key, ""))
            continue
        ident = getattr(record, key)
        if ident in seen:
            tally.duplicates += 1
            continue
        seen.add(ident)
        kept.append(record)
    return kept


def upsert(model: type[models.Model], org_id: int, account_id: int, rows: dict[str, dict[str, Any]], tally: Tally):
    """Create or update ``model`` rows of one account from {vendor_id: fields}, counted in ``tally``."""
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
    tally.created += len(new)
    tally.updated += len(changed)
    tally.duplicates += len(rows) - len(new) - len(changed)


def retire(model: type[models.Model], account_id: int, listed: set[str]) -> int:
    """Mark the account's objects the vendor no longer lists as retired (kept, hidden); return how many."""
    gone = model.objects.filter(account_id=account_id, retired__isnull=True).exclude(vendor_id="")
    return gone.exclude(vendor_id__in=listed).update(retired=timezone.now())


def vendor_pks(model: type[models.Model], account_id: int) -> dict[str, int]:
    return dict(model.objects.filter(account_id=account_id).values_list("vendor_id", "pk"))


def upsert_groups(org_id: int, account_id: int, records: Iterable[GroupRecord]) -> Tally:
    tally = Tally()
    records = gated(records, validate.group, tally)
    rows = {r.vendor_id: {"name": r.name, "attributes": r.attributes, "retired": None} for r in records}
    upsert(DeviceGroup, org_id, account_id, rows, tally)
    pks = vendor_pks(DeviceGroup, account_id)  # parents once every group exists
    upsert(
        DeviceGroup, org_id, account_id, {r.vendor_id: {"parent_id": pks.get(r.parent_id)} for r in records}, Tally()
    )
    return tally


def upsert_drivers(org_id: int, account_id: int, records: Iterable[DriverRecord]) -> Tally:
    tally = Tally()
    records = gated(records, validate.driver, tally)
    rows = {
        r.vendor_id: {"name": r.name, "unique_id": r.unique_id, "phone": r.phone, "attributes": r.attributes}
        | {"retired": None}
        for r in records
    }
    upsert(Driver, org_id, account_id, rows, tally)
    attach_drivers(account_id, records)
    return tally


def attach_drivers(account_id: int, records: list[DriverRecord]) -> None:
    """Where the vendor says which vehicle each driver is attached to (Metrotec, iTrack), make that driver the
    vehicle's fixed driver (``Device.driver``), and drop the account's drivers it no longer attaches. A vendor
    that names no vehicle for any driver (Traccar) leaves the fixed drivers alone."""
    if not any(r.device_id for r in records):
        return
    drivers, devices = vendor_pks(Driver, account_id), vendor_pks(Device, account_id)
    wanted = {
        devices[r.device_id]: drivers[r.vendor_id] for r in records if r.device_id in devices and r.vendor_id in drivers
    }
    account_devices = Device.objects.filter(account_id=account_id)
    with transaction.atomic():
        account_devices.filter(driver__account_id=account_id).exclude(pk__in=wanted).update(driver=None)
        current = dict(account_devices.filter(pk__in=wanted).values_list("pk", "driver_id"))
        changed = [Device(pk=pk, driver_id=driver) for pk, driver in wanted.items() if current.get(pk) != driver]
        Device.objects.bulk_update(changed, ["driver"], batch_size=500)


DEVICE_FIELDS = ["name", "unique_id", "category", "phone", "model", "disabled", "status", "last_update"]


def upsert_devices(org_id: int, account_id: int, records: Iterable[DeviceRecord]) -> Tally:
    """Devices as the vendor lists them; their status and last update never move back in time (ingest may
    have heard from a device since the vendor's list was made)."""
    tally = Tally()
    records = gated(records, validate.device, tally)
    groups = vendor_pks(DeviceGroup, account_id)
    heard = dict(
        Device.objects.filter(account_id=account_id, vendor_id__in=[r.vendor_id for r in records]).values_list(
            "vendor_id", "last_update"
        )
    )
    rows = {}
    for r in records:
        values = {f: getattr(r, f) for f in DEVICE_FIELDS}
        if r.plate:
            values["plate"] = r.plate
        if r.attributes:  # what the vendor says of the device besides its fields (battery health, VIN)
            values["attributes"] = r.attributes
        values["group_id"] = groups.get(r.group_id) if r.group_id else None
        values["retired"] = None
        known = heard.get(r.vendor_id)
        if known is not None and (r.last_update is None or r.last_update < known):
            del values["status"], values["last_update"]
        rows[r.vendor_id] = values
    upsert(Device, org_id, account_id, rows, tally)
    return tally


def upsert_beacons(org_id: int, account_id: int, records: Iterable[BeaconRecord]) -> Tally:
    tally = Tally()
    rows = {}
    for r in gated(records, validate.beacon, tally):
        point = Point(r.longitude, r.latitude, srid=4326) if r.latitude is not None else None
        rows[r.vendor_id] = {
            "uuid": r.uuid,
            "major": r.major,
            "minor": r.minor,
            "name": r.name,
            "point": point,
            "floor": r.floor,
            "last_seen": r.last_seen,
            "battery_level": r.battery_level,
            "retired": None,
        }
    upsert(Beacon, org_id, account_id, rows, tally)
    return tally


# Two events of one device, one type (and one geofence) less than this apart, one from a vendor and one from
# fleet's engine, are one happening, stored once: the vendor's (docs/events.md, Vendor events).
SAME_EVENT_S = 60.0


def echoes(candidates: list[tuple[int, str, int | None, datetime]], source: str) -> dict[int, list[int]]:
    """For each (device pk, type, geofence pk, time) candidate that an event of ``source`` already stored says
    (same device, type and geofence, less than SAME_EVENT_S apart): its index -> the pks of those events."""
    if not candidates:
        return {}
    margin = timedelta(seconds=SAME_EVENT_S)
    stored: dict[tuple, list[tuple[datetime, int]]] = {}
    rows = Event.objects.filter(
        source=source,
        device_id__in={c[0] for c in candidates},
        type__in={c[1] for c in candidates},
        time__gt=min(c[3] for c in candidates) - margin,
        time__lt=max(c[3] for c in candidates) + margin,
    ).values_list("device_id", "type", "geofence_id", "time", "pk")
    for device, kind, geofence, time, pk in rows:
        stored.setdefault((device, kind, geofence), []).append((time, pk))
    out = {}
    for k, (device, kind, geofence, time) in enumerate(candidates):
        if same := [pk for t, pk in stored.get((device, kind, geofence), ()) if abs(t - time) < margin]:
            out[k] = same
    return out


EVENT_INSERT = (
    f"INSERT INTO {Event._meta.db_table} (organization_id, device_id, type, time, key, geofence_id, attributes) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, type, time, key) DO NOTHING"
)


def store_events(org_id: int, account_id: int, records: Iterable[EventRecord], geofences: dict[str, int]) -> Tally:
    """Insert events once (unique device / type / time / key), through the gate; an event of a device the
    account does not have is rejected as "unknown device".

    One prepared INSERT … ON CONFLICT DO NOTHING run over all rows: no model instance per event, and the
    count of new rows comes from the statement itself."""
    tally = Tally()
    devices = vendor_pks(Device, account_id)
    ops = connection.ops
    rows, gated_times = [], []
    now = timezone.now()
    for r in records:
        tally.received += 1
        if reason := validate.event(r, now) or (None if r.device_id in devices else "unknown device"):
            tally.reject(reason, r.vendor_id or r.device_id)
            continue
        rows.append(
            (
                org_id,
                devices[r.device_id],
                r.type,
                ops.adapt_datetimefield_value(r.time),
                r.vendor_id,
                geofences.get(r.geofence_id or ""),
                ops.adapt_json_value(r.attributes, None),
            )
        )
        gated_times.append(r.time)
    ours = echoes([(r[1], r[2], r[5], gated_times[k]) for k, r in enumerate(rows)], Event.Source.FLEET)
    if rows:
        with transaction.atomic(), connection.cursor() as cursor:
            if ours:  # fleet's engine found these happenings first: the vendor's record takes their place
                Event.objects.filter(pk__in=[pk for pks in ours.values() for pk in pks]).delete()
            cursor.executemany(EVENT_INSERT, rows)
            tally.created = max(cursor.rowcount, 0)
    tally.duplicates = len(rows) - tally.created
    return tally
