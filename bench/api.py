#!/usr/bin/env python
"""The REST API over real HTTP (one Daphne process, as the Procfile's web, on a scratch PostGIS database).

(a) The positions feed: a client follows /api/v1/positions/feed/ with a token, pages of 10,000, from the start to
    the end of N stored positions (answers parsed with orjson to read the cursor): positions/s as that client gets
    them, and served (the client's parsing time taken out: serialised and sent); goal >= 100,000/s served.
    Same-run reference: the same rows read by the same statement (the positions store's ``feed``) and dumped by
    orjson in the bench process (no view, no HTTP).
(b) GET /api/v1/devices/?limit=1000 for an organisation of 10,000 devices with last positions: every page of
    the list, walked by its cursors 20 times; p50 / p90 / p99 latency of one page; goal p99 <= 300 ms.

Usage: DATABASE_URL=postgis://user@host/db .venv/bin/python bench/api.py [--quick]
"""

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from _db import drop, result, scratch_postgis, setup_django
from _net import free_port, start_daphne

FEED_PAGE = 10_000
DEVICE_PAGE = 1_000


def seed(n_devices: int, n_positions: int) -> str:
    """An organisation of n devices with n_positions stored through ingest (the last ones each device's last
    position); returns a read token's key."""
    from django.contrib.auth.models import User

    from fleet.api.models import ApiToken
    from fleet.core.models import Membership, Organization
    from fleet.tracking import ingest
    from fleet.tracking.models import Device
    from fleet.tracking.records import PositionRecord
    from fleet.vendors.models import VendorAccount

    org = Organization.objects.create(name="Bench Fleet", slug="bench")
    user = User.objects.create_user("bench", password="bench-pw")
    Membership.objects.create(user=user, organization=org, role=Membership.Role.VIEWER)
    account = VendorAccount.objects.create(organization=org, name="bench", kind="datatrak", base_url="http://x")
    Device.objects.bulk_create(
        [Device(organization=org, account=account, vendor_id=str(i), name=f"Van {i:05}") for i in range(n_devices)]
    )
    rnd = random.Random(1)
    per_device = max(1, n_positions // n_devices)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * per_device + 60)
    for k in range(per_device):
        t = start + timedelta(seconds=10 * k)
        batch = [
            PositionRecord(
                str(d),
                t,
                60.1 + rnd.random() / 10,
                24.9 + rnd.random() / 10,
                speed=rnd.random() * 80,
                course=rnd.random() * 360,
                altitude=12.0,
                accuracy=5.0,
                attributes={"ignition": True, "odometer_m": 1000.0 * k, "battery_level": 80},
            )
            for d in range(n_devices)
        ]
        ingest.positions(org.pk, account.pk, batch)
    return ApiToken.issue(user, "bench", "read")[1]


# Production settings (DEBUG off) for this process and the server: one secret and encryption key for both.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-api-" + "k" * 50,
    "FIELD_ENCRYPTION_KEY": "c2NyYXRjaC1iZW5jaC1rZXktbm90LWZvci11c2UtMDA=",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "API_THROTTLE_RATE": "1000000/min",
}


def wait_answering(client, path: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("daphne did not answer")


def follow_feed(client) -> tuple[int, float, float]:
    """(positions, seconds, of which seconds parsing) of one pass over the whole feed."""
    import orjson

    cursor, rows, parsing = 0, 0, 0.0
    t0 = time.perf_counter()
    while True:
        body = client.get(f"/api/v1/positions/feed/?after={cursor}&limit={FEED_PAGE}").content
        p0 = time.perf_counter()
        page = orjson.loads(body)
        parsing += time.perf_counter() - p0
        rows += len(page["results"])
        cursor = page["next"]
        if not page["more"]:
            return rows, time.perf_counter() - t0, parsing


def reference_dump() -> tuple[int, float]:
    """The same rows read by the positions store's feed statement and dumped by orjson in this process, no
    HTTP, no Django view: (rows, seconds)."""
    import orjson

    from fleet.tracking import store

    t0 = time.perf_counter()
    rows, last = 0, 0
    while chunk := store.feed(None, last, 2**62, FEED_PAGE):
        orjson.dumps([dict(zip(store.FEED_FIELDS, row, strict=True)) for row in chunk], option=orjson.OPT_UTC_Z)
        rows, last = rows + len(chunk), chunk[-1][0]
    return rows, time.perf_counter() - t0


def device_pages(client, rounds: int) -> list[float]:
    """Latency (ms) of each page of the device list, every page walked by its cursors ``rounds`` times."""
    import orjson

    out = []
    for _ in range(rounds):
        url = f"/api/v1/devices/?limit={DEVICE_PAGE}"
        while url:
            t0 = time.perf_counter()
            response = client.get(url)
            page = orjson.loads(response.content)
            out.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and page["results"][0]["last_position"] is not None, page
            url = page["next"]
    return sorted(out)


def percentile(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 devices, 50,000 positions (CI)")
    args = parser.parse_args()
    n_devices = 1_000 if args.quick else 10_000
    n_positions = 50_000 if args.quick else 500_000
    rounds = 5 if args.quick else 20
    os.environ.update(PRODUCTION)
    os.environ["EVENTS_ENGINE"] = "false"  # seeding only: what is served is the same either way
    url = scratch_postgis("api")
    setup_django(url)
    import httpx
    from django.db import connections

    procs, log = [], tempfile.TemporaryFile()  # noqa: SIM115 (read and closed in finally)
    try:
        t0 = time.perf_counter()
        key = seed(n_devices, n_positions)
        seeded_s = time.perf_counter() - t0
        with connections["default"].cursor() as cursor:  # as autovacuum would have by then
            cursor.execute("ANALYZE tracking_position; ANALYZE tracking_device")
        connections.close_all()
        port = free_port()
        procs.append(start_daphne(port, url, log))
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            wait_answering(client, "/api/v1/positions/feed/?limit=1")
            time.sleep(6.0)  # the feed serves what was stored FEED_SETTLE_S (5 s) before its first sample
            follow_feed(client)  # warm: imports, connections, caches
            fed, feed_s, parse_s = follow_feed(client)
            ref_rows, ref_s = reference_dump()
            latencies = device_pages(client, rounds)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        log.seek(0)
        errors = log.read().decode(errors="replace").strip()
        log.close()
        if errors:
            print("daphne stderr (tail):", errors[-2000:], file=sys.stderr)
        drop("api")
    feed_per_s, ref_per_s = round(fed / feed_s), round(ref_rows / ref_s)
    served_per_s = round(fed / (feed_s - parse_s))  # the server's part: the client's parsing taken out
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(
        f"seeded {n_devices} devices, {fed} positions in {seeded_s:.1f} s; feed: {fed} positions in {feed_s:.2f} s "
        f"= {feed_per_s:,}/s to a client that parses them ({parse_s:.2f} s of it parsing), {served_per_s:,}/s "
        f"served (without the client's parsing); reference orjson dump of the same rows {ref_per_s:,}/s; devices "
        f"list, pages of {DEVICE_PAGE}: {len(latencies)} pages, p50 {p50} ms, p90 {percentile(latencies, 0.9)} ms, "
        f"p99 {p99} ms, max {latencies[-1]:.1f} ms"
    )
    result(
        "api",
        devices=n_devices,
        positions=fed,
        feed_per_s=feed_per_s,
        feed_parse_s=round(parse_s, 2),
        served_per_s=served_per_s,
        reference_dump_per_s=ref_per_s,
        device_pages=len(latencies),
        devices_p50_ms=p50,
        devices_p99_ms=p99,
        goal_met=served_per_s >= 100_000 and p99 <= 300,
    )


if __name__ == "__main__":
    main()
