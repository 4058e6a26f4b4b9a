#!/usr/bin/env python
"""Ingest throughput on PostGIS, two figures in one run.

(a) ingest.positions alone (canonical records -> PostGIS, the event engine on as in production) beside a
    raw binary COPY of the same rows into the same table; goal: ingest / COPY >= 0.5 (the ratio with the
    engine off is printed too). Batches are shaped as a connector
    delivers them (50 devices' history each); the worst case for ingest, every batch touching
    all devices a few positions each (a live burst), is printed too.
(b) end to end with N devices: Data Trak simulator (own process) -> HTTP -> connector mapping ->
    ingest -> PostGIS, positions/s (goal >= 20,000/s), with the share of time in HTTP, JSON
    parsing, mapping and ingest. The timed loop calls the same functions the connector does. Also
    printed: where sync_account's wall time went (positions, events, the rest) and the simulator's CPU.
    The same sync against the Metrotec simulator (one route-history request per vehicle instead of one
    report per 50 devices, several in flight, bound by the account's METROTEC_RATE) and the iTrack simulator
    (one tracker/get_states call per 2,000 trackers, then one track/read per tracker); goal for each: within
    20 % of the Data Trak figure.
    The same sync against the fleet-v2 (Telemax) simulator with the vendor's real limits (60 requests per
    60 s per client, 500 rows a page): positions/s one account syncs inside them, beside the vendor's
    ceiling and the requests used per 1,000 positions (counted at the simulator); goal: no 429.

Usage: DATABASE_URL=postgis://user@host/db .venv/bin/python bench/ingest.py [--quick]
"""

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from _db import ROOT, drop, result, scratch_postgis, setup_django
from _net import free_port


def records(n_devices: int, per_device: int):
    from fleet.tracking.records import PositionRecord

    start = datetime.now(UTC) - timedelta(hours=2)
    rnd = random.Random(1)
    out = []
    for i in range(per_device):
        t = start + timedelta(seconds=5 * i)
        for d in range(n_devices):
            lat, lon = 60.1 + rnd.random() / 10, 24.9 + rnd.random() / 10
            attrs = {"ignition": True, "odometer_m": 1000.0 * i}
            out.append(
                PositionRecord(
                    str(d + 1),
                    t,
                    lat,
                    lon,
                    speed=rnd.random() * 80,
                    course=rnd.random() * 360,
                    altitude=12.0,
                    accuracy=5.0,
                    server_time=t,
                    attributes=attrs,
                )
            )
    return out


def reset_positions() -> None:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("TRUNCATE tracking_position")
        c.execute("UPDATE tracking_device SET last_fix_time = NULL, last_position_id = NULL")


def raw_copy(rows, device_pks) -> float:
    import orjson
    from django.db import connection, transaction
    from psycopg.types.json import Jsonb

    from fleet.tracking.store.postgres import COLUMNS, TYPES

    t0 = time.perf_counter()
    sql = f"COPY tracking_position ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
    with transaction.atomic(), connection.cursor() as c, c.cursor.copy(sql) as copy:
        copy.set_types(TYPES)
        for r in rows:
            attrs = Jsonb(r.attributes, dumps=orjson.dumps)
            copy.write_row(
                (
                    device_pks[r.device_id],
                    r.fix_time,
                    r.server_time,
                    r.latitude,
                    r.longitude,
                    r.altitude,
                    r.speed,
                    r.course,
                    r.accuracy,
                    r.valid,
                    attrs,
                )
            )
    return time.perf_counter() - t0


def run_ingest(org_id, account_id, batches, engine: bool = True) -> float:
    """Seconds to ingest the batches, with the event engine on (as in production) or off."""
    from django.conf import settings

    from fleet.tracking import ingest

    settings.EVENTS_ENGINE = engine
    t0 = time.perf_counter()
    try:
        for batch in batches:
            ingest.positions(org_id, account_id, batch)
    finally:
        settings.EVENTS_ENGINE = True
    return time.perf_counter() - t0


def connector_batches(rows, devices_per_batch: int = 50) -> list:
    """rows are time-major; a connector returns each device's history, 50 devices a call."""
    by_device: dict[str, list] = {}
    for r in rows:
        by_device.setdefault(r.device_id, []).append(r)
    ids = list(by_device)
    return [
        [r for d in ids[i : i + devices_per_batch] for r in by_device[d]] for i in range(0, len(ids), devices_per_batch)
    ]


def burst_batches(rows, size: int = 5000) -> list:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def part_a(quick: bool) -> dict:
    from fleet.core.models import Organization
    from fleet.tracking.models import Device
    from fleet.vendors.models import VendorAccount

    org = Organization.objects.create(name="bench", slug="bench")
    account = VendorAccount.objects.create(organization=org, kind="datatrak", name="a", base_url="http://x")
    n_devices, per_device = (200, 100) if quick else (1000, 300)
    Device.objects.bulk_create(
        [Device(organization=org, account=account, vendor_id=str(d + 1), name=f"d{d}") for d in range(n_devices)]
    )
    pks = dict(Device.objects.filter(account=account).values_list("vendor_id", "pk"))
    rows = records(n_devices, per_device)
    best = {"copy": float("inf"), "ingest": float("inf"), "burst": float("inf"), "no_engine": float("inf")}
    shaped, burst = connector_batches(rows), burst_batches(rows)
    for _ in range(2 if quick else 3):
        reset_positions()
        best["copy"] = min(best["copy"], raw_copy(rows, pks))
        reset_positions()
        best["ingest"] = min(best["ingest"], run_ingest(org.pk, account.pk, shaped))
        reset_positions()
        best["burst"] = min(best["burst"], run_ingest(org.pk, account.pk, burst))
        reset_positions()
        best["no_engine"] = min(best["no_engine"], run_ingest(org.pk, account.pk, shaped, engine=False))
    n = len(rows)
    return {
        "rows": n,
        "copy_per_s": round(n / best["copy"]),
        "ingest_per_s": round(n / best["ingest"]),
        "ratio": round(best["copy"] / best["ingest"], 3),
        "burst_ingest_per_s": round(n / best["burst"]),
        "burst_ratio": round(best["copy"] / best["burst"], 3),
        "no_engine_ratio": round(best["copy"] / best["no_engine"], 3),
    }


def part_b(quick: bool) -> dict:
    import orjson

    from fleet.core.models import Organization
    from fleet.tracking import ingest, services
    from fleet.vendors.datatrak import DataTrakConnector
    from fleet.vendors.models import VendorAccount
    from fleet.vendors.traccar import PATHS, _report_params

    devices, history = (200, 1800) if quick else (1000, 3600)
    sim, url = start_sim("datatrak", devices, history)
    try:
        org = Organization.objects.create(name="e2e", slug="e2e")
        account = VendorAccount.objects.create(
            organization=org,
            kind="datatrak",
            name="e2e",
            base_url=url,
            credentials={"username": "demo", "password": "demo"},
        )
        connector = DataTrakConnector(account.pk, url, account.credentials)
        services.upsert_devices(org.pk, account.pk, connector.devices())
        ids = [str(d + 1) for d in range(devices)]
        until = datetime.now(UTC)
        since = until - timedelta(seconds=history + 60)
        spent = {"http": 0.0, "parse": 0.0, "map": 0.0, "ingest": 0.0}
        total = 0
        t_start = time.perf_counter()
        for start in range(0, devices, connector.position_chunk):
            t0 = time.perf_counter()
            response = connector.http.request(
                "GET", PATHS["route"], params=_report_params(ids[start : start + 50], since, until)
            )
            t1 = time.perf_counter()
            payload = orjson.loads(response.content)
            t2 = time.perf_counter()
            batch = [connector.parse_position(p) for p in payload]
            t3 = time.perf_counter()
            total += ingest.positions(org.pk, account.pk, batch).created
            t4 = time.perf_counter()
            for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[key] += dt
        elapsed = time.perf_counter() - t_start
        connector.close()
        synced, sync_s, phases = real_sync(url, history, sim.pid)
    finally:
        sim.terminate()
        sim.wait()
    busy = sum(spent.values())
    share = {k: round(v / busy, 3) for k, v in spent.items()}
    return {
        "devices": devices,
        "positions": synced,
        "per_s": round(synced / sync_s),
        "sequential_per_s": round(total / elapsed),
        "share": share,
        "sync_s": phases,
    }


def start_sim(kind: str, devices: int, history: float, *extra: str) -> tuple[subprocess.Popen, str]:
    """A simulator in its own process, frozen with ``history`` seconds of data; returns it and its URL."""
    port = free_port()
    command = [sys.executable, "-m", "fleet.simulators", kind, "--port", str(port), "--devices", str(devices)]
    command += ["--history", str(history), "--lag", "0", "--frozen", *extra]
    sim = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url)
    except RuntimeError:
        sim.terminate()
        raise
    return sim, url


def part_b_vendor(kind: str, quick: bool) -> dict:
    """sync_account end to end against the Metrotec or iTrack simulator (their base URLs name the API root).
    Both need a history request per vehicle, so the figure is bound by the account's request rate (Metrotec's
    ``METROTEC_RATE``): returned with the requests the simulator served."""
    import httpx
    from django.conf import settings

    devices, history = (200, 1800) if quick else (1000, 3600)
    sim, url = start_sim(kind, devices, history)
    try:
        synced, sync_s, phases = real_sync(url + "/api", history, sim.pid, kind=kind)
        requests = httpx.get(url + "/__sim__/stats", timeout=5).json().get("requests")
    finally:
        sim.terminate()
        sim.wait()
    return {
        "devices": devices,
        "positions": synced,
        "per_s": round(synced / sync_s),
        "sync_s": phases,
        "requests": requests,
        "rate": getattr(settings, f"{kind.upper()}_RATE"),  # where the learnt rate starts
        "rate_max": getattr(settings, f"{kind.upper()}_RATE_MAX"),
        "learnt_rate": phases.pop("learnt_rate", None),  # where it ended
        "concurrency": getattr(settings, f"{kind.upper()}_CONCURRENCY"),
    }


def part_b_fleetv2(quick: bool) -> dict:
    """sync_account against the fleet-v2 simulator at the vendor's own limits (a fix every 10 s, so a
    vehicle's history fills whole pages); the requests are counted at the simulator."""
    import httpx

    from fleet.vendors.fleetv2 import GLOBAL_LIMIT, PAGE_SIZE

    devices, history = (5, 1800) if quick else (50, 12 * 3600)
    sim, url = start_sim("fleetv2", devices, history, "--interval", "10", "--rate-window", "60")
    try:
        synced, sync_s, phases = real_sync(url, history, sim.pid, kind="fleetv2")
        stats = httpx.get(url + "/__sim__/stats").json()
        busiest = httpx.get(url + "/__sim__/truth").json()["limits"]["busiest"]
    finally:
        sim.terminate()
        sim.wait()
    return {
        "devices": devices,
        "positions": synced,
        "per_s": round(synced / sync_s, 1),
        "vendor_ceiling_per_s": GLOBAL_LIMIT * PAGE_SIZE / 60,
        "requests": stats["requests"],
        "requests_per_1000": round(1000 * stats["requests"] / max(1, synced), 2),
        "rate_limited": stats["rate_limited"],
        "busiest_window": busiest,
        "sync_s": phases,
    }


def real_sync(url: str, history: float, sim_pid: int, kind: str = "datatrak") -> tuple[int, float, dict]:
    """The production path: sync.sync_account (devices, geofences, events too; next chunk prefetched).
    Also returns where its wall time went (positions, events, the rest) and the simulator's CPU time."""
    from django.conf import settings

    from fleet.core.models import Organization
    from fleet.vendors import ratelimit, sync
    from fleet.vendors.models import VendorAccount

    settings.VENDOR_INITIAL_HISTORY_S = int(history + 60)
    org = Organization.objects.create(name=f"sync {kind}", slug=f"sync-{kind}")
    account = VendorAccount.objects.create(
        organization=org,
        kind=kind,
        name="sync",
        base_url=url,
        credentials={"username": "demo", "password": "demo"},
    )
    ratelimit.client().delete(ratelimit.key(account.pk))  # an earlier run's account of the same id learnt nothing here
    phases = {"positions": 0.0, "events": 0.0}
    steps = {name: getattr(sync, f"_{name}") for name in phases}
    for name, step in steps.items():  # one timer around each step (called once per sync): nothing else changes
        setattr(sync, f"_{name}", _timed(step, phases, name))
    sim_cpu = _cpu_s(sim_pid)
    t0 = time.perf_counter()
    try:
        run = sync.sync_account(account)
    finally:
        for name, step in steps.items():
            setattr(sync, f"_{name}", step)
    elapsed = time.perf_counter() - t0
    if run.status != "ok":
        raise RuntimeError(run.error)
    detail = {k: round(v, 2) for k, v in phases.items()} | {"rest": round(elapsed - sum(phases.values()), 2)}
    if sim_cpu is not None:
        detail["simulator_cpu"] = round(_cpu_s(sim_pid) - sim_cpu, 2)
    if learnt := ratelimit.client().hget(ratelimit.key(account.pk), "rate"):  # an adaptive bucket's (Metrotec, iTrack)
        detail["learnt_rate"] = round(float(learnt), 1)
    return run.counts["positions"]["created"], elapsed, detail


def _timed(fn: Callable, into: dict, key: str) -> Callable:
    def timed(*args: object) -> object:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            into[key] += time.perf_counter() - t0

    return timed


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a process, from /proc (None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/__sim__/stats", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("simulator did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds (CI)")
    args = parser.parse_args()
    setup_django(scratch_postgis("ingest"))
    try:
        a = part_a(args.quick)
        print(
            f"(a) {a['rows']} rows: ingest {a['ingest_per_s']}/s, raw binary COPY {a['copy_per_s']}/s, "
            f"ratio {a['ratio']} (goal >= 0.5; with the event engine on, as in production; "
            f"{a['no_engine_ratio']} with it off); live-burst batches {a['burst_ingest_per_s']}/s, "
            f"ratio {a['burst_ratio']}"
        )
        b = part_b(args.quick)
        print(
            f"(b) {b['devices']} devices, {b['positions']} positions end to end (sync_account): {b['per_s']}/s "
            f"(goal >= 20000/s); sequential instrumented pass {b['sequential_per_s']}/s, "
            f"time share {b['share']}; sync_account wall time (s) {b['sync_s']}"
        )
        vendors = {}
        for kind, label in (("metrotec", "Metrotec"), ("itrack", "iTrack")):
            m = vendors[kind] = part_b_vendor(kind, args.quick)
            m["vs_datatrak"] = round(m["per_s"] / b["per_s"], 2)
            print(
                f"(b) {label}: {m['devices']} devices, {m['positions']} positions end to end (sync_account): "
                f"{m['per_s']}/s, {m['vs_datatrak']} of Data Trak's (goal >= 0.8); wall time (s) {m['sync_s']}; "
                f"{m['requests']} requests ({m['concurrency']} in flight; rate learnt from {m['rate']:g} to "
                f"{m['learnt_rate']}/s, ceiling {m['rate_max']:g})"
            )
        f = part_b_fleetv2(args.quick)
        print(
            f"(b) fleet-v2: {f['devices']} vehicles, {f['positions']} positions inside the vendor's limits: "
            f"{f['per_s']}/s (the vendor's ceiling {f['vendor_ceiling_per_s']:g}/s: 60 requests a minute of "
            f"500 rows); {f['requests']} requests, {f['requests_per_1000']} per 1,000 positions; "
            f"busiest minute {f['busiest_window']} requests, {f['rate_limited']} refused (429); "
            f"wall time (s) {f['sync_s']}"
        )
    finally:
        drop("ingest")
    goal = a["ratio"] >= 0.5 and b["per_s"] >= 20000 and all(m["vs_datatrak"] >= 0.8 for m in vendors.values())
    goal = goal and f["rate_limited"] == 0
    result("ingest", a=a, b=b, b_metrotec=vendors["metrotec"], b_itrack=vendors["itrack"], b_fleetv2=f, goal_met=goal)


if __name__ == "__main__":
    main()
