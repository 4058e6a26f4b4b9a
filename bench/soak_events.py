"""The soak's event engine check: geofences where the vehicles drive, and the engine's stored events compared
with those recomputed offline from the stored positions.

The engine runs in the ingest path on every batch and replays a device when a fix arrives late (fleet/events/
run.py); whatever the order the fixes arrived in, its events must be those of the device's stored fixes fed in
fix order through the same pure engine from an empty state. Only the engine's own events are compared (source
``fleet``, not a vendor's alerts), and of the zone events only those of the soak's own geofences: the POIs,
tasks and geofences the vendors' syncs mirror appear and change during the run, and a zone is not retroactive."""

from __future__ import annotations

import math
import random
from collections import Counter

DWELL_S = 20  # one geofence in six enters / exits only after this long inside / outside
SPEED_LIMIT_KMH = 30.0  # one in eight has a speed limit: the overspeed rule on the same fixes
CHUNK = 200  # devices recomputed at once
SETTLED_S = 180.0  # "offline" events timed later than this before the comparison are left out (being stored)
REGION_KM = 60.0  # the fences of an organisation spread over at least this square around where it drives
ON_ROUTE = 100  # one fence in this many centred near a driven point


def seed_geofences(points: dict[int, list[tuple[float, float]]], total: int, seed: int = 21) -> dict[int, set[str]]:
    """``total`` geofences spread over the organisations (org pk -> points their vehicles drove through), as a
    real fleet has them: depots and customer sites of 50-400 m over the whole region it serves (at least
    ``REGION_KM`` across, around where its vehicles drive), one in ``ON_ROUTE`` centred near a driven point so
    vehicles cross them; every fifth one a wider circle around its organisation's last one (overlapping);
    circles and polygons (convex and star-shaped); some with a dwell, some with a speed limit. A position lies
    in a fraction of a zone on average, not in dozens (10,000 fences on the few km² the simulators drive would
    make every fix an event storm no fleet has). Returns org pk -> the engine keys of its geofences."""
    from django.contrib.gis.geos import Point, Polygon

    from fleet.geo.models import Geofence

    rnd, rows, orgs = random.Random(seed), [], [org for org, p in points.items() if p]
    regions = {org: _region(points[org]) for org in orgs}
    circles: dict[int, Geofence] = {}
    for k in range(total):
        org = orgs[k % len(orgs)]
        if k % ON_ROUTE == 0:
            lat, lon = rnd.choice(points[org])
            lat += rnd.uniform(-0.002, 0.002)
            lon += rnd.uniform(-0.004, 0.004)
        else:
            (lat0, lat1), (lon0, lon1) = regions[org]
            lat, lon = rnd.uniform(lat0, lat1), rnd.uniform(lon0, lon1)
        radius = rnd.uniform(50, 400)
        common = {
            "organization_id": org,
            "name": f"soak fence {k:05}",
            "dwell_s": DWELL_S if k % 6 == 1 else 0,
            "speed_limit_kmh": SPEED_LIMIT_KMH if k % 8 == 3 else None,
        }
        if k % 5 == 4 and (before := circles.get(org)):  # around the organisation's last circle
            point = Point(before.geometry.x, before.geometry.y, srid=4326)
            rows.append(Geofence(kind=Geofence.Kind.CIRCLE, geometry=point, radius_m=before.radius_m * 3, **common))
        elif k % 2:
            point = Point(lon, lat, srid=4326)
            rows.append(Geofence(kind=Geofence.Kind.CIRCLE, geometry=point, radius_m=radius, **common))
            circles[org] = rows[-1]
        else:
            ring = _ring(rnd, lat, lon, radius)
            rows.append(Geofence(kind=Geofence.Kind.POLYGON, geometry=Polygon(ring, srid=4326), **common))
    made = Geofence.objects.bulk_create(rows, batch_size=1000)
    keys: dict[int, set[str]] = {}
    for fence in made:
        keys.setdefault(fence.organization_id, set()).add(f"geofence:{fence.pk}")
    return keys


def _region(points: list[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (lat, lon) ranges around the driven points, widened to ``REGION_KM`` across where they are narrower."""
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    mid_lat, mid_lon = (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2
    half_lat = max((max(lats) - min(lats)) / 2, REGION_KM * 500 / 111_320.0)
    half_lon = max((max(lons) - min(lons)) / 2, REGION_KM * 500 / (111_320.0 * math.cos(math.radians(mid_lat))))
    return (mid_lat - half_lat, mid_lat + half_lat), (mid_lon - half_lon, mid_lon + half_lon)


def _ring(rnd: random.Random, lat: float, lon: float, radius: float) -> list[tuple[float, float]]:
    """A closed ring of 3-8 corners around (lat, lon), every other corner pulled in for a star (concave)."""
    corners, star, turn = rnd.randint(3, 8), rnd.random() < 0.3, rnd.uniform(0, 2 * math.pi)
    kx = 111_320.0 * math.cos(math.radians(lat))
    ring = []
    for i in range(corners * (2 if star else 1)):
        r = radius * (0.45 if star and i % 2 else 1.0)
        a = turn + 2 * math.pi * i / (corners * (2 if star else 1))
        ring.append((lon + r * math.cos(a) / kx, lat + r * math.sin(a) / 111_320.0))
    return [*ring, ring[0]]


def compared(fence_keys: dict[int, set[str]], since: float, cut: list[int]) -> dict:
    """The engine's stored events against those recomputed offline, per type, with examples of each side; both
    from ``since`` (epoch s: the retention's cutoff) on, and for the devices ``cut`` (the retention dropped their
    old days during the run) after their first fix kept: what the engine found from fixes that are gone (a
    crossing of the segment from the last dropped fix, an exit or a "back online" at the first fix kept) cannot
    be recomputed from the positions that stay. "Offline" events timed later than ``SETTLED_S`` before the
    comparison began are left out on both sides: the stack still runs meanwhile, and its offline check stores a
    silent device's event (timed at its last fix + the stale time) within a minute of that time, between this
    function's two reads of the stored events."""
    import time

    from django.db.models import Min

    from fleet.events import engine
    from fleet.tracking.models import Device, Position

    until = time.time() - SETTLED_S
    stored, recomputed, silent = _stored(fence_keys), Counter(), 0
    for org, keys in fence_keys.items():
        found, quiet = _recompute(org, keys)
        recomputed.update(found)
        silent += quiet
    kept = Position.objects.filter(device_id__in=cut, valid=True, fix_time__gte=_utc(since))
    first = {
        d: t.timestamp() for d, t in kept.values("device_id").annotate(t=Min("fix_time")).values_list("device_id", "t")
    }

    def comparable(key: tuple) -> bool:
        settled = key[2] <= until or key[1] != engine.OFFLINE
        return settled and key[2] >= since and key[2] > first.get(key[0], float("-inf"))

    stored = Counter({k: n for k, n in stored.items() if comparable(k)})
    recomputed = Counter({k: n for k, n in recomputed.items() if comparable(k)})
    missing, extra = recomputed - stored, stored - recomputed
    said = _said_by_vendor(list(missing))
    missing = Counter({k: n for k, n in missing.items() if k not in said})
    by_type = Counter(k[1] for k in recomputed.elements())
    kinds = dict(Device.objects.filter(organization_id__in=fence_keys).values_list("pk", "account__kind"))
    fixes = Position.objects.filter(device__organization_id__in=fence_keys, valid=True).count()
    return {
        "stored": sum(stored.values()),
        "recomputed": sum(recomputed.values()),
        "per_1000_fixes": round(1000 * sum(recomputed.values()) / max(fixes, 1), 1),
        "by_type": dict(sorted(by_type.items())),
        "geofence_events": by_type[engine.ENTER["geofence"]] + by_type[engine.LEAVE["geofence"]],
        "missing": sum(missing.values()),
        "extra": sum(extra.values()),
        "vendor_said": len(said),
        "offline_check": silent,
        "missing_e": [_show(k, kinds) for k in sorted(missing)[:4]],
        "extra_e": [_show(k, kinds) for k in sorted(extra)[:4]],
    }


def _stored(fence_keys: dict[int, set[str]]) -> Counter:
    from fleet.events import engine
    from fleet.tracking.models import Event

    ours = set().union(*fence_keys.values())
    rows = (
        Event.objects.filter(source=Event.Source.FLEET, organization_id__in=fence_keys)
        .exclude(type__in=engine.NOT_FROM_FIXES)
        .values_list("device_id", "type", "time", "key")
    )
    return Counter((d, kind, t.timestamp(), key) for d, kind, t, key in rows if _compared(key, ours))


def _compared(key: str, ours: set[str]) -> bool:
    """A zone event of one of the soak's geofences, or an event of no zone."""
    return key in ours or not key.startswith(("geofence:", "poi:", "task:"))


def _recompute(org: int, keys: set[str]) -> tuple[Counter, int]:
    """Every device of ``org``: its valid stored fixes in fix order through ``engine.evaluate`` from an empty
    state, with the soak's geofences of ``org`` as the zones and the rules the ingest path uses. The offline
    check (fleet/events/offline.py) also reports a device silent at the end, which no later fix shows: those
    are counted apart (the second value), from each device's final state."""
    from datetime import timedelta

    import numpy as np
    from django.db.models import Max

    from fleet.core.models import Organization
    from fleet.events import engine, places, run
    from fleet.events.zones import ZoneIndex
    from fleet.tracking.models import Device, Event, Position

    index = ZoneIndex([z for z in places.load(org) if z.key in keys])
    devices = list(Device.objects.filter(organization_id=org).order_by("pk").values_list("pk", flat=True))
    out, quiet = Counter(), 0
    for k in range(0, len(devices), CHUNK):
        chunk = devices[k : k + CHUNK]
        rows = list(
            Position.objects.filter(device_id__in=chunk, valid=True)
            .order_by("device_id", "fix_time")
            .values_list("device_id", "fix_time", "latitude", "longitude", "speed", "accuracy", "attributes", "id")
        )
        if not rows:
            continue
        fixes = engine.Fixes(
            device=np.array([r[0] for r in rows], dtype=np.int64),
            t=np.array([r[1].timestamp() for r in rows], dtype=float),
            lat=np.array([r[2] for r in rows], dtype=float),
            lon=np.array([r[3] for r in rows], dtype=float),
            speed=np.array([r[4] for r in rows], dtype=float),
            accuracy=run._floats(r[5] for r in rows),
            ignition=run._floats((r[6] or {}).get("ignition") for r in rows),
            battery=run._floats((r[6] or {}).get("battery_level") for r in rows),
            pid=np.array([r[7] for r in rows], dtype=np.int64),
        )
        rules = run.rules_for(org, set(chunk))
        found, _states = engine.evaluate(index, fixes, {}, rules.get)
        out.update((f.device, f.type, run._when(f.t).timestamp(), f.key) for f in found)
    stale = timedelta(minutes=Organization.objects.get(pk=org).stale_after_minutes)
    last = dict(
        Position.objects.filter(device__organization_id=org, valid=True)
        .values("device_id")
        .annotate(last=Max("fix_time"))
        .values_list("device_id", "last")
    )
    offline = Event.objects.filter(organization_id=org, source=Event.Source.FLEET, type=engine.OFFLINE)
    for device, t in offline.values_list("device_id", "time"):
        if device in last and t == run._when((last[device] + stale).timestamp()):  # the last fix + the stale time
            out[(device, engine.OFFLINE, t.timestamp(), "")] += 1
            quiet += 1
    return out, quiet


def _said_by_vendor(keys: list[tuple]) -> set[tuple]:
    """The recomputed events the engine rightly did not store: a vendor's event of the same device, type and
    geofence said them already (run.store)."""
    from datetime import UTC, datetime

    from fleet.tracking import services

    candidates = [
        (d, kind, int(key.split(":")[1]) if key.startswith("geofence:") else None, datetime.fromtimestamp(t, UTC))
        for d, kind, t, key in keys
    ]
    return {keys[i] for i in services.echoes(candidates, "vendor")}


def _show(key: tuple, kinds: dict[int, str]) -> str:
    from datetime import UTC, datetime

    device, kind, t, zone = key
    when = f"{datetime.fromtimestamp(t, UTC):%m-%d %H:%M:%S.%f}"[:-3]
    return f"{kind} device {device} ({kinds.get(device)}) {when} {zone}".rstrip()


def _utc(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)
