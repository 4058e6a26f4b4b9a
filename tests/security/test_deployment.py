"""A deployment that cannot work is told so by ``manage.py check``: a malformed encryption key is an error, a
missing or stale static manifest (every page would fail with DEBUG off) a deploy warning; make run collects."""

import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from fleet.core import checks
from tests.core.test_settings import FERNET, GOOD_KEY, ROOT, run

PRODUCTION = {"SECRET_KEY": GOOD_KEY, "FIELD_ENCRYPTION_KEY": FERNET}
MANIFEST_STORAGE = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.mark.parametrize("keys, which", [("not-a-fernet-key", "key 1 of 1"), (f"{FERNET},abc=", "key 2 of 2")])
def test_a_malformed_encryption_key_fails_the_check_with_a_clear_message(keys, which):
    result = run(["manage.py", "check"], **{**PRODUCTION, "FIELD_ENCRYPTION_KEY": keys})
    assert result.returncode != 0
    assert f"(fleet.E001) FIELD_ENCRYPTION_KEY: {which} is not a Fernet key" in result.stderr
    assert "Fernet.generate_key()" in result.stderr
    assert keys.split(",")[-1] not in result.stderr  # the key itself is never printed


def test_well_formed_keys_pass(settings):
    settings.FIELD_ENCRYPTION_KEYS = [FERNET, "x" * 43 + "="]
    assert checks.encryption_keys() == []


def test_the_deploy_check_warns_until_collectstatic_has_run_and_again_when_a_file_is_new(tmp_path):
    root, source = tmp_path / "static", tmp_path / "source"
    source.mkdir()
    (source / "first.css").write_text("body {}")
    with override_settings(STORAGES=MANIFEST_STORAGE, STATIC_ROOT=root, STATICFILES_DIRS=[source]):
        assert [m.id for m in checks.static_manifest()] == ["fleet.W001"]
        assert "every page fails" in checks.static_manifest()[0].msg

        call_command("collectstatic", "--noinput", verbosity=0)
        assert checks.static_manifest() == []

        (source / "second.css").write_text("p {}")
        stale = checks.static_manifest()
        assert [m.id for m in stale] == ["fleet.W002"] and "second.css" in stale[0].msg


def test_without_a_manifest_storage_there_is_nothing_to_check(settings):
    settings.STORAGES = {
        **MANIFEST_STORAGE,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    assert checks.static_manifest() == []


def test_a_production_deploy_check_names_the_missing_manifest(tmp_path):
    result = run(["manage.py", "check", "--deploy"], **PRODUCTION, STATIC_ROOT=str(tmp_path))
    assert "(fleet.W001) The static files' manifest" in result.stderr


def test_make_run_collects_the_static_files_before_starting():
    plan = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "manage.py collectstatic --noinput" in plan
    assert plan.index("collectstatic") < plan.index("honcho start")
    assert "manage.py collectstatic --noinput" in Path(ROOT, "Makefile").read_text().split("deploy-check:")[1]
