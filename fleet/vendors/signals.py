"""Geofences saved or deleted in fleet (admin, API) are written back to the vendors.
Rows the sync itself creates carry ``_from_vendor`` and are not echoed back."""

from typing import Any

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from fleet.geo.models import Geofence
from fleet.vendors.writeback import schedule_geofence_delete, schedule_geofence_push


@receiver(post_save, sender=Geofence, dispatch_uid="fleet.vendors.geofence_saved")
def geofence_saved(sender: type, instance: Geofence, raw: bool = False, **kwargs: Any) -> None:
    if not raw and not getattr(instance, "_from_vendor", False):
        schedule_geofence_push(instance)


@receiver(pre_delete, sender=Geofence, dispatch_uid="fleet.vendors.geofence_deleted")
def geofence_deleted(sender: type, instance: Geofence, **kwargs: Any) -> None:
    schedule_geofence_delete(instance)
