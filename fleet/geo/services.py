"""Saving and deleting geofences and POIs made in fleet (the admin, pages): validate, store, and notify
the write-back handlers other apps register here (the vendors app pushes to vendor accounts). Code that
mirrors a vendor's own geofences and POIs saves the model directly, so nothing is echoed back."""

from collections.abc import Callable
from functools import partial

from django.db import transaction

from fleet.geo.models import POI, Geofence

Handler = Callable[[Geofence], None]
_saved: list[Handler] = []
_deleting: list[Handler] = []
_poi_saved: list[Callable[[POI], None]] = []


def on_geofence_saved(handler: Handler) -> None:
    """Register ``handler(geofence)``, run after the transaction that saved the geofence commits."""
    if handler not in _saved:
        _saved.append(handler)


def on_geofence_deleted(handler: Handler) -> None:
    """Register ``handler(geofence)``, run in the deleting transaction just before the row goes (so it
    can still read what refers to it); it defers its own calls to others until the commit."""
    if handler not in _deleting:
        _deleting.append(handler)


def save_geofence(geofence: Geofence) -> Geofence:
    """Validate and save the geofence, then notify the handlers once the save is committed."""
    geofence.full_clean()
    with transaction.atomic():
        geofence.save()
        for handler in _saved:
            transaction.on_commit(partial(handler, geofence))
    return geofence


def delete_geofence(geofence: Geofence) -> None:
    """Notify the handlers, then delete the geofence, in one transaction."""
    with transaction.atomic():
        for handler in _deleting:
            handler(geofence)
        geofence.delete()


def on_poi_saved(handler: Callable[[POI], None]) -> None:
    """Register ``handler(poi)``, run after the transaction that saved the POI commits."""
    if handler not in _poi_saved:
        _poi_saved.append(handler)


def save_poi(poi: POI) -> POI:
    """Validate and save the POI, then notify the handlers once the save is committed."""
    poi.full_clean()
    with transaction.atomic():
        poi.save()
        for handler in _poi_saved:
            transaction.on_commit(partial(handler, poi))
    return poi


def delete_poi(poi: POI) -> None:
    """Delete the POI. No vendor copy is deleted: no connector deletes POIs (Metrotec documents no POI delete)."""
    with transaction.atomic():
        poi.delete()
