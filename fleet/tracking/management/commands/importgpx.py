import zoneinfo
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fleet.core.models import Organization
from fleet.tracking.gpximport import GpxError, import_gpx
from fleet.tracking.models import Device


class Command(BaseCommand):
    help = "Import a GPX file's track points as a device's positions (idempotent); print the counts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="GPX file")
        parser.add_argument("--device", required=True, help="device name")
        parser.add_argument("--org", help="organisation slug, when the device name is not unique")
        parser.add_argument(
            "--timezone", default="UTC", help="IANA time zone of times written without one (default: UTC)"
        )

    def handle(self, *args, **o) -> None:
        zone = find_zone(o["timezone"])
        device = find_device(o["device"], o["org"])
        try:
            data = o["file"].read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {o['file']}: {exc.strerror}") from None
        try:
            result = import_gpx(device, data, zone)
        except GpxError as exc:
            raise CommandError(f"{o['file']}: {exc}") from None
        self.stdout.write(f"{device.name} ({device.organization.slug}): {result.summary()}")


def find_device(name: str, org_slug: str | None) -> Device:
    devices = Device.objects.select_related("organization").filter(name=name)
    if org_slug:
        if not Organization.objects.filter(slug=org_slug).exists():
            raise CommandError(f"no organisation {org_slug!r}")
        devices = devices.filter(organization__slug=org_slug)
    found = list(devices[:2])
    if not found:
        raise CommandError(f"no device named {name!r}" + (f" in {org_slug!r}" if org_slug else ""))
    if len(found) > 1:
        raise CommandError(f"several devices named {name!r}" + ("" if org_slug else "; use --org"))
    return found[0]


def find_zone(name: str) -> zoneinfo.ZoneInfo:
    if name not in zoneinfo.available_timezones():
        raise CommandError(f"unknown time zone {name!r} (an IANA name such as Europe/Helsinki)")
    return zoneinfo.ZoneInfo(name)
