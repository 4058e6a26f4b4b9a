import pytest
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction

from fleet.dispatch.models import Task
from fleet.tracking.models import Position
from tests.conftest import T0, make_device, make_org


def test_a_duplicate_position_is_ignored_not_an_error(org_a):
    device = make_device(org_a)
    rows = [Position(device=device, fix_time=T0, latitude=60.0, longitude=24.0) for _ in range(2)]
    Position.objects.bulk_create(rows, ignore_conflicts=True)
    Position.objects.bulk_create(
        [Position(device=device, fix_time=T0, latitude=61.0, longitude=25.0)], ignore_conflicts=True
    )
    stored = Position.objects.get(device=device)
    assert (stored.latitude, stored.longitude) == (60.0, 24.0)


def test_the_database_refuses_two_positions_of_one_device_at_one_fix_time(org_a):
    device = make_device(org_a)
    Position.objects.create(device=device, fix_time=T0, latitude=60.0, longitude=24.0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(device=device, fix_time=T0, latitude=60.0, longitude=24.0)


def test_two_devices_may_report_at_the_same_time(org_a):
    a, b = make_device(org_a, "a"), make_device(org_a, "b")
    Position.objects.bulk_create([Position(device=d, fix_time=T0, latitude=1, longitude=2) for d in (a, b)])
    assert Position.objects.count() == 2


def test_an_order_ref_is_unique_within_an_organisation(org_a):
    Task.objects.create(organization=org_a, order_ref="ORD-7", destination=Point(24.9, 60.1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(organization=org_a, order_ref="ORD-7", destination=Point(24.9, 60.1))


def test_two_organisations_may_use_the_same_order_ref(org_a):
    org_b = make_org("other")
    for org in (org_a, org_b):
        Task.objects.create(organization=org, order_ref="ORD-7", destination=Point(24.9, 60.1))
    assert Task.objects.filter(order_ref="ORD-7").count() == 2


def test_a_vendor_id_is_unique_within_an_account(org_a):
    from tests.conftest import make_account

    account = make_account(org_a)
    make_device(org_a, "one", account, vendor_id="42")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_device(org_a, "two", account, vendor_id="42")


def test_positions_keep_times_in_utc(org_a):
    device = make_device(org_a)
    Position.objects.create(device=device, fix_time=T0, latitude=1, longitude=2)
    assert Position.objects.get().fix_time == T0
    assert Position.objects.get().fix_time.utcoffset().total_seconds() == 0
