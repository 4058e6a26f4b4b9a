"""Publish what ingest stored: one channel-layer message per batch per organisation
(ARCHITECTURE.md, Live push). Consumers in this app coalesce and forward to browsers."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from fleet.tracking.ingest import Stored


def group_name(organization_id: int) -> str:
    return f"fleet.org.{organization_id}"


def compact(stored: list[Stored]) -> list[list]:
    """[device, epoch seconds, lat, lon, speed km/h, course, valid, ignition] per position."""
    return [
        [s.device_id, s.record.fix_time.timestamp(), s.record.latitude, s.record.longitude, s.record.speed,
         s.record.course, s.record.valid, s.record.attributes.get("ignition")]
        for s in stored
    ]  # fmt: skip


def publish_positions(organization_id: int, stored: list[Stored]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group_name(organization_id), {"type": "positions.batch", "positions": compact(stored)}
    )
