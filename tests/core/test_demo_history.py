"""The demo's week of history (``seeddemo --simulators``): working-day positions for the simulators' vehicles,
stored for the very devices the sync mirrors, archived, seeded once, and enough for the utilisation overview."""

import shlex
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache as default_cache
from django.utils import timezone

from fleet.core.management.commands import seeddemo
from fleet.reports import utilisation
from fleet.simulators.motion import Fleet
from fleet.simulators.workday import HELSINKI, WorkdayFleet
from fleet.tracking.models import Device, Position, TrackDay
from fleet.vendors import sync
from fleet.vendors.models import VendorAccount
from tests.conftest import make_org

KINDS = {"Data Trak demo": "datatrak", "Metrotec demo": "metrotec", "iTrack demo": "itrack", "fleet-v2 demo": "fleetv2"}
PATHS = {"metrotec": "/api", "itrack": "/api"}  # the simulators' API roots, as the demo's accounts name them


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    settings.VENDOR_HTTP_TIMEOUT = 5.0
    yield
    default_cache.clear()


def accounts(org, urls: dict[str, str] | None = None) -> dict[str, VendorAccount]:
    made = {}
    for name, kind in KINDS.items():
        url = (urls or {}).get(kind, "http://127.0.0.1:9") + PATHS.get(kind, "")
        credentials = {"username": "demo", "password": "demo"}
        made[name] = VendorAccount.objects.create(
            organization=org, kind=kind, name=name, base_url=url, credentials=credentials
        )
    return made


def test_the_history_is_seeded_for_the_simulators_the_procfile_runs():
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text().splitlines()
    kinds = {name: kind for name, kind, _url in seeddemo.DEMO_ACCOUNTS}
    for name, devices, seed, _vendor_id in seeddemo.HISTORY_SIMS:
        line = next(line for line in procfile if line.startswith(f"sim_{kinds[name]}:"))
        args = shlex.split(line.split(":", 1)[1])
        value = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
        assert (int(value["--devices"]), int(value["--seed"])) == (devices, seed), name
    assert {kinds[name] for name, *_ in seeddemo.HISTORY_SIMS} == set(KINDS.values())


def test_the_history_model_drives_by_day_and_parks_at_night():
    monday = datetime(2026, 11, 23, tzinfo=HELSINKI)
    fixes = WorkdayFleet(6, 1, monday, 60.0).advance(monday + timedelta(days=7) - timedelta(seconds=1))
    driving = [f for f in fixes if f.ignition]
    hours = {f.time.astimezone(HELSINKI).hour for f in driving}
    assert hours <= set(range(7, 19)) and {8, 12, 16} <= hours  # 07:00-17:00 starts, up to an hour late by vehicle
    weekdays = {f.time.astimezone(HELSINKI).weekday() for f in driving}
    assert set(range(5)) <= weekdays
    night = [f for f in fixes if time(1) <= f.time.astimezone(HELSINKI).time() < time(5)]
    assert night and not any(f.ignition for f in night)  # parked all night, reporting now and then
    assert {f.device for f in fixes} == set(range(6))
    # The same vehicles (identities) as the simulator with the same n and seed.
    assert [v.unique_id for v in WorkdayFleet(6, 1, monday, 60.0).vehicles] == [
        v.unique_id for v in Fleet(6, 1, monday, 10.0).vehicles
    ]


@pytest.mark.django_db
def test_a_week_of_history_is_seeded_once_archived_and_fills_the_utilisation_overview(org_b):
    org = make_org("demo-history")
    org.timezone = "Europe/Helsinki"
    org.save()
    accounts(org)
    start = timezone.now() - timedelta(hours=1)

    seeded = seeddemo.seed_history(org, start, vehicles=2)

    assert seeded["devices"] == 8 and seeded["days"] == 7 and seeded["positions"] > 8 * 7 * 50
    devices = Device.objects.filter(organization=org)
    assert devices.count() == 8
    assert Position.objects.filter(device__organization=org).count() == seeded["positions"]
    today = start.astimezone(HELSINKI).date()
    first = datetime.combine(today - timedelta(days=7), time(), tzinfo=HELSINKI)
    times = Position.objects.filter(device__organization=org).order_by("fix_time").values_list("fix_time", flat=True)
    assert first <= times.first() and times.last() < datetime.combine(today, time(), tzinfo=HELSINKI)
    assert TrackDay.objects.filter(device__organization=org).count() >= 8 * 7  # the closed UTC days archived
    assert not Position.objects.filter(device__organization=org_b).exists()

    again = seeddemo.seed_history(org, start, vehicles=2)
    assert again["positions"] == 0 and Position.objects.filter(device__organization=org).count() == seeded["positions"]

    yesterday, week = utilisation.overview(org, list(devices.order_by("name")))
    assert week.active == week.total == 8 and week.distance_m > 8 * 10_000 and week.moved == 8
    assert 0 < week.utilisation_time < 40 and week.no_data_share < 5  # parked at night is stopped, not no data
    assert yesterday.active == 8 and not yesterday.no_data


@pytest.mark.django_db(transaction=True)
def test_the_sync_updates_the_seeded_devices_instead_of_adding_its_own(simulator):
    seeds = {name: seed for name, _n, seed, _id in seeddemo.HISTORY_SIMS}
    sims = {kind: simulator(kind, devices=2, seed=seeds[name], lag=0) for name, kind in KINDS.items()}
    org = make_org("demo-sync")
    made = accounts(org, {kind: sim.url for kind, sim in sims.items()})
    seeddemo.seed_history(org, timezone.now() - timedelta(hours=1), vehicles=2)
    before = dict(Device.objects.filter(organization=org).values_list("pk", "vendor_id"))
    assert len(before) == 8

    for name, account in made.items():
        assert sync.sync_account(account).status == "ok", name

    after = dict(Device.objects.filter(organization=org).values_list("pk", "vendor_id"))
    assert after == before  # the same rows, none added
    recent = Position.objects.filter(device__organization=org, fix_time__gte=timezone.now() - timedelta(hours=2))
    assert set(recent.values_list("device_id", flat=True)) == set(before)  # the sync's fixes went to them
    assert Position.objects.filter(device__organization=org, fix_time__lt=datetime.now(UTC) - timedelta(days=1))
