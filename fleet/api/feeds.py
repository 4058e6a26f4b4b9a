"""The cursor feeds (positions, events): every row stored after the cursor, in storage order (ids), up to
``limit``; the next cursor is the last id sent. Only ids below which every row is committed are served (stored
at least FEED_SETTLE_S ago, and on PostgreSQL sampled before the oldest transaction in flight began), so a batch
still being stored is never skipped (docs/api.md, the feed's guarantee). Positions are read by the positions
store in one statement and written with orjson (their attributes sent as stored), not through a serializer."""

from __future__ import annotations

import time

import orjson
from django.core.cache import cache
from django.db import connection
from django.db.models import Max
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from fleet.core.models import Organization
from fleet.core.scoping import org_ids_for_user
from fleet.tracking import store
from fleet.tracking.models import Position

PAGE, MAX = 1_000, 10_000
FEED_SETTLE_S = 5.0  # the feed serves rows stored at least this long ago (a batch's insert commits well before)

PARAMETERS = [
    OpenApiParameter(
        "after", {"type": "integer", "minimum": 0}, description="The cursor: the last `next` received (0 at first)."
    ),
    OpenApiParameter(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX}, description="Rows per answer (default 1,000)."
    ),
]


def schema(name: str, serializer_class):
    return inline_serializer(
        name,
        {
            "results": serializer_class(many=True),
            "next": serializers.IntegerField(help_text="The cursor to ask with next."),
            "more": serializers.BooleanField(help_text="Whether more rows were waiting."),
        },
    )


MAX_CURSOR = 2**63 - 1  # ids are 64-bit: a larger cursor is no cursor of ours (and overflows PostgreSQL's bigint)


def bounds(request) -> tuple[int, int]:
    """The cursor and the page size of the request."""
    try:
        after = int(request.query_params.get("after", "0") or 0)
        limit = min(int(request.query_params.get("limit", PAGE)), MAX)
    except ValueError:
        raise ValidationError({"after": "The cursor and the limit are whole numbers."}) from None
    if limit < 1 or not 0 <= after <= MAX_CURSOR:
        raise ValidationError({"limit": f"The limit is at least 1 and the cursor from 0 to {MAX_CURSOR}."})
    return after, limit


def rows(request, queryset, serializer_class) -> Response:
    after, limit = bounds(request)
    settled = settled_max(queryset.model)
    found = list(queryset.filter(pk__gt=after, pk__lte=settled).order_by("pk")[:limit])
    data = serializer_class(found, many=True).data
    cursor = found[-1].pk if found else after
    return Response({"results": data, "next": cursor, "more": len(found) == limit})


def positions(request) -> HttpResponse:
    """The positions feed, as ``rows`` would answer it with the PositionSerializer (UTC times)."""
    after, limit = bounds(request)
    found = store.feed(_organizations(request.user), after, settled_max(Position), limit)
    results = [
        {
            "id": pk,
            "device": device,
            "time": fix_time,
            "latitude": lat,
            "longitude": lon,
            "altitude": altitude,
            "speed": speed,
            "course": course,
            "accuracy": accuracy,
            "valid": valid,
            "attributes": orjson.Fragment(attributes) if attributes is not None else None,
        }
        for pk, device, fix_time, lat, lon, altitude, speed, course, accuracy, valid, attributes in found
    ]
    body = {"results": results, "next": found[-1][0] if found else after, "more": len(found) == limit}
    return HttpResponse(orjson.dumps(body, option=orjson.OPT_UTC_Z), content_type="application/json")


def _organizations(user) -> list[int] | None:
    """The caller's organisations, or None when they are all there are (no filter: the statement is cheaper)."""
    if user.is_superuser:
        return None
    orgs = org_ids_for_user(user)
    return orgs if Organization.objects.exclude(pk__in=orgs).exists() else None


def settled_max(model) -> int:
    """The highest id below which every row is committed: the highest id that was already stored FEED_SETTLE_S
    seconds ago (samples of the max id in the cache), on PostgreSQL also sampled before the oldest transaction
    still in flight began (``_pg_settled_max``)."""
    if connection.vendor == "postgresql":
        return _pg_settled_max(model)
    now = time.time()
    current = model.objects.aggregate(m=Max("pk"))["m"] or 0
    return _sampled(f"api:feed:max:{model._meta.label_lower}", now, current, now - FEED_SETTLE_S)


def _sampled(key: str, now: float, current: int, before: float) -> int:
    """Record ``current`` (the table's max id at ``now``) among the cached samples, at most one a
    ``min(1, FEED_SETTLE_S / 2)`` seconds and the last ``SAMPLES``; return the highest sampled at or before
    ``before`` (0 when none is that old)."""
    samples = [(t, m) for t, m in (cache.get(key) or []) if now - t < 3600]
    if not samples or now - samples[-1][0] >= min(1.0, FEED_SETTLE_S / 2):
        samples = [*samples[-(SAMPLES - 1) :], (now, current)]
        cache.set(key, samples, 3600)
    return max((m for t, m in samples if t <= before), default=0)


# Transactions of this database that may hold ids not committed yet: writing (an xid) or running a statement
# (an INSERT takes its ids before its xid). A read-only session idle in a transaction holds none.
IN_FLIGHT = """
SELECT clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity
                           WHERE datname = current_database() AND pid <> pg_backend_pid()
                             AND (backend_xid IS NOT NULL OR state = 'active'))
"""
SAMPLES = 600  # kept per model: ten minutes at one a second


def _pg_settled_max(model) -> int:
    """The max id sampled before the oldest transaction still in flight began, and at least FEED_SETTLE_S ago
    (the rule elsewhere, kept as a floor: a writer under another role is not in pg_stat_activity). Ids come from
    a sequence in the order they are taken, so every id up to a sample's max was taken before the sample, by a
    transaction that began before it: if none of those is still running, each such row is committed (or rolled back) and
    the feed may pass it. A fixed settle time is not enough: the event engine runs inside ingest's
    transaction, and on a loaded machine (the soak) a batch committed more than FEED_SETTLE_S after taking its
    ids, so the feed had already moved past them (45,931 positions never given in a 15-minute run). A
    transaction open for longer than the samples reach holds the feed back until it ends."""
    key = f"api:feed:pgmax:{model._meta.label_lower}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {model._meta.db_table}")  # noqa: S608 - a model's own table
        current = cursor.fetchone()[0] or 0
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity live even inside a transaction
        cursor.execute(IN_FLIGHT)
        sampled_at, oldest = cursor.fetchone()  # the sample's time: after its snapshot
    now = sampled_at.timestamp()
    before = now - FEED_SETTLE_S if oldest is None else min(oldest.timestamp(), now - FEED_SETTLE_S)
    return _sampled(key, now, current, before)
