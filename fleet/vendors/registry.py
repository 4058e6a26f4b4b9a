"""Connector registry: vendor kind -> label and dotted path of its connector class, imported on
first use. It lists only kinds whose connector exists, and gives VendorAccount.kind its choices."""

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from fleet.vendors.base import Connector

CONNECTORS: dict[str, tuple[str, str]] = {
    "datatrak": ("Data Trak (Traccar 4.2)", "fleet.vendors.datatrak.DataTrakConnector"),
    "safectory": ("Safectory Track", "fleet.vendors.safectory.SafectoryConnector"),
    "metrotec": ("Metrotec", "fleet.vendors.metrotec.MetrotecConnector"),
    "itrack": ("iTrack (Navixy)", "fleet.vendors.itrack.ItrackConnector"),
    "fleetv2": ("fleet-v2 (Telemax)", "fleet.vendors.fleetv2.FleetV2Connector"),
}

KIND_CHOICES = [(kind, label) for kind, (label, _) in CONNECTORS.items()]


@cache
def connector_class(kind: str) -> type["Connector"]:
    """Raise LookupError for a kind without a connector (an account stored before its kind was dropped)."""
    try:
        path = CONNECTORS[kind][1]
    except KeyError:
        raise LookupError(f"no connector for kind {kind!r}") from None
    return import_string(path)


def capabilities(kind: str) -> frozenset[str]:
    """What the kind's connector declares; nothing for a kind without a connector."""
    try:
        return connector_class(kind).capabilities
    except LookupError:
        return frozenset()
