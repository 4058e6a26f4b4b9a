from django.core.management.base import BaseCommand, CommandError

from fleet.core.models import Organization
from fleet.tracking.store.archive import archive_recent_days


class Command(BaseCommand):
    help = (
        "Fill the archive of closed days (fleet.tracking.store.archive) for the last DAYS UTC days: "
        "days missing or out of date are read from the positions table once. Reports and the daily beat task "
        "do this as they go; run it after a bulk import so the first reports over past days are fast."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=31, help="how many past UTC days (default 31)")
        parser.add_argument("--org", help="only this organisation (slug)")

    def handle(self, *args, **o) -> None:
        if o["days"] < 1:
            raise CommandError("--days must be at least 1")
        organization = None
        if o["org"]:
            organization = Organization.objects.filter(slug=o["org"]).first()
            if organization is None:
                raise CommandError(f"no organisation {o['org']!r}")
        read, devices = archive_recent_days(o["days"], organization)
        self.stdout.write(f"{read} device-days archived (last {o['days']} days, {devices} devices)")
