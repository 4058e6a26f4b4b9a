"""Shared fixtures: two organisations, so isolation is always at hand."""

import os
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import LineString, Point, Polygon

from fleet.core.models import Membership, Organization
from fleet.dispatch.models import Task
from fleet.geo.models import POI, Geofence
from fleet.tracking.models import Beacon, Device, DeviceGroup, Driver, Event, IngestBacklog, Position
from fleet.vendors.models import SyncRun, VendorAccount, VendorLink

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def pytest_configure(config) -> None:
    """The simulators and test servers listen on 127.0.0.1: vendors on private addresses are allowed here, and
    in the subprocesses tests start (tests/security turns it off where it checks the refusal)."""
    from django.conf import settings

    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    os.environ["VENDOR_ALLOW_PRIVATE_NETWORKS"] = "true"


def make_org(slug: str) -> Organization:
    return Organization.objects.create(name=f"Org {slug.upper()}", slug=slug)


def make_user(django_user_model, username: str, org: Organization, role: str = Membership.Role.ADMIN, staff=True):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, is_staff=staff)
    if staff:
        user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=ORG_APPS))
    Membership.objects.create(user=user, organization=org, role=role)
    return user


ORG_APPS = ["core", "tracking", "geo", "dispatch", "vendors"]


def make_account(org: Organization, name: str = "acct", kind: str = "datatrak", **kw) -> VendorAccount:
    kw.setdefault("credentials", {"username": "u", "password": "p"})
    kw.setdefault("base_url", "http://127.0.0.1:1")
    return VendorAccount.objects.create(organization=org, name=name, kind=kind, **kw)


def make_device(org: Organization, name: str = "Van 1", account: VendorAccount | None = None, **kw) -> Device:
    return Device.objects.create(
        organization=org, name=name, account=account, vendor_id=kw.pop("vendor_id", name), **kw
    )


def make_position(device: Device, minutes: float = 0, **kw) -> Position:
    kw.setdefault("latitude", 60.17)
    kw.setdefault("longitude", 24.94)
    return Position.objects.create(device=device, fix_time=T0 + timedelta(minutes=minutes), **kw)


def populate(org: Organization) -> dict:
    """One of every model for an organisation; returns them by model name."""
    account = make_account(org, name=f"{org.slug}-acct")
    group = DeviceGroup.objects.create(organization=org, name=f"{org.slug} group", account=account, vendor_id="g1")
    driver = Driver.objects.create(organization=org, name=f"{org.slug} driver", unique_id="RFID1")
    device = make_device(org, f"{org.slug} van", account, group=group, driver=driver)
    position = make_position(device)
    geofence = Geofence.objects.create(
        organization=org,
        name=f"{org.slug} depot",
        geometry=Polygon(((24.9, 60.1), (25, 60.1), (25, 60.2), (24.9, 60.1))),
    )
    corridor = Geofence.objects.create(
        organization=org,
        name=f"{org.slug} road",
        kind="corridor",
        width_m=30,
        geometry=LineString((24.9, 60.1), (25, 60.2)),
    )
    poi = POI.objects.create(
        organization=org, name=f"{org.slug} customer", point=Point(24.95, 60.17), purpose="customer"
    )
    task = Task.objects.create(organization=org, order_ref="ORD-1", device=device, destination=Point(24.95, 60.17))
    event = Event.objects.create(organization=org, device=device, type="ignitionOn", time=T0, position=position)
    beacon = Beacon.objects.create(organization=org, account=account, vendor_id="b1", uuid="ab" * 16, major=1, minor=2)
    run = SyncRun.objects.create(account=account)
    link = VendorLink.objects.create(account=account, target=geofence, vendor_id="7")
    backlog = IngestBacklog.objects.create(organization=org, since={str(device.pk): T0.timestamp()})
    membership = (
        Membership.objects.get(organization=org) if Membership.objects.filter(organization=org).exists() else None
    )
    return {
        "organization": org,
        "membership": membership,
        "vendoraccount": account,
        "devicegroup": group,
        "driver": driver,
        "device": device,
        "position": position,
        "geofence": geofence,
        "corridor": corridor,
        "poi": poi,
        "task": task,
        "event": event,
        "beacon": beacon,
        "syncrun": run,
        "vendorlink": link,
        "ingestbacklog": backlog,
    }


@pytest.fixture
def eager_celery():
    """Celery tasks (the write-back) run at once, in the test's thread."""
    from fleet.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def simulator():
    """simulator(kind, **opts) starts a vendor simulator over real HTTP on 127.0.0.1 (frozen clock and
    fast socket ticks unless told otherwise) and stops it after the test."""
    from fleet.simulators.server import start_simulator

    started = []

    def make(kind: str, **opts):
        opts.setdefault("frozen", True)
        opts.setdefault("tick", 0.05)
        started.append(start_simulator(kind, **opts))
        return started[-1]

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture(autouse=True)
def fresh_device_cache():
    """Test databases reuse ids; ingest's per-process device cache must not outlive a test."""
    from fleet.tracking.ingest import forget_devices

    forget_devices()
    yield
    forget_devices()


@pytest.fixture(autouse=True)
def fresh_rate_buckets():
    """Test databases reuse account ids; a rate an earlier test's account learnt or held (its Redis bucket,
    ``fleet:bucket:<id>``) must not slow a later test's account of the same id."""
    import redis

    from fleet.vendors import ratelimit

    try:
        keys = list(ratelimit.client().scan_iter(match=ratelimit.key("*"), count=1000))
        if keys:
            ratelimit.client().delete(*keys)
    except redis.RedisError:  # a test that needs no Redis runs without one
        pass
    yield


@pytest.fixture
def org_a(db) -> Organization:
    return make_org("a")


@pytest.fixture
def org_b(db) -> Organization:
    return make_org("b")


@pytest.fixture
def user_a(django_user_model, org_a):
    return make_user(django_user_model, "alice", org_a)


@pytest.fixture
def user_b(django_user_model, org_b):
    return make_user(django_user_model, "bob", org_b)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")


@pytest.fixture
def world_a(org_a, user_a) -> dict:
    return populate(org_a)


@pytest.fixture
def world_b(org_b, user_b) -> dict:
    return populate(org_b)


@pytest.fixture
def table_reads(monkeypatch) -> list:
    """Each (start, end) the store reads from the positions table (not the archive), in order."""
    from fleet.tracking import store

    reads = []
    real = store.read

    def spy(device_id, start, end, chunk=store.DEFAULT_CHUNK):
        reads.append((start, end))
        return real(device_id, start, end, chunk)

    monkeypatch.setattr(store, "read", spy)
    return reads
