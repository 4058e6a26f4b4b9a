"""Connector registry: vendor kind -> dotted path of its connector class, imported on first use."""

from functools import cache
from importlib import import_module

CONNECTORS: dict[str, tuple[str, str]] = {
    "datatrak": ("Data Trak (Traccar 4.2)", "fleet.vendors.datatrak.DataTrakConnector"),
    "safectory": ("Safectory Track", "fleet.vendors.safectory.SafectoryConnector"),
    "metrotec": ("Metrotec", "fleet.vendors.metrotec.MetrotecConnector"),
    "itrack": ("iTrack (Navixy)", "fleet.vendors.itrack.ITrackConnector"),
    "fleetv2": ("Fleet V2 (Telemax)", "fleet.vendors.fleetv2.FleetV2Connector"),
}

KIND_CHOICES = [(kind, label) for kind, (label, _) in CONNECTORS.items()]


@cache
def connector_class(kind: str) -> type:
    try:
        path = CONNECTORS[kind][1]
    except KeyError:
        raise LookupError(f"unknown vendor kind {kind!r}") from None
    module, _, name = path.rpartition(".")
    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"the {kind!r} connector is not available yet") from exc
