"""Driver assignments over time: overlaps refused, open-ended ones, the fixed driver, and assignment from the
driver ids vendors report on positions."""

from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError

from fleet.tracking import drivers, ingest
from fleet.tracking.models import Driver, DriverAssignment
from fleet.tracking.records import PositionRecord
from tests.conftest import T0, make_account, make_device

H = timedelta(hours=1)


@pytest.fixture
def van(org_a):
    return make_device(org_a, "Van 1", make_account(org_a), vendor_id="1")


@pytest.fixture
def aino(org_a):
    return Driver.objects.create(organization=org_a, name="Aino", unique_id="A1")


@pytest.fixture
def mikko(org_a):
    return Driver.objects.create(organization=org_a, name="Mikko", unique_id="M2")


def assign(device, driver, start, end=None, pk=None) -> DriverAssignment:
    a = DriverAssignment(pk=pk, device=device, driver=driver, start=start, end=end)
    return drivers.save_assignment(a, UTC)


def test_who_drove_is_the_assignment_covering_the_time(van, aino, mikko):
    assign(van, aino, T0, T0 + 2 * H)
    assign(van, mikko, T0 + 3 * H)  # open-ended
    line = drivers.timelines([van], T0 - H, T0 + 10 * H)[van.pk]
    assert line.at(T0 - timedelta(seconds=1)) is None
    assert line.at(T0) == aino and line.at(T0 + 2 * H - timedelta(seconds=1)) == aino
    assert line.at(T0 + 2 * H) is None  # the end is not included
    assert line.at(T0 + 3 * H) == mikko and line.at(T0 + 1000 * H) == mikko
    assert drivers.driver_at(van, T0 + H) == aino


def test_the_fixed_driver_answers_where_no_assignment_covers_the_time(van, aino, mikko):
    van.driver = mikko
    van.save()
    assign(van, aino, T0, T0 + H)
    assert drivers.driver_at(van, T0 + timedelta(minutes=30)) == aino
    assert drivers.driver_at(van, T0 + 2 * H) == mikko


@pytest.mark.parametrize(
    "start, end",
    [
        (T0 + H, T0 + 2 * H),  # inside
        (T0 - H, T0 + timedelta(minutes=1)),  # overlapping the start
        (T0 + 2 * H, None),  # open-ended, starting inside
        (T0 - H, None),  # open-ended, covering it all
    ],
)
def test_an_overlapping_assignment_of_the_vehicle_is_refused(van, aino, mikko, start, end):
    assign(van, aino, T0, T0 + 3 * H)
    with pytest.raises(ValidationError, match="overlaps another assignment: Aino drives Van 1 from 2026-11-20 08:00"):
        assign(van, mikko, start, end)
    assert DriverAssignment.objects.count() == 1


def test_an_open_assignment_refuses_anything_after_its_start(van, aino, mikko):
    assign(van, aino, T0)
    with pytest.raises(ValidationError, match="with no end"):
        assign(van, mikko, T0 + 100 * H, T0 + 101 * H)
    assign(van, mikko, T0 - 2 * H, T0)  # before it, touching: fine


def test_an_edit_does_not_clash_with_itself_and_the_end_must_follow_the_start(van, aino):
    a = assign(van, aino, T0, T0 + H)
    assign(van, aino, T0, T0 + 2 * H, pk=a.pk)
    assert DriverAssignment.objects.get().end == T0 + 2 * H
    with pytest.raises(ValidationError, match="end must be after"):
        assign(van, aino, T0, T0, pk=a.pk)


def test_a_driver_of_another_organisation_is_refused(van, org_b):
    stranger = Driver.objects.create(organization=org_b, name="Bob")
    with pytest.raises(ValidationError, match="another organisation"):
        assign(van, stranger, T0)


def fixes(van, *rows):
    """Ingest fixes (minutes after T0, driver id or None) of the van, as a vendor would report them."""
    records = [
        PositionRecord(
            "1", T0 + timedelta(minutes=m), 60.17, 24.94, attributes={"driver_unique_id": uid} if uid else {}
        )
        for m, uid in rows
    ]
    ingest.positions(van.organization_id, van.account_id, records)


def spans(van) -> list[tuple]:
    rows = DriverAssignment.objects.filter(device=van).order_by("start")
    return [(a.driver.name, a.start, a.end, a.source) for a in rows]


def test_a_reported_driver_id_assigns_the_driver_until_another_is_reported(van, aino, mikko):
    fixes(van, (0, None), (1, "A1"), (2, "A1"), (3, None))
    assert spans(van) == [("Aino", T0 + timedelta(minutes=1), None, "vendor")]
    fixes(van, (10, "A1"), (20, "M2"), (21, "M2"))
    assert spans(van) == [
        ("Aino", T0 + timedelta(minutes=1), T0 + timedelta(minutes=20), "vendor"),
        ("Mikko", T0 + timedelta(minutes=20), None, "vendor"),
    ]
    assert drivers.driver_at(van, T0 + timedelta(minutes=15)) == aino


def test_drivers_changing_within_one_batch_make_closed_assignments(van, aino, mikko):
    fixes(van, (1, "A1"), (2, "M2"), (3, "A1"))
    assert [(n, s.minute, e and e.minute) for n, s, e, _ in spans(van)] == [
        ("Aino", 1, 2),
        ("Mikko", 2, 3),
        ("Aino", 3, None),
    ]


def test_unknown_driver_ids_late_fixes_and_a_persons_assignment_are_left_alone(van, aino, mikko):
    assign(van, mikko, T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    fixes(van, (5, "A1"), (15, "A1"), (20, "NOBODY"))  # before the latest assignment, inside it, unknown
    assert [name for name, *_ in spans(van)] == ["Mikko"]
    fixes(van, (40, "A1"))  # after it ended
    assert [(n, s.minute, e) for n, s, e, _ in spans(van)] == [
        ("Mikko", 10, T0 + timedelta(minutes=30)),
        ("Aino", 40, None),
    ]


@pytest.mark.parametrize("vehicles", [1, 8])
def test_assignment_from_a_batch_takes_a_constant_number_of_queries(
    org_a, aino, mikko, vehicles, django_assert_max_num_queries
):
    account = make_account(org_a, "many")
    vans = [make_device(org_a, f"Van {k}", account, vendor_id=f"v{k}") for k in range(vehicles)]
    for van in vans:  # an open assignment each, closed by the batch
        drivers.save_assignment(DriverAssignment(device=van, driver=mikko, start=T0 - H), UTC)
    reports = {van.pk: [(T0 + timedelta(minutes=m), "A1" if m % 2 else "M2") for m in range(20)] for van in vans}
    # drivers, lock, latest assignments, one update, one insert, and a savepoint and its release (inside the test)
    with django_assert_max_num_queries(7):
        drivers.apply_reports(org_a.pk, reports)
    assert DriverAssignment.objects.count() == vehicles * 20  # Mikko's, then 19 changes of driver each
