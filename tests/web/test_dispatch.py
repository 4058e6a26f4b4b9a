"""The Dispatch page: the board by status, creating and editing tasks (validation in plain words), moves through
the state machine (a refused move is a 400 with the reason), assignment, nearest vehicles, roles and scoping."""

import json
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from fleet.core.models import Membership
from fleet.dispatch import assignment
from fleet.dispatch.models import Task, TaskChange
from fleet.geo.models import POI
from tests.conftest import make_device, make_user

pytestmark = pytest.mark.django_db


def task(org, ref="ORD-1", **kw):
    return Task.objects.create(organization=org, order_ref=ref, destination=Point(24.94, 60.17), **kw)


@pytest.fixture
def dispatcher(client, org_a, django_user_model):
    client.force_login(make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False))
    return client


def move(client, t, **body):
    return client.post(f"/dispatch/tasks/{t.pk}/move/", json.dumps(body), content_type="application/json")


def test_the_board_shows_tasks_by_status_and_only_the_users(dispatcher, org_a, org_b):
    task(org_a, "A-1", title="Deliver <b>boxes</b>")
    task(org_b, "B-1")
    page = dispatcher.get("/dispatch/").content.decode()
    assert "A-1" in page and "B-1" not in page and "Deliver &lt;b&gt;boxes&lt;/b&gt;" in page
    assert dispatcher.get("/dispatch/?q=zzz").content.decode().count("task-card") == 0


def test_a_task_is_created_with_a_poi_and_validated_in_plain_words(dispatcher, org_a, org_b):
    shop = POI.objects.create(organization=org_a, name="Shop", point=Point(24.95, 60.18), radius_m=80)
    other = POI.objects.create(organization=org_b, name="Theirs", point=Point(24.95, 60.18))
    van = make_device(org_a)
    start = timezone.now()
    form = {"organization": org_a.pk, "order_ref": "ORD-9", "title": "Drop", "priority": 1, "poi": shop.pk}
    form |= {"destination_radius_m": 100, "planned_start": f"{start:%Y-%m-%dT%H:%M}", "device": van.pk}
    earlier = start - timedelta(hours=1)
    bad = dispatcher.post("/dispatch/tasks/new/", form | {"planned_stop": f"{earlier:%Y-%m-%dT%H:%M}"})
    assert "The planned stop must come after the planned start" in bad.content.decode()
    bad = dispatcher.post("/dispatch/tasks/new/", form | {"poi": other.pk})
    assert "Select a valid choice" in bad.content.decode()
    bad = dispatcher.post("/dispatch/tasks/new/", {k: v for k, v in form.items() if k != "poi"})
    assert "Pick the destination" in bad.content.decode()
    assert dispatcher.post("/dispatch/tasks/new/", form).status_code == 302
    made = Task.objects.get(order_ref="ORD-9")
    assert (made.destination, made.destination_radius_m, made.status, made.device) == (shop.point, 80, "assigned", van)
    again = dispatcher.post("/dispatch/tasks/new/", form)
    assert "Org A already has a task ORD-9" in again.content.decode()


def test_moves_go_through_the_state_machine(dispatcher, org_a):
    van = make_device(org_a)
    t = task(org_a)
    refused = move(dispatcher, t, status="completed")
    assert refused.status_code == 400 and refused.json()["error"] == "A task cannot go from created to completed."
    assert move(dispatcher, t, device=van.pk).json() == {"id": t.pk, "status": "assigned", "device": van.pk}
    assert move(dispatcher, t, status="en_route").json()["status"] == "en_route"
    assert move(dispatcher, t, status="nonsense").status_code == 400
    steps = list(TaskChange.objects.filter(task=t).values_list("new", "source", "user__username"))
    assert steps == [("assigned", "dispatcher", "disp"), ("en_route", "dispatcher", "disp")]


def test_viewers_look_and_another_organisations_task_is_404(client, org_a, org_b, django_user_model):
    mine, theirs = task(org_a), task(org_b, "B-1")
    client.force_login(make_user(django_user_model, "view", org_a, role=Membership.Role.VIEWER, staff=False))
    assert client.get("/dispatch/").status_code == 200
    assert move(client, mine, status="cancelled").status_code == 403
    assert client.get(f"/dispatch/tasks/{mine.pk}/").status_code == 403
    assert client.get("/dispatch/tasks/new/").status_code == 403
    assert move(client, theirs, status="cancelled").status_code == 404
    assert client.get(f"/dispatch/tasks/{theirs.pk}/").status_code == 404


def test_the_nearest_vehicles_are_ranked_by_distance_with_an_eta_and_their_load(org_a):
    t = task(org_a)  # at 60.17, 24.94
    far = make_device(org_a, "Far", last_latitude=60.27, last_longitude=24.94)  # ~11.1 km north
    near = make_device(org_a, "Near", last_latitude=60.18, last_longitude=24.94)  # ~1.1 km
    make_device(org_a, "Silent")  # no position: not offered
    task(org_a, "ORD-2", device=near, status="en_route")
    ranked = assignment.nearest(t)
    assert [r["device"] for r in ranked] == [near, far]
    assert ranked[0]["km"] == pytest.approx(1.11, abs=0.01) and ranked[0]["load"] == 1
    assert ranked[1]["eta_min"] == pytest.approx(11.12 / 30 * 60, abs=0.1)  # no recent speed: 30 km/h


GOOD = (
    "order_ref,title,address,latitude,longitude,poi,radius_m,planned_start,planned_stop,priority,vehicle,notes\n"
    "C-1,Pallets,Street 1,60.17,24.94,,100,2026-12-05 09:00,2026-12-05 11:00,high,Van 1,Gate B\n"
    'C-2,"=HYPERLINK(""x"")",,,,Shop,,,,,,\n'
)


def upload(client, org, text, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"organization": org.pk, "file": SimpleUploadedFile("t.csv", text.encode(), "text/csv"), **extra}
    return client.post("/dispatch/tasks/import/", data)


def test_a_csv_is_checked_first_and_imported_only_when_clean(dispatcher, org_a):
    org_a.timezone = "Europe/Helsinki"
    org_a.save()
    van = make_device(org_a, "Van 1")
    POI.objects.create(organization=org_a, name="Shop", point=Point(24.95, 60.18), radius_m=70)
    task(org_a, "OLD-1")
    bad = (
        GOOD
        + "C-1,dup,,60,24,,,,,,,\n"  # line 4: the same order reference twice
        + ",no ref,,60,24,,,,,,,\n"  # 5
        + "C-5,,,95,24,,,,,,,\n"  # 6: latitude out of range
        + "C-6,,,60,24,,,2026-12-05 11:00,2026-12-05 09:00,,,\n"  # 7
        + "C-7,,,60,24,,,,,soon,,\n"  # 8
        + "C-8,,,60,24,,,,,,Ghost,\n"  # 9
        + "OLD-1,,,60,24,,,,,,,\n"  # 10
        + "C-10,,,,,Nowhere,,,,,,\n"  # 11
    )
    page = upload(dispatcher, org_a, bad).content.decode()
    for line, reason in [
        (4, "order reference C-1 is already used"),
        (5, "order_ref is empty"),
        (6, "latitude 95.0 is out of range"),
        (7, "planned_stop is not after planned_start"),
        (8, "priority &#x27;soon&#x27; is not one of low, normal, high, urgent"),
        (9, "there is no vehicle &#x27;Ghost&#x27;"),
        (10, "order reference OLD-1 is already used"),
        (11, "there is no POI &#x27;Nowhere&#x27;"),
    ]:
        assert f"<td>{line}</td><td>{reason}" in page
    assert upload(dispatcher, org_a, bad, apply="1").status_code == 200  # refused: nothing imported
    assert Task.objects.count() == 1
    ok = upload(dispatcher, org_a, GOOD).content.decode()
    assert "2 tasks ready to import" in ok
    assert upload(dispatcher, org_a, GOOD, apply="1").status_code == 302
    c1, c2 = Task.objects.get(order_ref="C-1"), Task.objects.get(order_ref="C-2")
    assert (c1.status, c1.device, c1.priority, c1.planned_start.hour) == ("assigned", van, 2, 7)  # Helsinki 09:00
    assert (c2.destination_radius_m, c2.destination_address, c2.title) == (70, "Shop", '=HYPERLINK("x")')
    exported = dispatcher.get("/dispatch/tasks.csv").content.decode()
    assert "C-1,Pallets,Street 1,60.17,24.94" in exported and "'=HYPERLINK" in exported  # never a formula


def test_a_file_that_is_not_a_task_csv_is_refused_in_plain_words(dispatcher, org_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert "The first line must name the columns" in upload(dispatcher, org_a, "a,b\n1,2\n").content.decode()
    blob = SimpleUploadedFile("t.csv", b"\xff\xfe\x00bad", "text/csv")
    page = dispatcher.post("/dispatch/tasks/import/", {"organization": org_a.pk, "file": blob}).content.decode()
    assert "The file is not UTF-8 text." in page
    big = "order_ref\n" + "x" * 1_000_001
    assert "The file is larger than 1 MB." in upload(dispatcher, org_a, big).content.decode()


def test_the_task_page_shows_its_vendor_id_and_push_state(dispatcher, org_a):
    from django.contrib.contenttypes.models import ContentType

    from fleet.vendors.models import VendorLink
    from tests.conftest import make_account

    t = task(org_a)
    account = make_account(org_a, "Metrotec A", kind="metrotec")
    VendorLink.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(Task),
        object_id=t.pk,
        vendor_id="mt-42",
        push_error="the vendor refused the address",
    )
    page = dispatcher.get(f"/dispatch/tasks/{t.pk}/").content.decode()
    assert "<td>Metrotec A</td><td>mt-42</td><td>failed: the vendor refused the address</td>" in page


def test_bad_input_is_a_clear_400_or_ignored_never_a_500(dispatcher, org_a):
    t = task(org_a)
    for body in ("[1, 2]", '"status"', "not json"):
        answer = dispatcher.post(f"/dispatch/tasks/{t.pk}/move/", body, content_type="application/json")
        assert answer.status_code == 400 and answer.json()["error"]
    assert move(dispatcher, t, device="x").status_code == 404
    assert dispatcher.get("/dispatch/?day=2026-13-45").status_code == 200  # not a date: no day filter
    assert "ORD-1" in dispatcher.get("/dispatch/?day=2026-13-45&device=%C2%B2").content.decode()
    nul = upload(dispatcher, org_a, "order_ref,title\nA-1,x\x00y\n").content.decode()
    assert "give latitude and longitude, or a poi" in nul  # a NUL byte is a character like another
    huge = upload(dispatcher, org_a, "order_ref,title\nA-2," + "x" * 200_000 + "\n").content.decode()
    assert "Line 2 cannot be read as CSV (field larger than field limit" in huge
    assert not Task.objects.filter(order_ref__in=["A-1", "A-2"]).exists()
    ragged = upload(dispatcher, org_a, "order_ref,latitude,longitude\nR-1,60,24,extra,more\n").content.decode()
    assert "1 task ready to import" in ragged  # extra cells beyond the header are not columns


def cards(page) -> list[str]:
    import re

    return re.findall(r'<a href="/dispatch/tasks/\d+/"><strong>([^<]+)</strong>', page)


def test_the_board_filters_by_vehicle_driver_status_and_customer_among_the_users_own(dispatcher, org_a, org_b):
    from fleet.tracking.models import Driver

    ann = Driver.objects.create(organization=org_a, name="Ann")
    van, truck = make_device(org_a, "Van", driver=ann), make_device(org_a, "Truck")
    shop = POI.objects.create(organization=org_a, name="Shop Oy", purpose="customer", point=Point(24.95, 60.18))
    task(org_a, "A-1", device=van, driver=ann, status="assigned", poi=shop)
    task(org_a, "A-2", device=truck, status="en_route")
    task(org_a, "A-3")
    theirs = POI.objects.create(organization=org_b, name="Their shop", point=Point(24.95, 60.18))
    their_van = make_device(org_b, "Their van", driver=Driver.objects.create(organization=org_b, name="Bob"))
    task(org_b, "B-1", device=their_van, poi=theirs)
    board = dispatcher.get("/dispatch/").content.decode()
    assert sorted(cards(board)) == ["A-1", "A-2", "A-3"]
    assert "Their van" not in board and "Bob" not in board and "Their shop" not in board  # not offered
    assert cards(dispatcher.get(f"/dispatch/?device={van.pk}").content.decode()) == ["A-1"]
    assert cards(dispatcher.get(f"/dispatch/?driver={ann.pk}").content.decode()) == ["A-1"]
    assert cards(dispatcher.get("/dispatch/?status=en_route").content.decode()) == ["A-2"]
    assert cards(dispatcher.get(f"/dispatch/?poi={shop.pk}").content.decode()) == ["A-1"]
    assert cards(dispatcher.get("/dispatch/?q=shop+oy").content.decode()) == ["A-1"]  # by the customer's name
    assert cards(dispatcher.get(f"/dispatch/?status=created&device={truck.pk}").content.decode()) == []
    # another organisation's vehicle, customer or driver is not a valid choice: that filter is left out, said so
    for query in (f"device={their_van.pk}", f"poi={theirs.pk}", f"driver={their_van.driver_id}", "status=lost"):
        page = dispatcher.get(f"/dispatch/?{query}")
        assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
        assert sorted(cards(page.content.decode())) == ["A-1", "A-2", "A-3"]
    assert "Select a valid choice" in dispatcher.get("/dispatch/?device=99999999999999999999999").content.decode()
    exported = dispatcher.get(f"/dispatch/tasks.csv?poi={shop.pk}").content.decode().splitlines()
    assert len(exported) == 2 and exported[1].startswith("A-1,,,60.17,24.94,Shop Oy,")
