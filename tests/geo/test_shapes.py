"""Shapes on hand-built fixes whose answers are worked out by hand: along a meridian at 60 N a metre north is
1 / M_PER_DEG degrees."""

import math

import numpy as np
import pytest
from django.contrib.gis.geos import LineString, Point, Polygon

from fleet.core.geodesy import M_PER_DEG
from fleet.geo import shapes
from fleet.geo.models import POI, Geofence
from fleet.geo.shapes import circle_contains, corridor_contains, polygon_contains

approx = pytest.approx
LAT0, LON = 60.0, 25.01


def lat(north_m: float) -> float:
    return LAT0 + north_m / M_PER_DEG


def east(metres: float, at_lat: float = LAT0) -> float:
    return metres / (M_PER_DEG * math.cos(math.radians(at_lat)))


def test_corridor_ends_are_round_caps():
    line = np.array([[25.0, 60.1], [25.05, 60.1]])
    lats = np.array([60.1, 60.1, 60.1 + 45 / M_PER_DEG, 60.1 + 55 / M_PER_DEG])
    lons = np.array([25.05 + east(40, 60.1), 25.05 + east(60, 60.1), 25.02, 25.02])
    assert corridor_contains(line, 50, lats, lons).tolist() == [True, False, True, False]


def test_polygon_with_a_hole_and_circle_by_haversine():
    outer = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], dtype=float)
    hole = np.array([[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]], dtype=float)
    lats, lons = np.array([1.0, 5.0, 5.0, 11.0]), np.array([1.0, 5.0, 8.0, 5.0])
    assert polygon_contains([outer, hole], lats, lons).tolist() == [True, False, True, False]
    centre = lat(0)
    inside = circle_contains(centre, LON, 300, np.array([lat(299.9), lat(300.1)]), np.array([LON, LON]))
    assert inside.tolist() == [True, False]


def test_distance_to_the_boundary_is_negative_inside_and_positive_outside():
    circle = shapes.Circle(LAT0, LON, 300)
    assert circle.distance_m(np.array([lat(100), lat(500)]), np.array([LON, LON])) == approx([-200, 200], abs=0.01)
    road = shapes.Corridor(np.array([[25.0, LAT0], [25.05, LAT0]]), 50)
    assert road.distance_m(np.array([lat(20), lat(80)]), np.array([25.02, 25.02])) == approx([-30, 30], abs=0.05)
    square = shapes.Polygon([np.array([[25.0, lat(0)], [25.02, lat(0)], [25.02, lat(1000)], [25.0, lat(1000)]])])
    lats, lons = np.array([lat(900), lat(1200), lat(500)]), np.array([25.01, 25.01, 25.02 + east(40)])
    assert square.distance_m(lats, lons) == approx([-100, 200, 40], abs=0.1)


@pytest.mark.django_db
def test_places_come_from_the_organisations_geofences_and_pois_and_skip_unusable_shapes(org_a, org_b):
    square = Polygon(((25.0, 60.0), (25.02, 60.0), (25.02, 60.01), (25.0, 60.0)))
    depot = Geofence.objects.create(organization=org_a, name="Depot", geometry=square)
    Geofence.objects.create(organization=org_a, name="Broken", kind="circle", geometry=Point(25, 60), radius_m=0)
    Geofence.objects.create(
        organization=org_a, name="Road", kind="corridor", width_m=40, geometry=LineString((25, 60), (25.1, 60))
    )
    poi = POI.objects.create(organization=org_a, name="Customer", point=Point(25.01, 60.005), radius_m=50)
    Geofence.objects.create(organization=org_b, name="Theirs", geometry=square)

    found, skipped = shapes.places(org_a)
    assert sorted(p.name for p in found) == ["Customer", "Depot", "Road"]
    assert [g.name for g in skipped] == ["Broken"]
    only, _ = shapes.places(org_a, geofence_id=depot.pk)
    assert [p.key for p in only] == [f"geofence:{depot.pk}"]
    (customer,) = shapes.places(org_a, poi_id=poi.pk)[0]
    assert customer.contains(np.array([60.005, 60.1]), np.array([25.01, 25.01])).tolist() == [True, False]
