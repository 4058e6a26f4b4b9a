"""scripts/ensure-secrets.py: make run serves with DEBUG off, so .env gets its keys once and keeps them."""

import runpy
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-secrets.py"


@pytest.fixture
def ensure(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY", raising=False)
    return runpy.run_path(str(SCRIPT))["main"]


def values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_it_fills_in_empty_keys_and_keeps_the_other_lines(tmp_path, ensure):
    env = tmp_path / ".env"
    env.write_text("DEBUG=true\nSECRET_KEY=\n# a comment\nFIELD_ENCRYPTION_KEY=\nREDIS_URL=redis://x/1\n")
    ensure(str(env))
    got = values(env)
    assert len(got["SECRET_KEY"]) >= 50 and len(set(got["SECRET_KEY"])) > 10
    Fernet(got["FIELD_ENCRYPTION_KEY"])  # a valid Fernet key, or this raises
    assert got["DEBUG"] == "true" and got["REDIS_URL"] == "redis://x/1" and "# a comment" in env.read_text()


def test_it_adds_missing_keys_and_never_changes_them_again(tmp_path, ensure):
    env = tmp_path / ".env"
    env.write_text("DEBUG=true")
    ensure(str(env))
    first = env.read_text()
    ensure(str(env))
    assert env.read_text() == first and {"SECRET_KEY", "FIELD_ENCRYPTION_KEY"} <= values(env).keys()


def test_it_leaves_keys_set_in_the_file_or_the_environment(tmp_path, ensure, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("SECRET_KEY=mine\nFIELD_ENCRYPTION_KEY=\n")
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", "from-the-environment")
    ensure(str(env))
    assert env.read_text() == "SECRET_KEY=mine\nFIELD_ENCRYPTION_KEY=\n"
