"""mirror.pull_tasks stores a vendor's tasks in a fixed number of queries, however many there are."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.dispatch.models import Task
from fleet.tracking.records import TaskRecord
from fleet.vendors import mirror
from fleet.vendors.models import VendorLink
from tests.conftest import make_account, make_device, make_org

pytestmark = pytest.mark.django_db


def records(n: int, status: str = "created") -> list[TaskRecord]:
    return [TaskRecord(str(100 + k), f"ORD-{k}", 60.1, 24.9, "VAN1", f"Task {k}", status) for k in range(n)]


def queries(account, batch: list[TaskRecord]) -> tuple[int, object]:
    ContentType.objects.get_for_model(Task)  # cached once per process: not the batch's cost
    with CaptureQueriesContext(connection) as captured:
        tally = mirror.pull_tasks(account, batch)
    return len(captured), tally


@pytest.mark.parametrize("step", ["create", "status change", "unchanged"])
def test_pulling_tasks_costs_the_same_queries_for_three_or_thirty(step):
    counts = []
    for n in (3, 30):
        org = make_org(f"pull-{n}")
        account = make_account(org, kind="metrotec")
        make_device(org, "Van", account, vendor_id="VAN1")
        if step != "create":
            mirror.pull_tasks(account, records(n))
        status = "in_progress" if step == "status change" else "created"
        count, tally = queries(account, records(n, status))
        counts.append(count)
        expected = {"create": "created", "status change": "updated", "unchanged": "duplicates"}[step]
        assert getattr(tally, expected) == n
        assert set(Task.objects.filter(organization=org).values_list("status", flat=True)) == {status}
        assert VendorLink.objects.filter(account=account).count() == Task.objects.filter(organization=org).count() == n
    assert counts[0] == counts[1]


def test_an_unlinked_fleet_task_with_the_vendors_order_ref_is_linked_not_doubled():
    org = make_org("pull-ref")
    account = make_account(org, kind="metrotec")
    mine = Task.objects.create(organization=org, order_ref="ORD-1", destination="POINT (24.9 60.1)")
    tally = mirror.pull_tasks(account, records(2))
    assert (tally.created, tally.duplicates) == (1, 1)
    assert VendorLink.objects.get(account=account, vendor_id="101").object_id == mine.pk
