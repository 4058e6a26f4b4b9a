"""The Geofences and POIs pages: list and search, create / edit / delete each kind through the forms (always
through fleet.geo.services), roles, organisation scoping, source and push status."""

import json
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.geos import Point, Polygon
from django.urls import reverse
from django.utils import timezone

from fleet.core.models import Membership
from fleet.geo import services
from fleet.geo.models import POI, Geofence
from fleet.tracking.models import DeviceGroup
from fleet.vendors.models import VendorLink
from tests.conftest import make_account, make_user

SQUARE = {"type": "Polygon", "coordinates": [[[24.9, 60.1], [24.95, 60.1], [24.95, 60.15], [24.9, 60.15]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[24.9, 60.1], [24.95, 60.15], [24.95, 60.1], [24.9, 60.15]]]}
TWO_CORNERS = {"type": "Polygon", "coordinates": [[[24.9, 60.1], [24.95, 60.1], [24.9, 60.1]]]}
NEW = "geofences-new"


def geofence_post(**fields) -> dict:
    data = {"name": "Depot", "colour": "#ff0000", "description": "", "dwell_s": "0", "calendar": ""}
    data |= {"shape": json.dumps(SQUARE)}
    return {**data, **fields}


def poi_post(**fields) -> dict:
    data = {"name": "Shop", "purpose": "customer", "colour": "#00ff00", "radius_m": "80"}
    data |= {"shape": json.dumps({"type": "Point", "coordinates": [24.95, 60.17]})}
    return {**data, **fields}


@pytest.fixture
def alice(client, user_a, world_a):
    client.force_login(user_a)
    return client


@pytest.fixture
def viewer(client, django_user_model, world_a):
    user = make_user(django_user_model, "vera", world_a["organization"], role=Membership.Role.VIEWER, staff=False)
    client.force_login(user)
    return client


@pytest.fixture
def handlers(monkeypatch, django_capture_on_commit_callbacks) -> list:
    """Every geofence / POI the services hand to their write-back handlers (run at the commit: each call of
    ``commit()`` runs those queued since)."""
    seen = []
    monkeypatch.setattr(services, "_saved", [*services._saved, lambda g: seen.append(("geofence", g.pk))])
    monkeypatch.setattr(services, "_poi_saved", [*services._poi_saved, lambda p: seen.append(("poi", p.pk))])
    return seen


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what the block queued for the commit, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_the_list_shows_the_organisations_geofences_and_searches_name_and_description(alice, world_a, world_b):
    Geofence.objects.filter(pk=world_a["corridor"].pk).update(description="the ring road to the harbour")
    body = alice.get(reverse("geofences")).content.decode()
    assert "a depot" in body and "a road" in body and "b depot" not in body
    found = alice.get(reverse("geofences"), {"q": "HARBOUR"})
    names = [row[0].name for row in found.context["rows"]]
    assert names == ["a road"]
    assert [r[0].name for r in alice.get(reverse("geofences"), {"q": "depot"}).context["rows"]] == ["a depot"]


def test_the_map_data_holds_every_shape_with_its_colour(alice, world_a):
    Geofence.objects.filter(pk=world_a["geofence"].pk).update(colour="#123456")
    page = alice.get(reverse("geofences")).context["page"]
    by_name = {f["properties"]["name"]: f for f in page["features"]}
    assert by_name["a depot"]["properties"]["colour"] == "#123456"
    assert by_name["a road"]["geometry"]["type"] == "LineString" and by_name["a road"]["properties"]["width_m"] == 30


def test_a_polygon_is_created_through_the_services(alice, world_a, handlers, committed):
    group = DeviceGroup.objects.get(organization=world_a["organization"])
    post = geofence_post(speed_limit_kmh="50", dwell_s="30", groups=[str(group.pk)], devices=[world_a["device"].pk])
    with committed():
        response = alice.post(reverse("geofences-new"), post)
    assert response.status_code == 302
    depot = Geofence.objects.get(name="Depot")
    assert depot.kind == "polygon" and depot.organization == world_a["organization"]
    ring = SQUARE["coordinates"][0]
    assert depot.geometry.equals_exact(Polygon([*ring, ring[0]]), 1e-9)  # the ring left open is closed
    assert (depot.colour, depot.speed_limit_kmh, depot.dwell_s) == ("#ff0000", 50, 30)
    assert list(depot.groups.all()) == [group] and list(depot.devices.all()) == [world_a["device"]]
    assert handlers == [("geofence", depot.pk)]
    assert response.url == f"{reverse('geofences')}?saved={depot.pk}"


def test_a_circle_and_a_corridor_take_their_radius_and_width(alice, world_a):
    centre = json.dumps({"type": "Point", "coordinates": [24.9, 60.2]})
    line = json.dumps({"type": "LineString", "coordinates": [[24.9, 60.2], [24.95, 60.21]]})
    assert alice.post(reverse(NEW), geofence_post(name="Yard", shape=centre, radius_m="150")).status_code == 302
    assert alice.post(reverse(NEW), geofence_post(name="Road", shape=line, width_m="40")).status_code == 302
    yard, road = Geofence.objects.get(name="Yard"), Geofence.objects.get(name="Road")
    assert (yard.kind, yard.radius_m, yard.geometry.coords) == ("circle", 150, (24.9, 60.2))
    assert (road.kind, road.width_m, road.geometry.num_points) == ("corridor", 40, 2)


def test_a_circle_without_a_radius_and_a_corridor_without_a_width_are_refused(alice):
    centre = json.dumps({"type": "Point", "coordinates": [24.9, 60.2]})
    response = alice.post(reverse("geofences-new"), geofence_post(shape=centre))
    assert response.status_code == 400 and "A circle needs a radius." in response.content.decode()
    line = json.dumps({"type": "LineString", "coordinates": [[24.9, 60.2], [24.95, 60.21]]})
    response = alice.post(reverse("geofences-new"), geofence_post(shape=line))
    assert response.status_code == 400 and "A corridor needs a width." in response.content.decode()
    assert not Geofence.objects.filter(name="Depot").exists()


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        (json.dumps(BOWTIE), "self-intersecting"),
        (json.dumps(TWO_CORNERS), "too few points"),
        (json.dumps({"type": "Point", "coordinates": [200, 60]}), "coordinates out of range"),
        ("not json", "not GeoJSON"),
        (json.dumps({"type": "MultiPoint", "coordinates": [[1, 2]]}), "a geofence is a polygon"),
    ],
)
def test_a_bad_shape_is_a_form_error_in_plain_words(alice, shape, reason):
    response = alice.post(reverse("geofences-new"), geofence_post(shape=shape, radius_m="10"))
    assert response.status_code == 400
    assert reason in " ".join(response.context["form"].errors["shape"])
    assert not Geofence.objects.filter(name="Depot").exists()


def test_an_unusable_calendar_is_shown_in_plain_words(alice):
    response = alice.post(reverse(NEW), geofence_post(calendar="BEGIN:VEVENT\nDTSTART:tomorrow\nEND:VEVENT"))
    assert response.status_code == 400
    error = " ".join(response.context["form"].errors["calendar"])
    assert error.startswith("The calendar cannot be used: unreadable time 'tomorrow'")


def test_editing_changes_the_shape_and_fields_and_notifies_the_handlers(alice, world_a, handlers, committed):
    depot = world_a["geofence"]
    circle = json.dumps({"type": "Point", "coordinates": [24.93, 60.12]})
    post = geofence_post(name="Depot 2", shape=circle, radius_m="75", colour="#00aa00")
    with committed():
        response = alice.post(reverse("geofences-edit", args=[depot.pk]), post)
    assert response.status_code == 302
    depot.refresh_from_db()
    assert (depot.name, depot.kind, depot.radius_m, depot.colour) == ("Depot 2", "circle", 75, "#00aa00")
    assert handlers == [("geofence", depot.pk)]


def test_the_edit_page_shows_the_shape_as_geojson(alice, world_a):
    response = alice.get(reverse("geofences-edit", args=[world_a["corridor"].pk]))
    shape = json.loads(response.context["form"].initial["shape"])
    assert shape == {"type": "LineString", "coordinates": [[24.9, 60.1], [25, 60.2]]}
    assert response.context["page"]["editable"] is True and "leaflet-geoman.min.js" in response.content.decode()


def test_deleting_goes_through_the_services(alice, world_a, monkeypatch):
    deleted = []
    monkeypatch.setattr(services, "_deleting", [*services._deleting, lambda g: deleted.append(g.pk)])
    depot = world_a["geofence"]
    assert alice.post(reverse("geofences-delete", args=[depot.pk])).status_code == 302
    assert deleted == [depot.pk] and not Geofence.objects.filter(pk=depot.pk).exists()
    assert alice.get(reverse("geofences-delete", args=[world_a["corridor"].pk])).status_code == 405


def test_pois_are_created_edited_and_deleted(alice, world_a, handlers, committed):
    with committed():
        assert alice.post(reverse("pois-new"), poi_post(address="Main St 1")).status_code == 302
    shop = POI.objects.get(name="Shop")
    assert (shop.point.coords, shop.radius_m, shop.purpose, shop.colour) == ((24.95, 60.17), 80, "customer", "#00ff00")
    moved = json.dumps({"type": "Point", "coordinates": [24.96, 60.18]})
    with committed():
        response = alice.post(reverse("pois-edit", args=[shop.pk]), poi_post(shape=moved, radius_m="120"))
    assert response.status_code == 302
    shop.refresh_from_db()
    assert (shop.point.coords, shop.radius_m) == ((24.96, 60.18), 120)
    assert handlers == [("poi", shop.pk), ("poi", shop.pk)]
    assert alice.post(reverse("pois-delete", args=[shop.pk])).status_code == 302
    assert not POI.objects.filter(pk=shop.pk).exists()


def test_a_poi_is_a_point(alice):
    response = alice.post(reverse("pois-new"), poi_post(shape=json.dumps(SQUARE)))
    assert response.status_code == 400 and "a POI is a point" in " ".join(response.context["form"].errors["shape"])


def test_a_viewer_sees_but_cannot_change_anything(viewer, world_a):
    body = viewer.get(reverse("geofences")).content.decode()
    assert "a depot" in body and "New geofence" not in body and 'enctype="multipart/form-data"' not in body
    depot, poi = world_a["geofence"], world_a["poi"]
    page = viewer.get(reverse("geofences-edit", args=[depot.pk]))
    assert page.status_code == 200 and page.context["may_edit"] is False
    body = page.content.decode()
    assert "leaflet-geoman" not in body and 'type="submit" class="primary"' not in body
    assert all(field.disabled for field in page.context["form"].fields.values())
    assert viewer.get(reverse("geofences-new")).status_code == 403
    assert viewer.post(reverse("geofences-new"), geofence_post()).status_code == 403
    assert viewer.post(reverse("geofences-edit", args=[depot.pk]), geofence_post()).status_code == 403
    assert viewer.post(reverse("geofences-delete", args=[depot.pk])).status_code == 403
    assert viewer.post(reverse("pois-edit", args=[poi.pk]), poi_post()).status_code == 403
    assert viewer.post(reverse("pois-delete", args=[poi.pk])).status_code == 403
    assert viewer.post(reverse("geofences-import")).status_code == 403
    assert Geofence.objects.filter(pk=depot.pk, name="a depot").exists() and POI.objects.filter(pk=poi.pk).exists()


def test_another_organisations_shapes_are_404(alice, world_b):
    for name, obj in (("geofences", world_b["geofence"]), ("pois", world_b["poi"])):
        assert alice.get(reverse(f"{name}-edit", args=[obj.pk])).status_code == 404
        assert alice.post(reverse(f"{name}-delete", args=[obj.pk])).status_code == 404
    assert alice.post(reverse("geofences-edit", args=[world_b["geofence"].pk]), geofence_post()).status_code == 404
    assert Geofence.objects.filter(pk=world_b["geofence"].pk, name="b depot").exists()


def test_devices_of_another_organisation_cannot_be_chosen(alice, world_b):
    response = alice.post(reverse("geofences-new"), geofence_post(devices=[world_b["device"].pk]))
    assert response.status_code == 400 and response.context["form"].errors["devices"]


def test_a_dispatcher_edits_and_sees_no_admin_link(client, django_user_model, world_a):
    user = make_user(django_user_model, "dan", world_a["organization"], role=Membership.Role.DISPATCHER, staff=False)
    client.force_login(user)
    body = client.get(reverse("pois")).content.decode()
    assert f'href="{reverse("geofences")}"' in body and f'href="{reverse("pois")}"' in body
    assert reverse("admin:index") not in body and "New POI" in body
    assert client.post(reverse("pois-new"), poi_post()).status_code == 302


def link(obj, account, **fields) -> VendorLink:
    ct = ContentType.objects.get_for_model(obj)
    return VendorLink.objects.create(
        account=account, content_type=ct, object_id=obj.pk, vendor_id=str(obj.pk), **fields
    )


def test_source_and_push_status_per_writable_account(alice, world_a):
    org = world_a["organization"]
    VendorLink.objects.all().delete()
    traccar, metrotec = world_a["vendoraccount"], make_account(org, "Metrotec A", kind="metrotec")
    make_account(org, "Beacons", kind="safectory")  # takes no geofences: not listed
    depot = world_a["geofence"]
    link(depot, traccar, last_pushed=timezone.now() + timedelta(seconds=1))
    link(depot, metrotec, push_error="HTTP 502 from the vendor")
    origins = {row[0].name: row[1] for row in alice.get(reverse("geofences")).context["rows"]}
    assert [(p.account, p.state, p.error) for p in origins["a depot"].pushes] == [
        ("Metrotec A", "failed", "HTTP 502 from the vendor"),
        ("a-acct", "done", ""),
    ]
    road = [(p.account, p.state) for p in origins["a road"].pushes]
    assert road == [("Metrotec A", "pending"), ("a-acct", "pending")]
    assert origins["a depot"].source_label == "fleet"
    Geofence.objects.filter(pk=depot.pk).update(updated=timezone.now() + timedelta(minutes=5))  # saved since
    origins = {row[0].name: row[1] for row in alice.get(reverse("geofences")).context["rows"]}
    assert [p.state for p in origins["a depot"].pushes] == ["failed", "pending"]


def test_a_shape_pulled_from_a_vendor_that_cannot_take_changes_is_read_only(alice, world_a):
    org = world_a["organization"]
    VendorLink.objects.all().delete()
    beacons = make_account(org, "Beacon server", kind="safectory")
    depot = world_a["geofence"]
    link(depot, beacons, last_pulled=depot.updated)
    page = alice.get(reverse("geofences-edit", args=[depot.pk]))
    assert page.context["origin"].source_label == "Beacon server" and page.context["may_edit"] is False
    assert "cannot take changes from fleet" in page.content.decode()
    assert alice.post(reverse("geofences-edit", args=[depot.pk]), geofence_post()).status_code == 403
    assert alice.post(reverse("geofences-delete", args=[depot.pk])).status_code == 403


def test_a_shape_pulled_from_a_writable_vendor_is_editable_and_in_step_until_changed(alice, world_a):
    VendorLink.objects.all().delete()
    traccar, depot = world_a["vendoraccount"], world_a["geofence"]
    link(depot, traccar, last_pulled=depot.updated)
    origin = alice.get(reverse("geofences-edit", args=[depot.pk])).context["origin"]
    assert origin.source_label == "a-acct" and not origin.read_only
    assert [(p.account, p.state) for p in origin.pushes] == [("a-acct", "done")]
    assert alice.post(reverse("geofences-edit", args=[depot.pk]), geofence_post()).status_code == 302


def test_pages_need_a_login(client, world_a):
    for name in ("geofences", "pois", "geofences-new", "geofences-geojson"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_an_unknown_organisation_in_the_form_is_a_form_error(alice, org_b):
    response = alice.post(reverse("geofences-new"), geofence_post(organization=str(org_b.pk)))
    assert response.status_code == 400 and response.context["form"].errors["organization"]


def test_pois_without_vendors_list_no_copies(alice, world_a):
    POI.objects.create(organization=world_a["organization"], name="Kiosk", point=Point(24.9, 60.1))
    rows = {row[0].name: row[1] for row in alice.get(reverse("pois")).context["rows"]}
    assert rows["Kiosk"].pushes == [] and rows["Kiosk"].source_label == "fleet"


@pytest.mark.django_db(transaction=True)
def test_a_geofence_drawn_on_the_page_reaches_the_vendor_and_shows_done(
    client, django_user_model, simulator, eager_celery
):
    """Against the Data Trak simulator over real HTTP, the write-back tasks run eagerly."""
    from tests.vendors.conftest import make_sim_account

    sim = simulator("datatrak", devices=1)
    account = make_sim_account(sim, "datatrak")
    client.force_login(make_user(django_user_model, "dan", account.organization, role=Membership.Role.DISPATCHER))
    assert client.post(reverse(NEW), geofence_post(name="Pushed")).status_code == 302
    depot = Geofence.objects.get(name="Pushed")
    link = VendorLink.objects.get(object_id=depot.pk, account=account)
    copy = next(g for g in sim.truth()["geofences"] if str(g["id"]) == link.vendor_id)
    assert copy["name"] == "Pushed" and copy["area"].replace(" ", "").startswith("POLYGON((60.1")
    origin = client.get(reverse("geofences")).context["rows"][0][1]
    assert [(p.account, p.state) for p in origin.pushes] == [("datatrak-sim", "done")]


def test_hostile_form_values_are_form_errors_never_a_500(client, user_a, world_a):
    from tests.security.test_malformed_input import HOSTILE

    client.raise_request_exception = False
    client.force_login(user_a)
    failures = []
    for url, base in ((reverse(NEW), geofence_post()), (reverse("pois-new"), poi_post())):
        for name in [*base, "organization", "devices", "groups", "radius_m", "width_m", "speed_limit_kmh"]:
            for value in [*HOSTILE, '{"type": "Polygon", "coordinates": [[[1e309, 0]]]}', "[[[[[[[[[[]]]]]]]]]]"]:
                response = client.post(url, {**base, name: value})
                if response.status_code >= 500:
                    failures.append(f"{url} {name}={value[:30]!r}: {response.status_code}")
    assert failures == []


def test_the_admin_deletes_pois_through_the_services(client, superuser, world_a, monkeypatch):
    deleted = []
    real = services.delete_poi
    monkeypatch.setattr(services, "delete_poi", lambda poi: (deleted.append(poi.pk), real(poi)))
    client.force_login(superuser)
    poi = world_a["poi"]
    response = client.post(reverse("admin:geo_poi_delete", args=[poi.pk]), {"post": "yes"})
    assert response.status_code == 302 and deleted == [poi.pk] and not POI.objects.filter(pk=poi.pk).exists()
