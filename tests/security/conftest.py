"""The live-socket helpers of tests/live, including its private channel-layer prefix per test; a large fleet."""

from datetime import UTC, datetime

from fleet.core.models import Organization
from fleet.tracking.models import Device
from tests.live.conftest import private_channel_layer  # noqa: F401 (an autouse fixture, active here too)


def big_fleet(org: Organization, n: int) -> list[int]:
    """n devices with a recent fix and the attributes a vendor fills in (~600 bytes each in a snapshot); their
    pks in the snapshot's order."""
    fix = datetime.now(UTC).replace(microsecond=0)
    attrs = {"ignition": True, "battery_level": 80, "rssi": -70, "address": "Mannerheimintie 1, 00100 Helsinki " * 4}
    Device.objects.bulk_create(
        Device(
            organization=org,
            name=f"Device {i:05}",
            unique_id=f"35630704{i:07}",
            plate=f"ABC-{i:04}",
            last_fix_time=fix,
            last_latitude=60.0 + i / 10_000,
            last_longitude=24.9,
            last_speed=12.5,
            last_attributes=attrs,
        )
        for i in range(n)
    )
    return list(Device.objects.filter(organization=org).order_by("name", "pk").values_list("pk", flat=True))
