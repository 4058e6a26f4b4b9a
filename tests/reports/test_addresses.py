"""Addresses in the reports: a van parked on Mannerheimintie drives the demo's streets to Unioninkatu, and the
trips, stops, events and route reports, their exports and the report API say where, in words."""

import csv
import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.contrib.gis.geos import Point, Polygon
from django.urls import reverse
from rest_framework.test import APIClient

from fleet.api.models import ApiToken
from fleet.core.management.commands.seeddemo import DEMO_STREETS, demo_streets
from fleet.geo import geocoding
from fleet.geo.geocoding import streets
from fleet.geo.models import POI, CachedAddress, Geofence
from fleet.reports import exports
from fleet.reports.kinds import build_report
from fleet.reports.tables import Units
from fleet.simulators import roads
from fleet.tracking.models import Event, Position
from tests.conftest import make_device
from tests.reports.conftest import cell_texts

MANNERHEIMINTIE = (60.170289, 24.937615)  # mid-points of long edges of the demo's road graph
UNIONINKATU = (60.175136, 24.950198)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
START, END = T0 - timedelta(hours=1), T0 + timedelta(hours=3)


@pytest.fixture
def demo_streets_loaded(db):
    streets.replace(DEMO_STREETS, demo_streets())


@pytest.fixture
def van(org_a, demo_streets_loaded):
    """Parked on Mannerheimintie 08:00-08:30, then along the demo's streets at 3 m/s to Unioninkatu, parked
    there for an hour; an ignition event when it parks."""
    van = make_device(org_a, "Van 1")
    route = roads.route(roads.nearest_node(*MANNERHEIMINTIE), roads.nearest_node(*UNIONINKATU))
    fixes = [(T0 + timedelta(minutes=m), *MANNERHEIMINTIE, 0.0, False) for m in range(0, 31, 5)]
    depart = T0 + timedelta(minutes=31)
    fixes.append((depart, *MANNERHEIMINTIE, 10.8, True))  # moving off where it stood (not at the next junction)
    for k in range(0, int(route.length_m), 30):  # a fix every 10 s (30 m at 3 m/s: a trip of over 5 minutes)
        i = int(np.searchsorted(route.cum_m, k, side="right")) - 1
        fixes.append((depart + timedelta(seconds=10 + k / 3), route.lat[i], route.lon[i], 10.8, True))
    arrive = depart + timedelta(seconds=route.length_m / 3 + 20)
    fixes += [(arrive + timedelta(minutes=m), *UNIONINKATU, 0.0, False) for m in range(0, 61, 5)]
    Position.objects.bulk_create(
        Position(device=van, fix_time=t, latitude=lat, longitude=lon, speed=v, attributes={"ignition": on})
        for t, lat, lon, v, on in fixes
    )
    Event.objects.create(organization=org_a, device=van, time=arrive + timedelta(minutes=1), type="ignitionOff")
    Event.objects.create(organization=org_a, device=van, time=T0 - timedelta(minutes=30), type="alarm")  # no fix
    return van


def test_trips_say_where_they_started_and_ended_in_words(org_a, van):
    report = build_report("trips", org_a, [van], START, END)
    [trip] = report.tables[0].rows
    # A trip starts where the van left its stop's radius: the simulators' own nearest street says which.
    assert trip["start_address"] == f"Near {roads.street_at(*trip['start_place'])}" == "Near Postikatu"
    assert trip["end_address"] == f"Near {roads.street_at(*trip['end_place'])}" == "Near Unioninkatu"


def test_stops_and_events_say_where_the_van_stood(org_a, van):
    stops = build_report("stops", org_a, [van], START, END).tables[0].rows
    assert [s["address"] for s in stops] == ["Near Mannerheimintie", "Near Unioninkatu"]
    events = build_report("events", org_a, [van], START, END).tables[0].rows
    assert [(e["type"], e["address"]) for e in events] == [("Ignition off", "Near Unioninkatu"), ("Alarm", "")]
    assert "place" not in events[0]


def test_the_route_keeps_a_vendors_address_and_names_the_other_fixes(org_a, van, settings):
    settings.GEOCODER_URL = "http://geocoder.invalid"
    Position.objects.filter(device=van, fix_time=T0).update(attributes={"address": "Vendor street 1"})
    rows = build_report("route", org_a, [van], START, END).tables[0].rows
    assert rows[0]["address"] == "Vendor street 1" and rows[1]["address"] == "Near Mannerheimintie"
    assert rows[-1]["address"] == "Near Unioninkatu" and all(r["address"] for r in rows)
    assert CachedAddress.objects.count() == 0  # every fix of a route: never queued for the provider


def test_the_organisations_places_name_the_ends_and_the_provider_queue_fills(org_a, van, settings):
    Geofence.objects.create(
        organization=org_a, name="Depot <North>", geometry=Polygon.from_bbox((24.949, 60.1745, 24.951, 60.1755))
    )
    [trip] = build_report("trips", org_a, [van], START, END).tables[0].rows
    start = trip["start_place"]
    POI.objects.create(organization=org_a, name="Kiosk", point=Point(start[1] + 0.0003, start[0]))  # 17 m east
    settings.GEOCODER_URL = "http://geocoder.invalid"
    [trip] = build_report("trips", org_a, [van], START, END).tables[0].rows
    assert (trip["start_address"], trip["end_address"]) == ("At Kiosk", "Inside Depot <North>")
    assert CachedAddress.objects.count() == 0  # both named by the organisation's places: nothing to ask
    Geofence.objects.all().delete()
    build_report("trips", org_a, [van], START, END)
    assert CachedAddress.objects.filter(state="pending").count() == 1  # the end, for the task


def test_the_csv_and_xlsx_exports_carry_the_addresses(org_a, van):
    report = build_report("trips", org_a, [van], START, END)
    rows = list(csv.reader(io.StringIO("".join(exports.to_csv(report, Units.for_org(org_a))))))
    header = rows[0]
    at = header.index("From address")
    assert header[at + 1] == "To address"
    assert rows[1][at : at + 2] == ["Near Postikatu", "Near Unioninkatu"]


def test_the_report_page_shows_the_addresses_as_text(client, user_a, org_a, van):
    Geofence.objects.create(
        organization=org_a, name="<b>Depot</b>", geometry=Polygon.from_bbox((24.949, 60.1745, 24.951, 60.1755))
    )
    client.force_login(user_a)
    query = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20", "device": van.pk}
    response = client.get(reverse("reports:report", args=["trips"]), query)
    body = response.content.decode()
    first = cell_texts(response.context["tables"][0]["rows"][0])
    assert first[5:7] == ["Near Postikatu", "Inside <b>Depot</b>"]
    assert "Inside &lt;b&gt;Depot&lt;/b&gt;" in body and "<b>Depot</b>" not in body


def test_the_report_api_answers_the_addresses(user_a, org_a, van, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    _, key = ApiToken.issue(user_a, "reports", "read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    result = api.get("/api/v1/reports/stops/", {"from": "2026-11-20", "to": "2026-11-20", "device": van.pk}).json()
    [stops] = result["tables"]
    assert {"key": "address", "label": "Address"}.items() <= next(
        c for c in stops["columns"] if c["key"] == "address"
    ).items()
    assert [row["address"] for row in stops["rows"]] == ["Near Mannerheimintie", "Near Unioninkatu"]


def test_five_thousand_points_are_named_in_one_batch_quickly(org_a, demo_streets_loaded):
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(60.160, 60.180, 5000), rng.uniform(24.925, 24.960, 5000)
    for k in range(20):
        Geofence.objects.create(organization=org_a, name=f"Zone {k}", geometry=Polygon.from_bbox(
            (24.925 + k * 0.001, 60.16, 24.9255 + k * 0.001, 60.1605)))  # fmt: skip
        POI.objects.create(organization=org_a, name=f"Customer {k}", point=Point(24.94 + k * 0.0005, 60.17))
    started = time.perf_counter()
    texts = geocoding.addresses(org_a, list(zip(lat.tolist(), lon.tolist(), strict=True)))
    elapsed = time.perf_counter() - started
    assert sum(t.startswith("Near ") for t in texts) > 1500 and any(t.startswith(("At ", "Inside ")) for t in texts)
    assert elapsed < 5.0, elapsed  # about 0.3 s on the development machine (docs/geocoding.md)
