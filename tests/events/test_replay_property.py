"""Property: whatever order and batches a device's fixes arrive in (cut anywhere, some batches late, some fixes
sent twice), the events the engine stores equal those of all its fixes evaluated in order from an empty state.
The fixes wander on and around the edges of a circle, a square and a dwell zone, with and without accuracy:
the soak's offline recomputation found events apart on a circle's edge."""

import math
import random
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.events import engine, places, run
from fleet.geo.models import Geofence
from fleet.tracking import ingest
from fleet.tracking.models import Event
from fleet.tracking.records import PositionRecord
from tests.conftest import make_device
from tests.events.helpers import at
from tests.events.test_run import START, square

pytestmark = pytest.mark.django_db


def zones(org) -> None:
    centre = at(0, 0)
    Geofence.objects.create(
        organization=org, name="Ring", kind="circle", geometry=Point(centre[1], centre[0]), radius_m=300.0
    )
    square(org, name="Dock", x0=250, y0=-50, x1=350, y1=50, dwell_s=20)
    square(org, name="Gate", x0=-320, y0=-20, x1=-290, y1=20)


@st.composite
def journeys(draw):
    """A device's fixes (around the edges, 1–40 s apart, some with an accuracy), the batches they are sent in
    and the order of those batches."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 40))
    t, fixes = 0.0, []
    for _ in range(n):
        t += rnd.choice([1, 2, 5, 10, 30, 40]) + rnd.choice([0.0, 0.25, 0.748])
        angle = rnd.uniform(0, 6.283)
        r = rnd.choice([rnd.uniform(280, 320), rnd.uniform(0, 500), rnd.uniform(295, 305)])
        x, y = r * math.cos(angle), r * math.sin(angle)
        accuracy = rnd.choice([None, None, 5.0, 20.0])
        fixes.append((t, x, y, accuracy))
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=6)))) if n > 1 else []
    bounds = [0, *cuts, n]
    batches = [list(range(a, b)) for a, b in zip(bounds, bounds[1:], strict=False)]
    order = draw(st.permutations(range(len(batches))))
    again = draw(st.lists(st.integers(0, len(batches) - 1), max_size=2))  # batches a vendor sends twice
    return fixes, [batches[k] for k in order] + [batches[k] for k in again]


def record(device, fix) -> PositionRecord:
    t, x, y, accuracy = fix
    lat, lon = at(x, y)
    return PositionRecord(str(device.pk), START + timedelta(seconds=t), lat, lon, speed=30.0, accuracy=accuracy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journey=journeys())
def test_any_arrival_order_stores_the_events_of_all_fixes_in_order(org_a, journey):
    places.forget()
    if not Geofence.objects.filter(organization=org_a).exists():
        zones(org_a)
    fixes, batches = journey
    van = make_device(org_a, name=f"Van {Geofence.objects.count()}-{random.random()}")
    for batch in batches:
        ingest.positions(org_a.pk, None, [record(van, fixes[k]) for k in batch])
    everything = run.fixes_of_stored([ingest.Stored(0, van.pk, record(van, f)) for f in fixes])
    offline, _ = engine.evaluate(places.index_for(org_a.pk), everything, {}, lambda d: engine.Rules())
    want = sorted((f.type, run._when(f.t), f.key) for f in offline)
    have = sorted(Event.objects.filter(device=van).values_list("type", "time", "key"))
    assert have == want
