"""Service reminders: due by kilometres, engine hours or days (whichever first), soon / overdue, baselines for
vehicles a plan has not seen, the maintenanceDue event once per cycle (and the rules hear of it), a replay of
late fixes that leaves it alone, and the page's roles and scoping."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from fleet.core.models import Membership
from fleet.events import maintenance, run
from fleet.events.engine import MAINTENANCE_DUE
from fleet.events.models import Notification, NotificationRule, ServicePlan, ServiceRecord
from fleet.tracking.models import DeviceGroup, Event
from tests.conftest import make_device, make_org, make_user
from tests.events.test_notify import eager_and_clean  # noqa: F401 (autouse: a cache of this test's own, rules reread)

pytestmark = pytest.mark.django_db


def read(device, km=None, hours=None):
    attrs = {}
    if km is not None:
        attrs["odometer_m"] = km * 1000
    if hours is not None:
        attrs["engine_hours_s"] = hours * 3600
    device.last_attributes = attrs
    device.save(update_fields=["last_attributes"])


def plan(org, **kw) -> ServicePlan:
    devices = kw.pop("devices", [])
    groups = kw.pop("groups", [])
    p = ServicePlan.objects.create(organization=org, name=kw.pop("name", "Oil change"), **kw)
    p.devices.set(devices)
    p.groups.set(groups)
    return p


def one(org, **kw) -> maintenance.Due:
    (due,) = [d for d in maintenance.schedule([org.pk], kw.pop("now", None)) if d.device.pk == kw["device"].pk]
    return due


def test_a_new_plan_counts_from_each_vehicles_readings_now_not_from_zero(org_a):
    truck = make_device(org_a, "Truck")
    read(truck, km=150_000, hours=4_000)
    plan(org_a, every_km=15_000, devices=[truck])
    due = one(org_a, device=truck)
    assert (due.status, due.next_km, due.left) == ("ok", 165_000, ["15,000 km left"])
    assert due.last.baseline and ServiceRecord.objects.count() == 1
    maintenance.schedule([org_a.pk])
    assert ServiceRecord.objects.count() == 1  # the baseline is made once


def test_whichever_interval_comes_first_decides_soon_then_overdue(org_a):
    van = make_device(org_a, "Van")
    read(van, km=10_000, hours=100)
    p = plan(org_a, every_km=10_000, every_engine_h=500, every_days=180, devices=[van])
    maintenance.schedule([org_a.pk])  # baseline: 10,000 km, 100 h, today
    read(van, km=12_000, hours=560)  # 460 of 500 h: within a tenth of the interval
    assert one(org_a, device=van).status == "soon"
    read(van, km=12_000, hours=601)
    due = one(org_a, device=van)
    assert due.status == "overdue" and "1 engine hours overdue" in due.left and "8,000 km left" in due.left
    read(van, km=12_000, hours=200)
    later = timezone.now() + timedelta(days=175)  # 5 days left of 180: within a week (a tenth would be 18)
    assert one(org_a, device=van, now=later).status == "soon"
    assert one(org_a, device=van, now=timezone.now() + timedelta(days=181)).status == "overdue"
    assert p.records.count() == 1


def test_a_vehicle_that_reports_no_odometer_is_said_so_and_days_still_count(org_a):
    tag = make_device(org_a, "Tag")
    plan(org_a, every_km=5_000, every_days=30, devices=[tag])
    due = one(org_a, device=tag)
    assert due.unknown == ["km"] and due.next_km is None and due.status == "ok"
    assert one(org_a, device=tag, now=timezone.now() + timedelta(days=31)).status == "overdue"


def test_a_plan_applies_to_its_groups_and_devices_or_to_every_vehicle(org_a, org_b):
    vans = DeviceGroup.objects.create(organization=org_a, name="Vans")
    van = make_device(org_a, "Van", group=vans)
    truck = make_device(org_a, "Truck")
    make_device(org_b, "Theirs")
    plan(org_a, name="Vans only", every_days=30, groups=[vans])
    plan(org_a, name="Everyone", every_days=365)
    rows = {(d.plan.name, d.device.name) for d in maintenance.schedule([org_a.pk])}
    assert rows == {("Vans only", "Van"), ("Everyone", "Van"), ("Everyone", "Truck")}
    assert van and truck


def test_an_overdue_service_raises_one_event_per_cycle_and_the_rules_hear_of_it(
    org_a, django_capture_on_commit_callbacks
):
    van = make_device(org_a, "Van 01")
    read(van, km=1_000)
    p = plan(org_a, every_km=500, devices=[van])
    rule = NotificationRule.objects.create(organization=org_a, name="Service", event_types=[MAINTENANCE_DUE])
    maintenance.schedule([org_a.pk])
    assert maintenance.check() == 0
    read(van, km=1_600)
    with django_capture_on_commit_callbacks(execute=True):
        assert maintenance.check() == 1
        assert maintenance.check() == 0  # once per cycle
    event = Event.objects.get(type=MAINTENANCE_DUE)
    assert (event.device, event.source) == (van, "fleet")
    assert event.attributes["zone"] == "Oil change (100 km overdue)"
    assert Notification.objects.get(rule=rule).event == event
    maintenance.record_service(one(org_a, device=van), user=None, note="done")
    assert one(org_a, device=van).status == "ok" and one(org_a, device=van).next_km == 2_100
    read(van, km=2_200)
    assert maintenance.check() == 1  # the next cycle's
    assert Event.objects.filter(type=MAINTENANCE_DUE).count() == 2
    assert p.records.count() == 2


def test_a_replay_of_late_fixes_leaves_service_and_late_task_events_alone(org_a):
    from fleet.events.engine import Found

    van = make_device(org_a, "Van")
    at = timezone.now().timestamp()
    created = run.store(org_a.pk, [Found(van.pk, MAINTENANCE_DUE, at, "service:1:1")], [])
    assert len(created) == 1
    run.store(org_a.pk, [], [(van.pk, at - 600)])  # the engine replays the last ten minutes, finding nothing
    assert Event.objects.filter(type=MAINTENANCE_DUE).count() == 1


def test_the_page_shows_every_member_the_list_and_lets_editors_change_plans(client, org_a, org_b):
    User = get_user_model()
    van = make_device(org_a, "Van <b>01</b>")
    read(van, km=100)
    theirs = make_device(org_b, "Their van")
    alice = make_user(User, "alice", org_a)
    vic = make_user(User, "vic", org_a, role=Membership.Role.VIEWER)
    client.force_login(alice)
    response = client.post(
        reverse("maintenance-plan-new"),
        {"organization": org_a.pk, "name": "Tyres", "every_km": "50", "devices": [van.pk]},
    )
    assert response.status_code == 302
    p = ServicePlan.objects.get()
    page = client.get(reverse("maintenance")).content.decode()
    assert "Van &lt;b&gt;01&lt;/b&gt;" in page and "Their van" not in page and "50 km left" in page
    bad = client.post(reverse("maintenance-plan-new"), {"organization": org_a.pk, "name": "Nothing"})
    assert bad.status_code == 200 and "at least one interval" in bad.content.decode()
    other = client.post(
        reverse("maintenance-plan-new"),
        {"organization": org_a.pk, "name": "X", "every_days": "3", "devices": [theirs.pk]},
    )
    assert other.status_code == 200 and other.context["form"].errors["devices"]
    read(van, km=200)
    assert (
        client.post(reverse("maintenance-serviced"), {"plan": p.pk, "device": van.pk, "note": "new"}).status_code == 302
    )
    assert p.records.filter(baseline=False, user=alice).get().odometer_km == 200
    assert client.post(reverse("maintenance-serviced"), {"plan": p.pk, "device": theirs.pk}).status_code == 404
    client.force_login(vic)
    assert "Tyres" in client.get(reverse("maintenance")).content.decode()
    assert client.post(reverse("maintenance-serviced"), {"plan": p.pk, "device": van.pk}).status_code == 403
    assert client.get(reverse("maintenance-plan", args=[p.pk])).status_code == 403
    bob = make_user(User, "bob", org_b)
    client.force_login(bob)
    assert "Tyres" not in client.get(reverse("maintenance")).content.decode()
    assert client.get(reverse("maintenance-plan", args=[p.pk])).status_code == 404
    assert client.post(reverse("maintenance-plan-delete", args=[p.pk])).status_code == 404
    assert make_org("c")
