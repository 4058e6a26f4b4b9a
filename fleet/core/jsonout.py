"""JSON that fleet sends to browsers: responses and data blocks in pages.

NaN and ±Infinity are not JSON (a browser's ``JSON.parse`` refuses a document holding them), and a database
can hold them in a float column whatever ingest checks: every non-finite number becomes ``null``.
"""

from __future__ import annotations

import math
from decimal import Decimal

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
# What json_script escapes so the text cannot end its <script> element or open a comment there.
SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003C"), (">", "\\u003E"))


def _default(value):
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return DjangoJSONEncoder().default(value)  # lazy strings, timedeltas, …


def dumps(value) -> bytes:
    """``value`` as JSON, with null for every NaN or infinite float (numpy's too)."""
    return orjson.dumps(value, default=_default, option=OPTIONS)


class JsonResponse(HttpResponse):
    """Django's ``JsonResponse`` for any JSON value, non-finite numbers written as null."""

    def __init__(self, data, **kwargs) -> None:
        kwargs.setdefault("content_type", "application/json")
        super().__init__(content=dumps(data), **kwargs)


def json_script(value, element_id: str) -> SafeString:
    """Django's ``json_script`` (a ``<script type="application/json">`` data block, never executed), with
    non-finite numbers as null. Escapes with ``str.replace``: ``str.translate`` takes a slow path over the
    rest of a long text from its first escaped character."""
    text = dumps(value).decode()
    for char, escaped in SCRIPT_ESCAPES:
        text = text.replace(char, escaped)
    script = '<script id="{}" type="application/json">{}</script>'
    return format_html(script, element_id, mark_safe(text))  # noqa: S308 - escaped above
