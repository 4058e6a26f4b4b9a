from django.db import models

from fleet.tracking.models import Device


class EngineState(models.Model):
    """What the event engine remembers of a device between batches (see fleet/events/engine.py): its last fix,
    the zones it is in or about to enter or leave, its ignition, overspeed and idle runs, battery and offline
    flags. Locked per device while a batch is evaluated, so two workers never evaluate one device at once."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, primary_key=True, related_name="+")
    state = models.JSONField(default=dict)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"engine state of device {self.device_id}"
