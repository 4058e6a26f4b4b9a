"""Create (or refresh) the demo organisation and its logins; safe to run again. With ``--simulators``: the
vendor accounts of the local simulators, dispatch data for them (drivers, POIs, a day of tasks at places the
Data Trak simulator's vehicles will park at, so they complete them by driving there), and a week of history
for the outdoor simulators' vehicles (README, the demo)."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import httpx
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from fleet.core.models import Membership, Organization
from fleet.dispatch import lifecycle, services
from fleet.dispatch.models import ChecklistItem, Task
from fleet.geo.geocoding import streets
from fleet.geo.models import POI
from fleet.simulators import itinerary, roads
from fleet.simulators.fleetv2 import VEHICLE_BASE
from fleet.simulators.itrack import tracker_id
from fleet.simulators.metrotec.formats import registration
from fleet.simulators.motion import Fleet
from fleet.simulators.workday import WorkdayFleet
from fleet.tracking import ingest, store
from fleet.tracking.models import Device, Driver
from fleet.tracking.records import PositionRecord
from fleet.tracking.store import archive
from fleet.vendors.models import VendorAccount

DEMO_USERS = [
    # username, password, role, superuser (and staff: the others have no use for the admin)
    ("admin", "admin", Membership.Role.ADMIN, True),
    ("dispatcher", "dispatcher", Membership.Role.DISPATCHER, False),
]


# The simulators the Procfile starts (fleet/simulators): one per vendor built so far.
DEMO_ACCOUNTS = [
    ("Data Trak demo", "datatrak", "http://127.0.0.1:8101"),
    ("Safectory demo", "safectory", "http://127.0.0.1:8102"),
    ("Metrotec demo", "metrotec", "http://127.0.0.1:8103/api"),  # Metrotec's base URL names its API root
    ("iTrack demo", "itrack", "http://127.0.0.1:8104/api"),  # Navixy's base URL names its API root (…/v2)
    ("fleet-v2 demo", "fleetv2", "http://127.0.0.1:8105"),
]
# The simulator whose vehicles get the demo's tasks, as the Procfile runs it (sim_datatrak: --devices 40 --seed 1
# --history 3600; Data Trak reports every 10 s): its motion model is rebuilt here to read their stops ahead.
TASK_SIM = {"account": "Data Trak demo", "devices": 40, "seed": 1, "history": 3600.0, "interval": 10.0}
TASK_VEHICLES = 6  # the first vehicles of that simulator, one demo driver each
TASK_GAP = timedelta(minutes=90)  # between two tasks of one vehicle, over a day
TASK_MIN_STAY = timedelta(minutes=5)  # parked that long: time to work there (the dwell is 2 minutes)
TASK_WINDOW = timedelta(minutes=30)  # before the arrival and after the departure the simulator plans
DEMO_DRIVERS = ["Aino Virtanen", "Mikko Korhonen", "Sanna Mäkinen", "Juha Nieminen", "Laura Hämäläinen", "Petri Laine"]
# The week of history before the simulators' hour: the Procfile's outdoor simulators (name, --devices, --seed) and
# the vendor id each lists its vehicles under, which the sync keeps as Device.vendor_id (Safectory's indoor
# trackables have no working day and get no history).
HISTORY_SIMS = [
    ("Data Trak demo", 40, 1, lambda v: str(v.index + 1)),
    ("Metrotec demo", 25, 3, lambda v: registration(v.plate)),
    ("iTrack demo", 20, 4, lambda v: str(tracker_id(v.index))),
    ("fleet-v2 demo", 20, 5, lambda v: str(VEHICLE_BASE + v.index)),
]
HISTORY_DAYS = 7
HISTORY_INTERVAL = 60.0  # seconds between fixes while driving (parked: six times that)
HISTORY_BATCH = 5000
CHECKLIST = ["Call the customer on arrival", "Photo of the delivered goods", "Receiver's signature"]


class Command(BaseCommand):
    help = "Create the demo organisation with an admin (superuser) and a dispatcher login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", default="demo", help="slug of the demo organisation")
        parser.add_argument(
            "--simulators",
            action="store_true",
            help="register the local vendor simulators (make run starts them) as the demo's vendor accounts",
        )

    def handle(self, *args, **options) -> None:
        org, _ = Organization.objects.get_or_create(slug=options["org"], defaults={"name": "Demo Fleet"})
        User = get_user_model()
        for username, password, role, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
            user.is_staff = user.is_superuser = superuser
            user.save()
            Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
            if created:
                self.stdout.write(f"login: {username} / {password} ({role} of {org.name})")
        count = streets.replace(DEMO_STREETS, demo_streets())
        self.stdout.write(f"streets: {count} named segments of the demo's road graph (addresses)")
        if options["simulators"]:
            self._register_simulators(org)
            account = VendorAccount.objects.get(organization=org, name=TASK_SIM["account"])
            start = simulator_start(account)
            counts = seed_dispatch(org, account, start)
            self.stdout.write("dispatch: {drivers} drivers, {pois} POIs, {tasks} tasks".format(**counts))
            began = time.monotonic()
            history = seed_history(org, start)
            took = time.monotonic() - began
            self.stdout.write(
                f"history: {history['positions']:,} positions of {history['devices']} vehicles over "
                f"{history['days']} days before the simulators' hour ({took:.1f} s)"
            )
        self.stdout.write(self.style.SUCCESS(f"demo organisation '{org.slug}' ready"))

    def _register_simulators(self, org: Organization) -> None:
        from fleet.vendors.models import VendorAccount

        for name, kind, url in DEMO_ACCOUNTS:
            VendorAccount.objects.update_or_create(
                organization=org,
                name=name,
                defaults={
                    "kind": kind,
                    "base_url": url,
                    "credentials": {"username": "demo", "password": "demo"},
                    "sync_interval_s": 30,
                    "enabled": True,
                    "disabled_by_error": False,
                },
            )
            self.stdout.write(f"vendor account: {name} ({kind}) at {url}")


DEMO_STREETS = "demo: helsinki_roads.json.gz"  # the Street rows' source: replaced on every run


def demo_streets() -> list[tuple[str, list[tuple[float, float]]]]:
    """The road graph's named edges (each direction once) as (name, [(lon, lat), (lon, lat)])."""
    graph = roads.load_graph()
    seen, out = set(), []
    for edge, (u, v) in enumerate(zip(graph.edge_u.tolist(), graph.edge_v.tolist(), strict=True)):
        name = roads.street_name(edge)
        if name and (min(u, v), max(u, v)) not in seen:
            seen.add((min(u, v), max(u, v)))
            out.append((name, [(graph.lon[u], graph.lat[u]), (graph.lon[v], graph.lat[v])]))
    return out


def simulator_start(account: VendorAccount) -> datetime:
    """The start of the simulator's motion model: asked from a running simulator, else the one ``make run`` is
    about to start (its history before now; a few seconds off shift the stops' times, not their places)."""
    try:
        answer = httpx.get(f"{account.base_url.rstrip('/')}/__sim__/clock", timeout=2.0)
        return datetime.fromisoformat(answer.json()["start"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return datetime.fromtimestamp(math.floor(timezone.now().timestamp() - TASK_SIM["history"]), UTC)


def seed_dispatch(org: Organization, account: VendorAccount, start: datetime, now: datetime | None = None) -> dict:
    """Drivers, the simulator's places as POIs (parkings as depots, the rest customers) and, for its first
    vehicles, a day of tasks at places they will park at, assigned. An earlier seeding's open tasks (another
    simulator run: other times) are cancelled; seeding again for the same run adds none. The vehicles are
    stored as the sync will find them (same vendor ids). ``now``: the simulator's time (the demo's lags none)."""
    fleet = Fleet(TASK_SIM["devices"], TASK_SIM["seed"], start, TASK_SIM["interval"])
    now = now or timezone.now()
    stops = itinerary.stops(fleet, list(range(TASK_VEHICLES)), now + timedelta(days=1))
    with transaction.atomic():
        drivers = [_driver(org, name) for name in DEMO_DRIVERS]
        pois = {place.node: _poi(org, place) for place in roads.places()}
        seeded = Task.objects.filter(organization=org, attributes__demo_start=start.isoformat())
        if seeded.exists():  # seeded for this very simulator run already
            return {"drivers": len(drivers), "pois": len(pois), "tasks": 0}
        stale = Task.objects.filter(organization=org, attributes__has_key="demo_start", status__in=lifecycle.OPEN)
        for task in stale:
            lifecycle.transition(task, Task.Status.CANCELLED, "system", note="the demo's simulators restarted")
        devices = [_device(org, account, fleet.vehicles[i]) for i in range(TASK_VEHICLES)]
        rng = random.Random(start.timestamp())
        made = 0
        for k, device in enumerate(devices):
            mine = [stop for stop in stops if stop.vehicle.index == k]
            for stop in _spread(mine, now):
                made += 1
                ref = f"DEMO-{start:%y%m%d-%H%M%S}-{made:03d}"
                _task(org, ref, stop, pois[stop.place.node], rng, device, drivers[k], start)
    return {"drivers": len(drivers), "pois": len(pois), "tasks": made}


def _spread(stops: list[itinerary.Stop], now: datetime) -> list[itinerary.Stop]:
    """Stops long enough to work at, the first soon, then one every ``TASK_GAP``."""
    chosen: list[itinerary.Stop] = []
    for stop in stops:
        due = chosen[-1].arrive + TASK_GAP if chosen else now + timedelta(minutes=2)
        if stop.arrive >= due and stop.leave - stop.arrive >= TASK_MIN_STAY:
            chosen.append(stop)
    return chosen


def _driver(org: Organization, name: str) -> Driver:
    unique_id = f"DEMO{sum(map(ord, name)):06d}"
    return Driver.objects.get_or_create(organization=org, account=None, name=name, defaults={"unique_id": unique_id})[0]


def _poi(org: Organization, place: roads.Place) -> POI:
    depot = place.kind == "parking"
    existing = POI.objects.filter(organization=org, attributes__demo_place=place.node).first()
    return existing or POI.objects.create(
        organization=org,
        name=f"Depot {place.name}" if depot else place.name,
        purpose=POI.Purpose.POI if depot else POI.Purpose.CUSTOMER,
        point=Point(place.lon, place.lat, srid=4326),
        radius_m=80,
        colour="#475467" if depot else "#e4572e",
        address=f"{place.name}, Helsinki",
        description="A depot of the demo fleet." if depot else f"A demo customer ({place.kind.replace('_', ' ')}).",
        attributes={"demo_place": place.node},
    )


def _device(org: Organization, account: VendorAccount, vehicle, vendor_id: str | None = None) -> Device:
    """The simulator's vehicle as the sync stores it (keyed by account and vendor id; Data Trak's vendor id is
    its index + 1), so the sync updates this very row."""
    fields = {
        "name": vehicle.name,
        "unique_id": vehicle.unique_id,
        "plate": vehicle.plate,
        "category": vehicle.category,
    }
    vendor_id = str(vehicle.index + 1) if vendor_id is None else vendor_id
    device, _ = Device.objects.get_or_create(
        account=account, vendor_id=vendor_id, defaults={"organization": org, **fields}
    )
    return device


# --------------------------------------------------------------------------------------------- history


def seed_history(org: Organization, start: datetime, vehicles: int | None = None) -> dict:
    """A week of history for the outdoor simulators' vehicles: the ``HISTORY_DAYS`` local days before the day
    of ``start`` (the simulators' first moment), from the working-day motion model at ``HISTORY_INTERVAL``,
    stored through ingest for the very devices the sync mirrors, then archived. A vehicle's day that already
    has positions (an earlier seeding, or the sync) gets none: seeding again adds nothing. ``vehicles`` caps
    the vehicles per simulator (tests)."""
    zone = ZoneInfo(org.timezone)
    today = start.astimezone(zone).date()
    first = today - timedelta(days=HISTORY_DAYS)
    since = datetime.combine(first, dt_time(), tzinfo=zone)
    until = datetime.combine(today, dt_time(), tzinfo=zone)
    out = {"positions": 0, "devices": 0, "days": HISTORY_DAYS}
    for name, count, seed, vendor_id in HISTORY_SIMS:
        account = VendorAccount.objects.filter(organization=org, name=name).first()
        if account is None:
            continue
        fleet = WorkdayFleet(min(count, vehicles or count), seed, since, HISTORY_INTERVAL)
        ids = [vendor_id(v) for v in fleet.vehicles]
        pks = [_device(org, account, v, ids[v.index]).pk for v in fleet.vehicles]
        seeded = _days_with_data(pks, first, today, zone)
        out["devices"] += len(pks)
        if len(seeded) < len(pks) * HISTORY_DAYS:
            fixes = fleet.advance(until - timedelta(seconds=1))  # whole seconds: every fix before ``until``
            fresh = [_record(f, ids[f.device]) for f in fixes if (pks[f.device], _local_day(f, zone)) not in seeded]
            for k in range(0, len(fresh), HISTORY_BATCH):
                batch = fresh[k : k + HISTORY_BATCH]
                out["positions"] += ingest.positions(org.pk, account.pk, batch, notify=False).created
    archive.archive_recent_days(HISTORY_DAYS + 2, organization=org)
    return out


def _local_day(fix, zone: ZoneInfo) -> date:
    return fix.time.astimezone(zone).date()


def _days_with_data(pks: list[int], first: date, today: date, zone: ZoneInfo) -> set[tuple[int, date]]:
    """(device pk, local day) of the history's days that have a position already (one index probe each)."""
    found = set()
    for pk in pks:
        for k in range((today - first).days):
            day = first + timedelta(days=k)
            lo = datetime.combine(day, dt_time(), tzinfo=zone)
            if store.exists(pk, lo, datetime.combine(day + timedelta(days=1), dt_time(), tzinfo=zone)):
                found.add((pk, day))
    return found


def _record(fix, vendor_id: str) -> PositionRecord:
    attributes = {
        "ignition": fix.ignition,
        "odometer_m": fix.odometer_m,
        "battery_level": fix.battery_level,
        "power_v": fix.power_v,
        "fuel_l": fix.fuel_l,
        "satellites": fix.satellites,
    }
    return PositionRecord(
        device_id=vendor_id,
        fix_time=fix.time,
        latitude=fix.lat,
        longitude=fix.lon,
        speed=fix.speed_kmh,
        course=fix.course,
        altitude=fix.altitude,
        accuracy=fix.accuracy,
        valid=fix.valid,
        server_time=fix.time,
        attributes=attributes,
    )


def _task(org, ref: str, stop: itinerary.Stop, poi: POI, rng: random.Random, device, driver, start) -> None:
    task = Task(organization=org, order_ref=ref, poi=poi, destination=poi.point, destination_radius_m=poi.radius_m)
    task.title = f"{rng.choice(['Deliver', 'Collect', 'Service'])} at {poi.name}"
    task.destination_address = poi.address
    task.planned_start, task.planned_stop = stop.arrive - TASK_WINDOW, stop.leave + TASK_WINDOW
    task.priority = rng.choice([0, 1, 1, 1, 2, 3])
    task.attributes = {"demo_start": start.isoformat()}  # which simulator run it was planned for
    services.save_task(task)
    for order, text in enumerate(rng.sample(CHECKLIST, rng.randint(0, 2))):
        ChecklistItem.objects.create(task=task, text=text, order=order)
    lifecycle.assign(task, device, driver)
