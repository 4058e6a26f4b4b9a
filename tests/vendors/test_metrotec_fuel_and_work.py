"""Metrotec's fuel events, work time and waybills against its simulator over real HTTP: the refuelling it
reports becomes fleet's refuel events (every one, once), asked at most every METROTEC_EVENTS_EVERY_S; its work
and repair time and open waybills are the vendor's report rows."""

from datetime import UTC, datetime, timedelta

import pytest

from fleet.tracking.models import Event
from fleet.vendors import metrotec as connector_module
from fleet.vendors import sync
from tests.vendors.conftest import metrotec_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def refuelling(simulator):
    """Six vehicles over two hours, two of which refuel (seed 7)."""
    sim = simulator("metrotec", devices=6, seed=7, history=7000)
    return sim, metrotec_account(sim)


def vendor_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_refuelling_becomes_one_refuel_event_with_its_litres(refuelling):
    sim, account = refuelling
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    truth = sim.truth()["fuel_events"]
    assert len(truth) == 2
    stored = Event.objects.filter(device__account=account, type="refuel")
    assert sorted((e.device.vendor_id, e.time) for e in stored) == sorted(
        (t["objectID"], vendor_time(t["startTime"])) for t in truth
    )
    litres = {e.device.vendor_id: e.attributes["litres"] for e in stored}
    assert litres == {t["objectID"]: t["fuelAfterL"] - t["fuelBeforeL"] for t in truth}
    account.refresh_from_db()
    account.cursors.pop("events_asked")  # asked again at once (from the newest one, less the lookback)
    account.save()
    again = sync.sync_account(account)
    assert again.counts["events"]["duplicates"] >= 1 and not again.counts["events"].get("created")
    assert stored.count() == 2  # nothing doubled


def test_fuel_events_are_asked_at_most_every_so_often_and_come_late_not_never(refuelling, monkeypatch, settings):
    sim, account = refuelling
    settings.METROTEC_EVENTS_EVERY_S = 600
    asked = []
    real = connector_module.MetrotecConnector.events

    def counted(self, since, until, device_ids):
        asked.append(since)
        return real(self, since, until, device_ids)

    monkeypatch.setattr(connector_module.MetrotecConnector, "events", counted)
    for _ in range(2):
        account.refresh_from_db()
        assert sync.sync_account(account).status == "ok"
    assert len(asked) == 1  # the second sync, a moment later, did not ask
    account.refresh_from_db()
    asked_at = datetime.fromisoformat(account.cursors["events_asked"])
    account.cursors["events_asked"] = (asked_at - timedelta(seconds=601)).isoformat()
    account.save()
    sync.sync_account(account)
    assert len(asked) == 2 and asked[1] <= asked[0] + timedelta(hours=2)  # from the cursor on: nothing skipped


def test_work_time_is_the_vendors_seconds_per_vehicle_and_adds_up_its_periods(refuelling):
    sim, account = refuelling
    sync.sync_account(account)
    vehicles = [d["id"] for d in sim.truth()["devices"]]
    until = datetime.now(UTC)
    since = until - timedelta(hours=3)
    with sync.connector_for(account) as connector:
        totals = connector.reports("work_time", since, until, vehicles[:3])
        periods = connector.reports("work_periods", since, until, vehicles[:3])
        waybills = connector.reports("waybills", since, until, vehicles)
    assert sorted(r["device_id"] for r in totals) == sorted(vehicles[:3])
    for row in totals:
        own = [p for p in periods if p["device_id"] == row["device_id"]]
        assert row["work_s"] == sum(p["duration_s"] for p in own) > 0 and row["repair_s"] == 0
        assert all(p["status"] == "work" and p["start"] < p["end"] for p in own)
    drivers = {d["driverName"].title() for d in sim.truth()["drivers"]}
    assert waybills and {w["driver"] for w in waybills} <= drivers
    assert all(w["device_id"] in vehicles and w["job"] for w in waybills)


def test_a_report_metrotec_does_not_have_is_a_permanent_error(refuelling):
    _sim, account = refuelling
    with sync.connector_for(account) as connector, pytest.raises(Exception, match="no mileage report") as caught:
        connector.reports("mileage", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC), [])
    assert caught.value.permanent
