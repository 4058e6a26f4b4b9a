"""Import and export on the Geofences and POIs pages: GeoJSON and KML round trips keep every kind within a metre,
bad features are reported with their reasons while the good ones are imported, hostile files are refused."""

import json

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from fleet.core.geodesy import haversine_m
from fleet.core.models import Membership
from fleet.geo import files
from fleet.geo.models import POI, Geofence
from tests.conftest import make_user
from tests.geo.test_files import BILLION_LAUGHS, EXTERNAL_ENTITY


@pytest.fixture
def shapes(org_a):
    made = [
        Geofence(
            organization=org_a,
            name="Depot <b>",
            description="gate 2",
            colour="#aa0011",
            speed_limit_kmh=30,
            dwell_s=45,
            calendar="BEGIN:VEVENT\nDTSTART:20260105T080000Z\nDURATION:PT8H\nRRULE:FREQ=DAILY\nEND:VEVENT",
            geometry=Polygon(
                ((24.9, 60.1), (24.95, 60.1), (24.95, 60.15), (24.9, 60.15), (24.9, 60.1)),
                ((24.91, 60.11), (24.92, 60.11), (24.92, 60.12), (24.91, 60.11)),
            ),
        ),
        Geofence(organization=org_a, name="Yard", kind="circle", radius_m=2500, geometry=Point(24.8123456, 60.2)),
        Geofence(
            organization=org_a,
            name="Ring road",
            kind="corridor",
            width_m=40,
            geometry=LineString((24.9, 60.2), (24.95, 60.21), (25.0, 60.2)),
        ),
    ]
    for geofence in made:
        geofence.save()
    POI.objects.create(
        organization=org_a, name="Shop", point=Point(24.95, 60.17), radius_m=80, purpose="customer", address="Main 1"
    )
    return made


@pytest.fixture
def alice(client, user_a):
    client.force_login(user_a)
    return client


def upload(client, kind: str, name: str, data: bytes, **post):
    return client.post(reverse(f"{kind}-import"), {"file": SimpleUploadedFile(name, data), **post})


def close(a: tuple, b: tuple) -> float:
    return float(haversine_m(a[1], a[0], b[1], b[0]))


def assert_same_within_a_metre(before: Geofence, after: Geofence) -> None:
    assert (after.kind, after.name, after.colour) == (before.kind, before.name, before.colour)
    assert (after.radius_m, after.width_m) == (before.radius_m, before.width_m)
    assert (after.speed_limit_kmh, after.dwell_s, after.calendar) == (
        before.speed_limit_kmh,
        before.dwell_s,
        before.calendar,
    )
    if before.kind == "polygon":
        pairs = [
            (p, q)
            for ring_a, ring_b in zip(before.geometry, after.geometry, strict=True)
            for p, q in zip(ring_a, ring_b, strict=True)
        ]
    elif before.kind == "circle":
        pairs = [(before.geometry.coords, after.geometry.coords)]
    else:
        pairs = list(zip(before.geometry.coords, after.geometry.coords, strict=True))
    assert pairs and max(close(p, q) for p, q in pairs) < 1.0


@pytest.mark.parametrize("fmt", ["geojson", "kml"])
def test_every_kind_survives_an_export_and_an_import(alice, shapes, fmt, org_a):
    exported = alice.get(reverse(f"geofences-{fmt}"))
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    Geofence.objects.all().delete()
    response = upload(alice, "geofences", f"all.{fmt}", exported.content)
    assert response.status_code == 200
    assert response.context["outcome"].refused == []
    assert sorted(response.context["outcome"].imported) == sorted(g.name for g in shapes)
    for before in shapes:
        assert_same_within_a_metre(before, Geofence.objects.get(organization=org_a, name=before.name))


@pytest.mark.parametrize("fmt", ["geojson", "kml"])
def test_pois_survive_an_export_and_an_import(alice, shapes, fmt):
    exported = alice.get(reverse(f"pois-{fmt}")).content
    POI.objects.all().delete()
    outcome = upload(alice, "pois", f"pois.{fmt}", exported).context["outcome"]
    assert (outcome.imported, outcome.refused) == (["Shop"], [])
    shop = POI.objects.get()
    assert (shop.radius_m, shop.purpose, shop.address) == (80, "customer", "Main 1")
    assert close(shop.point.coords, (24.95, 60.17)) < 1.0


def test_geojson_export_writes_circles_as_points_with_a_radius_and_follows_the_search(alice, shapes):
    doc = json.loads(alice.get(reverse("geofences-geojson"), {"q": "yard"}).content)
    (feature,) = doc["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [24.8123456, 60.2]}
    expected = {"name": "Yard", "kind": "circle", "radius_m": 2500, "colour": "#3388ff", "dwell_s": 0}
    assert feature["properties"] == expected


def test_kml_export_draws_a_circle_as_a_polygon_of_its_radius(alice, shapes):
    features = files.read_kml(alice.get(reverse("geofences-kml"), {"q": "yard"}).content)
    (yard,) = features
    assert yard.properties["radius_m"] == "2500.0" and yard.geometry["type"] == "Point"
    body = alice.get(reverse("geofences-kml"), {"q": "yard"}).content.decode()
    ring = body.split("<coordinates>")[2].split("</coordinates>")[0].split()
    corners = [tuple(float(v) for v in c.split(",")) for c in ring]
    assert all(abs(close(c, (24.8123456, 60.2)) - 2500) < 2.5 for c in corners)  # 0.1 %


def test_bad_features_are_reported_by_number_and_name_and_the_good_ones_imported(alice, org_a):
    square = [[24.9, 60.1], [24.95, 60.1], [24.95, 60.15], [24.9, 60.1]]
    features = [
        {"type": "Feature", "properties": {"name": "Good"}, "geometry": {"type": "Polygon", "coordinates": [square]}},
        {
            "type": "Feature",
            "properties": {"name": "Bowtie"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
        },
        {
            "type": "Feature",
            "properties": {"name": "Sliver"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
        },
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [190, 10]}},
        {
            "type": "Feature",
            "properties": {"name": "No radius"},
            "geometry": {"type": "Point", "coordinates": [19, 10]},
        },
        {
            "type": "Feature",
            "properties": {"name": "Bad colour", "colour": "red"},
            "geometry": {"type": "Polygon", "coordinates": [square]},
        },
        {
            "type": "Feature",
            "properties": {"name": "Bad width", "width_m": "wide"},
            "geometry": {"type": "LineString", "coordinates": square},
        },
        "nonsense",
    ]
    response = upload(
        alice, "geofences", "mixed.geojson", json.dumps({"type": "FeatureCollection", "features": features}).encode()
    )
    outcome = response.context["outcome"]
    assert outcome.imported == ["Good"]
    assert outcome.refused == [
        ("feature 2 (Bowtie)", "self-intersecting: its edges cross each other"),
        ("feature 3 (Sliver)", "too few points: a polygon needs at least 3 corners"),
        ("feature 4", "coordinates out of range (longitude -180..180, latitude -90..90)"),
        ("feature 5 (No radius)", "radius_m: A circle needs a radius."),
        ("feature 6 (Bad colour)", "colour: A colour is # and six hex digits, e.g. #3388ff."),
        ("feature 7 (Bad width)", "width_m is not a number: 'wide'"),
        ("feature 8", "not a GeoJSON Feature"),
    ]
    body = response.content.decode()
    assert "1 imported, 7 refused." in body and "feature 2 (Bowtie): self-intersecting" in body
    assert list(Geofence.objects.filter(organization=org_a).values_list("name", flat=True)) == ["Good"]


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_a_malicious_kml_upload_is_refused(alice, org_a, data):
    response = upload(alice, "geofences", "evil.kml", data)
    assert response.status_code == 400
    assert "declares a DTD or entities" in response.content.decode()
    assert not Geofence.objects.exists()


def test_an_oversize_upload_is_refused(alice, org_a):
    response = upload(alice, "pois", "big.geojson", b" " * (files.MAX_BYTES + 100 * 1024))
    assert response.status_code == 400 and "larger than 2 MB" in response.content.decode()


def test_an_upload_goes_to_an_organisation_the_user_edits(client, django_user_model, org_a, org_b):
    user = make_user(django_user_model, "multi", org_a)
    Membership.objects.create(user=user, organization=org_b, role=Membership.Role.VIEWER)
    client.force_login(user)
    doc = {"type": "Feature", "properties": {"name": "P"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}
    response = upload(client, "pois", "p.geojson", json.dumps(doc).encode(), organization=org_b.pk)
    assert response.status_code == 400 and not POI.objects.exists()
    response = upload(client, "pois", "p.geojson", json.dumps(doc).encode(), organization=org_a.pk)
    assert response.context["outcome"].imported == ["P"] and POI.objects.get().organization == org_a


def test_export_holds_only_the_users_organisations(alice, shapes, world_b):
    names = [f["properties"]["name"] for f in json.loads(alice.get(reverse("geofences-geojson")).content)["features"]]
    assert sorted(names) == sorted(g.name for g in shapes)
    assert b"b depot" not in alice.get(reverse("geofences-kml")).content


def test_nul_characters_in_an_upload_are_dropped(alice, org_a):
    doc = {
        "type": "Feature",
        "properties": {"name": "Sh\u0000op", "description": "a\u0000b", "radius_m": 60},
        "geometry": {"type": "Point", "coordinates": [24.9, 60.1]},
    }
    outcome = upload(alice, "pois", "nul.geojson", json.dumps(doc).encode()).context["outcome"]
    assert outcome.imported == ["Shop"] and POI.objects.get().description == "ab"
