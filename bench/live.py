#!/usr/bin/env python
"""Live push end to end on PostGIS + Redis: ingest -> channel layer -> two daphne processes -> browsers.

N devices report once a second through fleet.tracking.ingest.positions (a batch every 100 ms, as a
stream would hand them over), in a process of its own; 20 WebSocket clients (the websockets
library, logged in with a Django session cookie) are spread over two `daphne fleet.asgi:application`
processes sharing the one Redis. Printed: delivered positions/s, latency from the moment a batch is
handed to ingest (its fix time) to client receipt (p50/p95/p99), and latest positions lost (per
client, devices whose newest fix seen at the end is older than the newest ingested).
Goal: p99 <= 250 ms and nothing lost.

Usage: DATABASE_URL=postgis://user@host/db .venv/bin/python bench/live.py [--quick]
"""

import argparse
import asyncio
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

import orjson
from _db import drop, result, scratch_postgis, setup_django
from _net import free_port, start_daphne, wait_listening

BATCHES_PER_S = 10
DRAIN_S = 2.0


def seed(n_devices: int) -> tuple[int, int, str, dict[str, int]]:
    """An organisation, a member, an account with n devices; returns ids, a session cookie, vendor id -> pk."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from fleet.core.models import Membership, Organization
    from fleet.tracking.models import Device
    from fleet.vendors.models import VendorAccount

    org = Organization.objects.create(name="Bench Fleet", slug="bench")
    user = User.objects.create_user("bench", password="bench-pw")
    Membership.objects.create(user=user, organization=org, role=Membership.Role.VIEWER)
    account = VendorAccount.objects.create(organization=org, name="bench", kind="datatrak", base_url="http://x")
    Device.objects.bulk_create(
        [Device(organization=org, account=account, vendor_id=str(i), name=f"Van {i:04}") for i in range(n_devices)]
    )
    client = Client()
    client.force_login(user)
    pks = dict(Device.objects.filter(account=account).values_list("vendor_id", "pk"))
    return (
        org.pk,
        account.pk,
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}",
        pks,
    )


def run_ingest(database_url: str, org_id: int, account_id: int, n_devices: int, start_at: float, seconds: float, out):
    """Child process: every 100 ms hand one tenth of the fleet to ingest with fix time = now."""
    os.environ.update(DATABASE_URL=database_url, DEBUG="true", LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleet.settings")
    import django

    django.setup()
    from fleet.tracking import ingest
    from fleet.tracking.records import PositionRecord

    rnd, newest, costs, cost_by_fix, late = random.Random(3), {}, [], {}, 0
    slices = [range(k, n_devices, BATCHES_PER_S) for k in range(BATCHES_PER_S)]
    step = 1.0 / BATCHES_PER_S
    for tick in range(int(seconds * BATCHES_PER_S)):
        due = start_at + tick * step
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        elif wait < -step:
            late += 1
        fix = datetime.now(UTC)
        records = [
            PositionRecord(
                str(i),
                fix,
                60.1 + rnd.random() / 10,
                24.9 + rnd.random() / 10,
                speed=rnd.random() * 80,
                course=rnd.random() * 360,
                attributes={"ignition": rnd.random() > 0.2},
            )
            for i in slices[tick % BATCHES_PER_S]
        ]
        t0 = time.perf_counter()
        stored = ingest.positions(org_id, account_id, records)
        costs.append(time.perf_counter() - t0)
        cost_by_fix[fix.timestamp()] = costs[-1]
        for s in stored.stored:
            newest[s.record.device_id] = s.record.fix_time.timestamp()
    costs.sort()
    out.put(
        {
            "newest": newest,
            "batches": len(costs),
            "late": late,
            "cost_by_fix": cost_by_fix,
            "ingest_ms_p50": round(costs[len(costs) // 2] * 1000, 1),
            "ingest_ms_p99": round(costs[int(len(costs) * 0.99)] * 1000, 1),
        }
    )


class Client:
    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.seen: dict[int, float] = {}
        self.latencies: list[float] = []
        self.fixes: list[float] = []
        self.delivered = 0
        self.ready = asyncio.Event()
        self.stop_at = time.time() + 60  # moved to the end of the run once ingest starts

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        uri, origin = f"ws://127.0.0.1:{self.port}/ws/live/", f"http://127.0.0.1:{self.port}"
        async with connect(
            uri,
            additional_headers={"Cookie": self.cookie, "Origin": origin},
            compression=None,
            max_size=2**20,  # every frame fits Daphne's default message limit
            open_timeout=10,
        ) as ws:
            while (left := self.stop_at - time.time()) > 0:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=left)
                except TimeoutError:
                    break
                self.handle(orjson.loads(raw), time.time())

    def handle(self, frame: dict, now: float) -> None:
        seen = self.seen
        if frame["type"] == "positions":
            for p in frame["p"]:
                self.latencies.append(now - p[1])
                self.fixes.append(p[1])
                if p[1] > seen.get(p[0], 0.0):
                    seen[p[0]] = p[1]
            self.delivered += len(frame["p"])
        elif frame["type"] in ("snapshot.part", "snapshot"):  # a large snapshot comes in parts, then `snapshot`
            cols = frame["cols"]  # docs/live-protocol.md: one array per field
            seen.update({pk: fix for pk, fix in zip(cols["id"], cols["fix"], strict=True) if fix})
            if frame["type"] == "snapshot":
                self.ready.set()


def percentile(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1) if values else float("nan")


async def measure(clients: list[Client], seconds: float, start_ingest) -> None:
    tasks = [asyncio.create_task(c.run()) for c in clients]
    await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), timeout=15)
    start_at = time.time() + 1.0  # the child needs a moment to start Django
    for c in clients:
        c.stop_at = start_at + seconds + DRAIN_S
    start_ingest(start_at)
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500 devices for 5 s (CI)")
    parser.add_argument("--devices", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    n_devices = args.devices or (500 if args.quick else 2000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    url = scratch_postgis("live")
    setup_django(url)
    from django.db import connections

    procs, log = [], tempfile.TemporaryFile()  # noqa: SIM115 (read and closed in finally)
    try:
        org_id, account_id, cookie, pks = seed(n_devices)
        connections.close_all()
        ports = [free_port(), free_port()]
        procs += [start_daphne(port, url, log, DEBUG="true") for port in ports]
        for port in ports:
            wait_listening(port)
        clients = [Client(ports[i % 2], cookie) for i in range(args.clients)]
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()

        def start_ingest(start_at: float) -> None:
            child = ctx.Process(target=run_ingest, args=(url, org_id, account_id, n_devices, start_at, seconds, out))
            child.start()
            procs.append(child)

        asyncio.run(measure(clients, seconds, start_ingest))
        fed = out.get(timeout=30)
        figures = summarise(clients, fed, pks, n_devices, seconds)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            (p.wait if isinstance(p, subprocess.Popen) else p.join)(10)
        log.seek(0)
        errors = log.read().decode(errors="replace").strip()
        log.close()
        if errors:
            print("daphne stderr (tail):", errors[-2000:], file=sys.stderr)
        drop("live")
    print(
        f"{n_devices} devices x 1/s for {seconds:.0f} s, {args.clients} clients on 2 daphne processes: "
        f"{figures['delivered_per_s']} positions/s delivered; latency p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms; latest positions lost {figures['lost']}; "
        f"ingest batch p50 {fed['ingest_ms_p50']} ms, p99 {fed['ingest_ms_p99']} ms, {fed['late']} batches late; "
        f"after ingest returned p50 {figures['after_ingest_p50_ms']} ms, p99 {figures['after_ingest_p99_ms']} ms"
    )
    result("live", **figures, goal_met=figures["p99_ms"] <= 250 and figures["lost"] == 0)


def summarise(clients: list[Client], fed: dict, pks: dict[str, int], n_devices: int, seconds: float) -> dict:
    newest = {pks[vendor_id]: fix for vendor_id, fix in fed["newest"].items()}
    lost = sum(1 for c in clients for pk, fix in newest.items() if c.seen.get(pk, 0.0) < fix)
    latencies = sorted(x for c in clients for x in c.latencies)
    cost = fed["cost_by_fix"]  # latency after ingest returned: channel layer, daphne, socket, client
    push = sorted(lat - cost.get(fix, 0.0) for c in clients for lat, fix in zip(c.latencies, c.fixes, strict=True))
    return {
        "devices": n_devices,
        "seconds": seconds,
        "clients": len(clients),
        "web_processes": 2,
        "ingested": fed["batches"] * n_devices // BATCHES_PER_S,
        "delivered_per_s": round(sum(c.delivered for c in clients) / seconds),
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": percentile(latencies, 1.0),
        "after_ingest_p50_ms": percentile(push, 0.50),
        "after_ingest_p99_ms": percentile(push, 0.99),
        "lost": lost,
        "ingest_batch_ms_p50": fed["ingest_ms_p50"],
        "ingest_batch_ms_p99": fed["ingest_ms_p99"],
        "ingest_batches_late": fed["late"],
    }


if __name__ == "__main__":
    main()
