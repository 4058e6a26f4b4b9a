"""The provider's answers in the database, per grid cell of 0.0001° (11 m north-south, less east-west): read in
bulk by the reports and the device card, and the cells they missed queued for the Celery task, which alone
talks to the provider (``fill.py``)."""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleet.geo.models import CachedAddress

log = logging.getLogger(__name__)

CELL_DEG = 1e-4
LAT_CELLS = 1_800_001  # rows of cells from -90° to 90°
LON_OFFSET, LAT_OFFSET = 1_800_000, 900_000
CHUNK = 500  # cells per IN (...) query
QUEUE_LIMIT = 1000  # cells one call may queue: a long report fills the cache over several views


def configured() -> bool:
    return bool(settings.GEOCODER_URL)


def provider() -> str:
    """The cache's key for the configured provider and language: answers in another language are others."""
    language = settings.GEOCODER_LANGUAGE.split(",")[0].strip()
    return f"{settings.GEOCODER_KIND}:{language}"[:20] if language else settings.GEOCODER_KIND


def cell_of(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """One integer per ~10 m cell (int64): the row of its latitude times the cells in a row plus its column."""
    row = np.rint(np.asarray(lat, dtype=float) / CELL_DEG).astype(np.int64) + LAT_OFFSET
    col = np.rint(np.asarray(lon, dtype=float) / CELL_DEG).astype(np.int64) + LON_OFFSET
    return row * (2 * LON_OFFSET + 1) + col


def centre(cell: int) -> tuple[float, float]:
    """(lat, lon) of a cell's centre: what the provider is asked."""
    row, col = divmod(int(cell), 2 * LON_OFFSET + 1)
    return round((row - LAT_OFFSET) * CELL_DEG, 4), round((col - LON_OFFSET) * CELL_DEG, 4)


def answers(lat: np.ndarray, lon: np.ndarray, queue: bool = True) -> list[str]:
    """The cached answer for each point ("" when none is known yet, or the provider knows nothing there);
    with ``queue``, the cells never asked are queued for the task. Nothing at all without a provider."""
    if not configured() or not len(lat):
        return [""] * len(lat)
    cells = cell_of(lat, lon)
    wanted = np.unique(cells).tolist()
    known: dict[int, str] = {}
    name = provider()
    for k in range(0, len(wanted), CHUNK):
        rows = CachedAddress.objects.filter(provider=name, cell__in=wanted[k : k + CHUNK])
        known.update(rows.values_list("cell", "text"))
    if queue:
        enqueue([cell for cell in wanted if cell not in known][:QUEUE_LIMIT])
    return [known.get(cell, "") for cell in cells.tolist()]


def enqueue(cells: list[int]) -> None:
    """Queue the cells for the provider (a cell queued already stays as it is), then wake the task."""
    if not cells:
        return
    name = provider()
    centres = [(cell, *centre(cell)) for cell in cells]
    rows = [CachedAddress(provider=name, cell=cell, latitude=lat, longitude=lon) for cell, lat, lon in centres]
    CachedAddress.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(_wake)


def _wake() -> None:
    from fleet.geo.tasks import fill_address_cache

    try:
        fill_address_cache.delay()
    except Exception:  # the broker is down: the beat schedule runs the task every minute anyway
        log.warning("could not queue fill_address_cache", exc_info=True)


def prune() -> int:
    """Forget answers (and given-up cells) asked longer ago than GEOCODER_CACHE_DAYS: asked again when needed."""
    cutoff = timezone.now() - timedelta(days=settings.GEOCODER_CACHE_DAYS)
    deleted, _ = CachedAddress.objects.filter(fetched__lt=cutoff).delete()
    return deleted
