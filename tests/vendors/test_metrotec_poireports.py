"""Metrotec's asynchronous POI reports: asked, polled step by step (no worker waits), fetched; a stuck one
ends with a clear error."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from fleet.vendors import poireports
from fleet.vendors.models import PoiReport

pytestmark = pytest.mark.django_db(transaction=True)


def run_steps(report: PoiReport, most: int = 20) -> int:
    """Run the task's steps as the Celery task would, without its countdowns; return how many ran."""
    for step in range(1, most + 1):
        report.refresh_from_db()
        if poireports.advance(report) is None:
            return step
        time.sleep(0.1)
    raise AssertionError("the report never finished")


def test_a_poi_report_is_asked_polled_and_its_visits_kept(metrotec):
    sim, account = metrotec
    sim.set_faults(poi_report_delay=0.5)
    now = timezone.now()
    report = PoiReport.objects.create(account=account, start=now - timedelta(days=1), end=now)
    steps = run_steps(report)
    report.refresh_from_db()
    assert report.status == "done" and report.vendor_id and steps > 2  # asked, waited, fetched
    assert report.rows and {"device_id", "poi", "enter", "exit", "duration_s", "distance_m"} <= report.rows[0].keys()
    assert {r["device_id"] for r in report.rows} <= {d["id"] for d in sim.truth()["devices"]}


def test_a_stuck_poi_report_times_out_with_a_clear_error(metrotec, settings):
    sim, account = metrotec
    sim.set_faults(poi_report_delay=0.1, stuck_reports=True)
    settings.POI_REPORT_TIMEOUT_S = 1
    now = timezone.now()
    report = PoiReport.objects.create(account=account, start=now - timedelta(days=1), end=now)
    run_steps(report, most=30)
    report.refresh_from_db()
    assert report.status == "error" and report.rows == []
    assert report.error == f"the vendor had not made the POI report {report.vendor_id} after 1 s: given up"


def test_a_vendor_without_poi_reports_is_refused_at_once(simulator):
    from tests.vendors.conftest import make_sim_account

    sim = simulator("datatrak", devices=1)
    account = make_sim_account(sim, "datatrak")
    with pytest.raises(ValueError, match="datatrak makes no POI reports"):
        poireports.request(account, timezone.now() - timedelta(days=1), timezone.now())
