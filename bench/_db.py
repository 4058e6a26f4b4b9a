"""Bench plumbing: a scratch PostGIS database, Django set up against it, a JSON result line."""

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _scratch(name: str) -> str:
    """This process's scratch database name: two benches (or two checkouts) running at once never share one."""
    return f"fleet_bench_{name}_{os.getpid()}"


def scratch_postgis(name: str) -> str:
    """Create an empty PostGIS database next to DATABASE_URL's; return its URL."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgis://", "postgres://", "postgresql://")):
        sys.exit(json.dumps({"bench": name, "error": "set DATABASE_URL to a PostGIS server", "goal_met": False}))
    parts = urlsplit(url)
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_scratch(name)}")
        conn.execute(f"CREATE DATABASE {_scratch(name)}")
    bench_url = urlunsplit(("postgis", parts.netloc, f"/{_scratch(name)}", "", ""))
    with psycopg.connect(urlunsplit(("postgresql", parts.netloc, f"/{_scratch(name)}", "", ""))) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return bench_url


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleet.settings")
    os.environ.setdefault("DEBUG", "true")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def drop(name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(("postgresql", parts.netloc, "/postgres", "", "")), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_scratch(name)} WITH (FORCE)")


def result(name: str, **figures: object) -> None:
    print(json.dumps({"bench": name, **figures}), flush=True)
