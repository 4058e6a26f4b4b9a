"""store_events: one statement inserts each event once and reports how many were new."""

from datetime import timedelta

import pytest

from fleet.tracking import services
from fleet.tracking.models import Event
from fleet.tracking.records import EventRecord
from tests.conftest import T0, make_account, make_device, make_org


@pytest.mark.django_db
def test_events_are_stored_once_with_their_attributes_and_counted():
    org = make_org("a")
    account = make_account(org)
    van = make_device(org, "Van 1", account, vendor_id="11")
    records = [
        EventRecord("11", "ignitionOn", T0, vendor_id="e1", attributes={"note": "ключ", "n": 2}),
        EventRecord("11", "geofenceEnter", T0 + timedelta(minutes=5), vendor_id="e2", geofence_id="g7"),
        EventRecord("11", "ignitionOff", T0 + timedelta(minutes=9), vendor_id="e3"),
        EventRecord("99", "ignitionOn", T0, vendor_id="e4"),  # a device this account does not have
        EventRecord("11", "alarm", None, vendor_id="e5"),  # no time
    ]
    first = services.store_events(org.pk, account.pk, records, {"g7": None})
    assert (first.received, first.created, first.duplicates, first.rejected) == (5, 3, 0, 2)
    assert first.reasons == {"unknown device": 1, "time missing or naive": 1}
    assert first.examples == {"unknown device": "e4", "time missing or naive": "e5"}
    again = services.store_events(org.pk, account.pk, records, {})  # a re-sync stores nothing twice
    assert (again.created, again.duplicates, again.rejected) == (0, 3, 2)
    more = [*records[:1], EventRecord("11", "ignitionOn", T0 + timedelta(hours=1), vendor_id="e6")]
    assert services.store_events(org.pk, account.pk, more, {}).created == 1

    stored = Event.objects.filter(device=van).order_by("time")
    assert [(e.type, e.time, e.key) for e in stored] == [
        ("ignitionOn", T0, "e1"),
        ("geofenceEnter", T0 + timedelta(minutes=5), "e2"),
        ("ignitionOff", T0 + timedelta(minutes=9), "e3"),
        ("ignitionOn", T0 + timedelta(hours=1), "e6"),
    ]
    assert stored[0].attributes == {"note": "ключ", "n": 2} and stored[0].organization_id == org.pk
    assert services.store_events(org.pk, account.pk, [], {}).received == 0
