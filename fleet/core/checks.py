"""System checks of the deployment's own configuration: the encryption keys and the offline street map
(``manage.py check``) and the static files' manifest (``manage.py check --deploy``)."""

import json
from typing import Any

from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core import checks
from django.utils.module_loading import import_string

from fleet.core.maps import read_archive

NEW_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


@checks.register(checks.Tags.security)
def encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every FIELD_ENCRYPTION_KEY is a Fernet key, named by its place in the list (never shown)."""
    keys = settings.FIELD_ENCRYPTION_KEYS
    errors = []
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except ValueError:
            message = f"FIELD_ENCRYPTION_KEY: key {n} of {len(keys)} is not a Fernet key (32 url-safe base64 bytes)."
            errors.append(checks.Error(message, hint=f"Generate one with: {NEW_KEY}", id="fleet.E001"))
    return errors


@checks.register()
def offline_map(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A MAP_OFFLINE_PMTILES that cannot be served leaves the maps blank when the tile server is down."""
    path = settings.MAP_OFFLINE["PMTILES"]
    if settings.MAP_OFFLINE["TILE_URL"]:
        return []
    try:
        read_archive(path)
    except ValueError as exc:
        message = f"MAP_OFFLINE_PMTILES ({path}) {exc}: the maps have no offline street map."
        hint = "Point it at a PMTiles archive (README, Offline street map), or set it empty to go without."
        return [checks.Warning(message, hint=hint, id="fleet.W003")]
    return []


@checks.register(checks.Tags.staticfiles, deploy=True)
def static_manifest(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With a manifest storage (DEBUG off), a missing manifest or a static file missing from it fails every
    page that links it (HTTP 500) until ``collectstatic`` runs."""
    config = settings.STORAGES["staticfiles"]
    storage_class = import_string(config["BACKEND"])
    if not issubclass(storage_class, ManifestFilesMixin):
        return []
    storage = storage_class(**config.get("OPTIONS", {}))
    manifest = storage.read_manifest()
    hint = "Run manage.py collectstatic --noinput (make run and make deploy-check do)."
    if manifest is None:
        message = f"The static files' manifest ({storage.path(storage.manifest_name)}) is missing: every page fails."
        return [checks.Warning(message, hint=hint, id="fleet.W001")]
    missing = sorted(_static_sources() - set(json.loads(manifest).get("paths", {})))
    if missing:
        message = f"{len(missing)} static file(s) are not in the manifest ({missing[0]}, ...): pages using them fail."
        return [checks.Warning(message, hint=hint, id="fleet.W002")]
    return []


def _static_sources() -> set[str]:
    """The relative paths ``collectstatic`` would collect."""
    ignore = apps.get_app_config("staticfiles").ignore_patterns
    found = set()
    for finder in finders.get_finders():
        for path, storage in finder.list(ignore):
            prefix = getattr(storage, "prefix", None)
            found.add(f"{prefix}/{path}" if prefix else path)
    return found
