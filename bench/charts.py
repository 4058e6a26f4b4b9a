#!/usr/bin/env python
"""Fleet charts: a group of 55 vehicles charted over 31 days, cold and warm; a fleet's Summary of yesterday.

55 devices x 31 days (--quick: 5 x 3) from the simulators' Helsinki motion model (``reports.generate``: a fix
every 30 s while driving, every 3 minutes parked, parks from minutes to overnight), written straight into the
positions table of a scratch database (PostGIS when DATABASE_URL names PostgreSQL, else a SpatiaLite file under
.run/); the report cache is the configured one (Redis at REDIS_URL), under a key prefix of its own. Timed server-side:

- the plan (``charts.FleetPlan.make``: per device one ``store.around`` query, one stamp call, one cache round
  trip) and whether it is cheap enough for the request (``FleetPlan.cheap``), cold: nothing archived or cached;
- computing the days cold (what the background job does: every day read from the positions table, archived on
  the way, computed and cached);
- the same with the closed days archived but their results not cached (a new key prefix);
- warm: plan and days with every closed day cached, and GET /reports/charts/ through Django's test client.

Goal: the warm 55 x 31 chart computed in the request, under 1 s.

Fleet summary (``--part summary``): 10,000 devices (--quick: 500) of one organisation, each driving one of 10
motion-model tracks (a fix every 2 minutes driving, every 12 parked: 324 fixes over 30 hours from the day's
local midnight), then the Summary report of that closed day: cold (``build_report``, every day computed and
cached: what the background job does), then warm: GET /reports/summary/ (the job decision included), the plan
(``CachedRange.many``) and the report alone; the same run's reference is the warm day read one device at a time
(``detect_range_cached`` per device, as the summary did before the batched plan).
Goal: the warm fleet summary computed in the request, under 2 s.

Usage: [DATABASE_URL=postgis://user@host/db] .venv/bin/python bench/charts.py [--quick] [--part charts|summary]
The last line printed is one JSON object {"bench": "charts", ..., "goal_met": true|false}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]


def scratch_database() -> tuple[str, object]:
    from _db import drop, scratch_postgis

    if os.environ.get("DATABASE_URL", "").startswith(("postgis://", "postgres://", "postgresql://")):
        return scratch_postgis("charts"), lambda: drop("charts")
    path = ROOT / ".run" / f"bench_charts_{os.getpid()}.sqlite3"

    def cleanup() -> None:
        from django.db import connections

        connections.close_all()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return f"spatialite:///{path}", cleanup


def fresh_cache() -> None:
    """An empty report cache: the configured one under a key prefix of its own (other users of the same Redis
    database keep their entries)."""
    import uuid

    from django.core.cache import cache

    cache.key_prefix = f"bench-charts-{uuid.uuid4().hex[:8]}"


def timed(fn):
    from django.db import transaction

    t0 = time.perf_counter()
    with transaction.atomic():  # cache entries are written when the transaction commits, as in a request
        value = fn()
    return time.perf_counter() - t0, value


def run(quick: bool) -> dict:
    from django.db import connection
    from django.test import Client
    from reports import T0, TZ, generate, store_positions

    from fleet.core.models import Membership, Organization
    from fleet.reports import charts
    from fleet.tracking.models import Device, DeviceGroup

    n, days = (5, 3) if quick else (55, 31)
    per_device = days * 86_400 // 100  # ~ a fix every 100 s on average: the whole range
    org = Organization.objects.create(name="Bench", slug="bench", timezone=TZ)
    group = DeviceGroup.objects.create(organization=org, name="Vans")
    t0 = time.perf_counter()
    points = generate(n, per_device, seed=11, interval=30)
    generated = time.perf_counter() - t0
    devices, stored = [], 0
    for k in range(n):
        device = Device.objects.create(organization=org, group=group, name=f"Van {k + 1:02d}")
        keep = points["device"] == k
        stored += store_positions(device.pk, {name: values[keep] for name, values in points.items()}, analyze=False)
        devices.append(device)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tracking_position")
    start, end = T0, T0 + timedelta(days=days)
    inside = int(((points["t"] >= start.timestamp()) & (points["t"] < end.timestamp())).sum())
    print(
        f"{connection.vendor}: {n} devices x {days} days, {inside:,} positions in the range "
        f"(generated in {generated:.1f} s, stored in {stored:.1f} s)",
        flush=True,
    )
    fresh_cache()
    out: dict = {"database": connection.vendor, "devices": n, "days": days, "positions": inside}

    def plan_and_days():
        plan = charts.FleetPlan.make(org, devices, start, end)
        return plan, plan.closed_misses, plan.cheap, plan.days()

    for label, prepare in (("cold", None), ("archived", fresh_cache), ("warm", None)):
        if prepare:
            prepare()
        seconds, (plan, to_compute, cheap, result) = timed(lambda: plan_and_days())
        plan_s, _ = timed(lambda: charts.FleetPlan.make(org, devices, start, end).cheap)
        out[label] = {"s": round(seconds, 3), "plan_s": round(plan_s, 3), "to_compute": to_compute, "inline": cheap}
        print(
            f"    {label}: plan + days {seconds:.3f} s ({to_compute} closed device-days to compute: "
            f"{'in the request' if cheap else 'a background job'}); the plan alone, after: {plan_s:.3f} s",
            flush=True,
        )
    assert len(result) == days and sum(d.distance_m for d in result) > 0
    settings_hosts()
    user = _user(org, Membership)
    client = Client()
    client.force_login(user)
    query = {"preset": "custom", "start": f"{start:%Y-%m-%d}", "group": group.pk}
    query["end"] = f"{end - timedelta(days=1):%Y-%m-%d}"
    client.get("/reports/charts/", query)  # the first request of a process pays imports and template loading
    page_s, response = timed(lambda: client.get("/reports/charts/", query))
    out["page_warm_s"], out["page_status"] = round(page_s, 3), response.status_code
    print(
        f"    warm page GET /reports/charts/ (group of {n}, {days} days): {page_s:.3f} s, HTTP {response.status_code}"
    )
    return out


def fleet_summary(quick: bool) -> dict:
    """The Summary page of one closed day for a whole fleet, warm and cold, and the same day read one device at
    a time as the summary did before ``CachedRange.many`` (the same run's reference)."""
    from django.db import connection
    from django.test import Client
    from reports import T0, TZ, generate, store_positions

    from fleet.core.models import Membership, Organization
    from fleet.reports import cache
    from fleet.reports.engine import Params
    from fleet.reports.kinds import build_report
    from fleet.tracking.models import Device, DeviceGroup

    n, tracks = (500, 10) if quick else (10_000, 10)
    org = Organization.objects.create(name="Fleet", slug="fleet", timezone=TZ)
    group = DeviceGroup.objects.create(organization=org, name="Fleet")
    # A fix every 2 minutes driving, 12 parked, for a day and a half from the day's start: distinct tracks,
    # each driven by n / tracks devices (the timings do not depend on which track a device drives).
    points = generate(tracks, 3 * 86_400 // 2 // 400, seed=5, interval=120)
    base = [{name: values[points["device"] == k] for name, values in points.items()} for k in range(tracks)]
    devices = Device.objects.bulk_create(
        Device(organization=org, group=group, name=f"Vehicle {k + 1:05d}") for k in range(n)
    )
    stored = sum(store_positions(device.pk, base[k % tracks], analyze=False) for k, device in enumerate(devices))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tracking_position")
    positions = sum(len(base[k % tracks]["t"]) for k in range(n))
    hours = (points["t"].max() - points["t"].min()) / 3600
    print(f"{connection.vendor}: {n:,} devices, {positions:,} positions over {hours:.0f} h (stored in {stored:.1f} s)")
    fresh_cache()
    start, end = T0, T0 + timedelta(days=1)
    params = Params.for_org(org)
    out: dict = {"devices": n, "positions": positions}

    settings_hosts()
    client = Client()
    client.force_login(_user(org, Membership, "fleet"))
    day = f"{start.astimezone(ZoneInfo(TZ)):%Y-%m-%d}"
    query = {"preset": "custom", "start": day, "end": day, "group": group.pk}
    cold_s, report = timed(lambda: build_report("summary", org, devices, start, end))  # what the job does
    assert len(report.tables[0].rows) == n
    out["cold_s"] = round(cold_s, 3)
    client.get("/reports/summary/", query)  # the first request of a process pays imports and template loading
    page_s, response = timed(lambda: client.get("/reports/summary/", query))
    out["page_warm_s"], out["page_status"] = round(page_s, 3), response.status_code
    if response.status_code != 200:
        print(f"    the page answered HTTP {response.status_code} {response.get('Location', '')}", flush=True)
    plan_s, planned = timed(lambda: cache.CachedRange.many([d.pk for d in devices], params, start, end, TZ))
    assert sum(r.closed_misses for r in planned) == 0
    report_s, _ = timed(lambda: build_report("summary", org, devices, start, end))
    one_by_one_s, _ = timed(lambda: [cache.detect_range_cached(d.pk, params, start, end, TZ) for d in devices])
    out |= {"plan_warm_s": round(plan_s, 3), "report_warm_s": round(report_s, 3)}
    out["one_by_one_warm_s"] = round(one_by_one_s, 3)
    print(
        f"    cold (computed, as the background job does): {cold_s:.2f} s; warm: GET /reports/summary/ "
        f"{page_s:.3f} s, HTTP {response.status_code} (plan {plan_s:.3f} s, report {report_s:.3f} s); "
        f"reference, the warm day read one device at a time: {one_by_one_s:.2f} s",
        flush=True,
    )
    return out


def settings_hosts() -> None:
    from django.conf import settings

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def _user(org, membership, name: str = "bench"):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(name, password="x")  # noqa: S106 - a scratch database
    membership.objects.create(user=user, organization=org, role=membership.Role.DISPATCHER)
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, well under a minute (CI)")
    parser.add_argument("--part", choices=("charts", "summary"), help="one part only")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleet.settings")
    os.environ.setdefault("DEBUG", "true")
    sys.path.insert(0, str(ROOT))
    from _db import setup_django

    url, cleanup = scratch_database()
    try:
        setup_django(url)
        out = run(args.quick) if args.part in (None, "charts") else {}
        if args.part in (None, "summary"):
            out["fleet_summary"] = fleet_summary(args.quick)
    finally:
        cleanup()
    goal = {}
    if "warm" in out:
        goal["warm_inline"] = out["warm"]["inline"]
        goal["warm_under_1s"] = out["page_status"] == 200 and out["page_warm_s"] < 1.0
        print(f"goal: the warm chart in the request {goal['warm_inline']}, under 1 s {goal['warm_under_1s']}")
    if "fleet_summary" in out:
        fleet = out["fleet_summary"]
        goal["summary_warm_under_2s"] = fleet["page_status"] == 200 and fleet["page_warm_s"] < 2.0
        print(f"goal: the warm fleet summary in the request under 2 s {goal['summary_warm_under_2s']}")
    print(json.dumps({"bench": "charts", "quick": args.quick, **out, "goal": goal, "goal_met": all(goal.values())}))


if __name__ == "__main__":
    main()
