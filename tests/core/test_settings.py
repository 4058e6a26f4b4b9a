"""Production settings refuse insecure configurations (checked in a fresh interpreter each)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "p" + "x7Kq2mZr9Lw4Nv8Tb3Hc6Jd1Fg5Sa0Ye" * 2
FERNET = "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}
    base.update({"DEBUG": "false", "ALLOWED_HOSTS": "fleet.example.com", **env})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def setup_only(**env: str) -> subprocess.CompletedProcess:
    return run(
        ["-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='fleet.settings'; django.setup()"], **env
    )


@pytest.mark.parametrize(
    "key",
    ["", "short", "django-insecure-" + "a" * 60, "a" * 60],
    ids=["missing", "short", "django-insecure", "one-character"],
)
def test_production_refuses_to_start_without_a_real_secret_key(key):
    result = setup_only(SECRET_KEY=key, FIELD_ENCRYPTION_KEY=FERNET)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_an_encryption_key():
    result = setup_only(SECRET_KEY=GOOD_KEY, FIELD_ENCRYPTION_KEY="")  # empty, over the one .env holds
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_a_complete_production_config_passes_the_deploy_checks(tmp_path):
    production = {"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEY": FERNET, "STATIC_ROOT": str(tmp_path)}
    assert run(["manage.py", "collectstatic", "--noinput", "-v0"], **production).returncode == 0
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **production)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_make_runs_serving_environment_is_production_over_plain_http():
    """make run reads scripts/serve.env after .env: DEBUG off (manifest static files, plain error pages), but no
    HTTPS redirect, HSTS or secure-only cookies, which would lock a browser out of http://127.0.0.1:8000/."""
    serve = dict(
        line.split("=", 1)
        for line in (ROOT / "scripts" / "serve.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    probe = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='fleet.settings'; django.setup(); "
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[1], s.EMAIL_BACKEND.split('.')[-2])"
    )
    result = run(["-c", probe], SECRET_KEY=GOOD_KEY, FIELD_ENCRYPTION_KEY=FERNET, **serve)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "False",
        "0",
        "False",
        "False",
        "CompressedManifestStaticFilesStorage",
        "console",
    ]
    production = run(["-c", probe], SECRET_KEY=GOOD_KEY, FIELD_ENCRYPTION_KEY=FERNET)
    assert production.stdout.split()[:5] == ["False", "True", "31536000", "True", "True"]
