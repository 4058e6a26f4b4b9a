"""Every bench runs in CI in its short mode (--quick) and ends with one JSON line of figures.

The goals themselves are not asserted here (timings on a shared CI machine are noise); the figures are
printed so a CI log shows them. What is asserted: the bench ran, measured something, and said whether its
goal was met. Benches that measure PostgreSQL run only when the suite runs on PostGIS.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def postgis_url() -> str:
    s = connection.settings_dict
    return f"postgis://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_bench(script: str, timeout: float = 300) -> dict:
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = postgis_url()
    else:
        env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, f"bench/{script}", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    print(out.stdout)  # the figures, in the CI log (pytest -rA or -s shows them)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["bench"] == script.removesuffix(".py")
    assert "error" not in figures, figures
    assert isinstance(figures["goal_met"], bool)
    return figures


needs_postgis = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="this bench measures PostgreSQL")


@needs_postgis
@pytest.mark.django_db
def test_ingest_bench():
    figures = run_bench("ingest.py")
    assert figures["a"]["ingest_per_s"] > 0 and figures["b"]["positions"] > 0


@needs_postgis
@pytest.mark.django_db
def test_live_bench():
    figures = run_bench("live.py")
    assert figures["delivered_per_s"] > 0 and figures["clients"] == 20 and figures["web_processes"] == 2
    assert figures["lost"] >= 0 and figures["p99_ms"] >= figures["p50_ms"] > 0


@pytest.mark.django_db
def test_map_render_bench():
    figures = run_bench("map_render.py")
    assert figures["devices"] > 0 and figures["first_render_ms"] > 0 and figures["batch_apply_ms"] >= 0
    assert figures["plain_first_ms"] > 0 and figures["plain_batch_ms"] > 0  # the same-run reference page
    for run in figures["runs"].values():  # every device drawn, waited for (not just the first draw)
        assert run["drawn"] == figures["devices"] and run["all_drawn_ms"] >= run["first_render_ms"] > 0


def test_geofence_bench():
    figures = run_bench("geofence.py")
    for city in ("sites", "dense"):
        agreed, sampled = figures[city]["sample_agree"].split("/")
        assert figures[city]["zones"] == 10_000 and figures[city]["per_cpu_s"] > 0
        assert figures[city]["events_per_fix"] > 0
        assert agreed == sampled  # the index finds the zones the naive loop finds


@pytest.mark.django_db
def test_charts_bench():
    figures = run_bench("charts.py")
    assert figures["positions"] > 0 and figures["page_status"] == 200
    assert figures["warm"]["to_compute"] == 0 and figures["warm"]["inline"]  # the cached days: in the request
    assert figures["cold"]["to_compute"] == figures["devices"] * figures["days"]


@needs_postgis
@pytest.mark.django_db
def test_api_bench():
    figures = run_bench("api.py")
    assert figures["positions"] == 50_000 and figures["feed_per_s"] > 0 and figures["reference_dump_per_s"] > 0
    assert figures["device_pages"] == 5 and figures["devices_p99_ms"] >= figures["devices_p50_ms"] > 0


@needs_postgis
@pytest.mark.django_db
def test_soak_bench():
    """The whole stack for a few minutes under faults and kills: what must hold whatever the machine's speed."""
    # up to ~15 minutes more when it waits for 00:00 UTC to pass (bench/soak.py within_one_utc_day)
    figures = run_bench("soak.py", timeout=1800)
    assert figures["crossed_utc_midnight"] is False
    assert figures["positions"] > 0 and figures["delivered_per_s"] > 0 and figures["reports"] > 0
    for kind, account in figures["accounts"].items():
        assert account["truth"] > 0 and account["lost"] == account["extra"] == account["twice"] == 0, (kind, account)
    assert figures["cross_org_devices"] == 0 and figures["latest_not_delivered"] == 0, figures["stale_clients"]
    feed = figures["feed"]
    assert feed["given"] == feed["stored"] > 0 and feed["missed"] == feed["foreign"] == feed["twice"] == 0
    assert figures["stuck_accounts"] == [] and figures["lock_expired"] == 0
    assert figures["reconnects"] > 0  # the web process killed under its clients: they came back
    events = figures["events"]  # the engine's events = those recomputed offline from the stored positions
    assert events["geofence_events"] > 0 and events["missing"] == events["extra"] == 0, events
    retention = figures["retention"]
    assert "error" not in retention["uploaded"] and retention["ahead_after"] == retention["days_ahead"], retention
    assert retention["old_partitions_before"] and retention["old_partitions_after"] == [], retention
    assert retention["old_positions_before"] == retention["dropped_positions"] > 0, retention
    assert retention["old_positions_after"] == retention["old_archived_after"] == 0 < retention["old_archived_before"]
    same, reports = retention["boundary_reports_same"].split("/")
    assert same == reports != "0" and retention["boundary_trips"] > 0, retention
