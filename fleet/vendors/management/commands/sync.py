import sys

from django.core.management.base import BaseCommand, CommandError

from fleet.vendors import summary, sync
from fleet.vendors.models import SyncRun, VendorAccount


class Command(BaseCommand):
    help = (
        "Sync one vendor account now and print what happened to each resource; "
        "exit 0 when it synced, 2 when some resources failed, 1 when it failed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="account name")
        parser.add_argument("--org", help="organisation slug, when the name is not unique")

    def handle(self, *args, **o) -> None:
        accounts = VendorAccount.objects.filter(name=o["name"])
        if o["org"]:
            accounts = accounts.filter(organization__slug=o["org"])
        if accounts.count() != 1:
            raise CommandError(f"{accounts.count()} accounts named {o['name']!r}; use --org")
        try:
            run = sync.sync_account(accounts.get())
        except sync.Busy as exc:
            raise CommandError(str(exc)) from None
        seconds = run.duration.total_seconds() if run.duration else 0.0
        self.stdout.write(
            f"{run.status}: fetched {run.fetched}, created {run.created}, updated {run.updated}, "
            f"rejected {run.rejected} in {seconds:.2f} s"
        )
        for line in summary.describe(run.counts):
            self.stdout.write(line)
        if run.status != SyncRun.Status.OK:
            self.stderr.write(f"error: {run.error}")
            sys.exit(EXIT_CODES.get(run.status, 1))


EXIT_CODES = {SyncRun.Status.OK: 0, SyncRun.Status.PARTIAL: 2, SyncRun.Status.ERROR: 1}
