"""Encrypted-at-rest model fields (Fernet; the first FIELD_ENCRYPTION_KEYS entry encrypts)."""

import json
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from fleet.core import egress


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt a field: FIELD_ENCRYPTION_KEY changed?") from exc


class EncryptedJSONField(models.TextField):
    """A JSON object stored as one Fernet token; the column never holds clear text."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict | None:
        if value is None or value == "":
            return {} if value == "" else None
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> dict | None:
        if value is None or isinstance(value, dict):
            return value
        return json.loads(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        return ""  # never serialise secrets (dumpdata, admin history)


def validate_base_url(value: str) -> None:
    """An http(s) URL with a host (single-label hosts, i.e. service names, are fine) that is not, and does not
    resolve to, an address fleet refuses to connect to (``fleet.core.egress``)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{value!r} is not an http(s) URL with a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError(f"{value!r} has no valid port.") from None
    try:
        egress.check_host(parts.hostname, port)
    except egress.RefusedAddress as exc:
        raise ValidationError(str(exc)) from None


class EncryptedTextField(models.TextField):
    """A string stored as one Fernet token (a webhook's signing secret); the column never holds clear text."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> str | None:
        return encrypt(value) if value else value

    def value_to_string(self, obj: models.Model) -> str:
        return ""  # never serialise secrets (dumpdata, admin history)
