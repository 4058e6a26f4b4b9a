"""Bench plumbing: a scratch PostGIS database, Django set up against it, a JSON result line."""

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SCRATCH: dict[str, str] = {}  # bench name -> its scratch database
sys.path.insert(0, str(ROOT))


def scratch_postgis(name: str) -> str:
    """Create an empty PostGIS database next to DATABASE_URL's, named after it (benches run against two
    databases of one server do not meet); return its URL."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgis://", "postgres://", "postgresql://")):
        sys.exit(json.dumps({"bench": name, "error": "set DATABASE_URL to a PostGIS server", "goal_met": False}))
    parts = urlsplit(url)
    scratch = SCRATCH[name] = _scratch_name(parts.path, name)
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        conn.execute(f'CREATE DATABASE "{scratch}"')
    bench_url = urlunsplit(("postgis", parts.netloc, f"/{scratch}", "", ""))
    with psycopg.connect(urlunsplit(("postgresql", parts.netloc, f"/{scratch}", "", ""))) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return bench_url


def admin_url() -> str:
    """DATABASE_URL's server, its maintenance database ``postgres``, as a libpq URL."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))


def _scratch_name(path: str, name: str) -> str:
    base = "".join(c for c in path.strip("/") if c.isalnum() or c == "_") or "fleet"
    return f"{base}_bench_{name}"[:63]


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
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH[name]}" WITH (FORCE)')


def result(name: str, **figures: object) -> None:
    print(json.dumps({"bench": name, **figures}), flush=True)
