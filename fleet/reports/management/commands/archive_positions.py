from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from fleet.reports import archive, loader
from fleet.tracking.models import Device


class Command(BaseCommand):
    help = (
        "Fill the reports' archive of closed days (fleet.reports.archive) for the last DAYS UTC days: "
        "days missing or out of date are read from the positions table once. Reports do this as they go; "
        "run it after a bulk import or on a new deployment so the first reports over past days are fast."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=31, help="how many past UTC days (default 31)")
        parser.add_argument("--org", help="only this organisation (slug)")

    def handle(self, *args, **o) -> None:
        if o["days"] < 1:
            raise CommandError("--days must be at least 1")
        today = datetime.now(UTC).date()
        first, last = today - timedelta(days=o["days"]), today - timedelta(days=1)
        devices = Device.objects.order_by("pk")
        if o["org"]:
            devices = devices.filter(organization__slug=o["org"])
        read = 0
        for device_id in devices.values_list("pk", flat=True):
            read += archive.archive_days(device_id, loader.read_positions(device_id), first, last)
        self.stdout.write(f"{read} device-days archived ({first} .. {last}, {devices.count()} devices)")
