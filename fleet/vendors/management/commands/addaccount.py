from django.core.management.base import BaseCommand, CommandError

from fleet.core.models import Organization
from fleet.vendors.models import VendorAccount
from fleet.vendors.registry import CONNECTORS


class Command(BaseCommand):
    help = "Add (or update) a vendor account of an organisation."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument(
            "--kind", required=True, choices=sorted(CONNECTORS), help="a vendor kind with a connector (the registry's)"
        )
        parser.add_argument("--name", required=True)
        parser.add_argument("--base-url", required=True)
        parser.add_argument("--username", default="")
        parser.add_argument("--password", default="")
        parser.add_argument("--token", default="")
        parser.add_argument("--interval", type=int, default=60, help="seconds between syncs")

    def handle(self, *args, **o) -> None:
        try:
            org = Organization.objects.get(slug=o["org"])
        except Organization.DoesNotExist:
            raise CommandError(f"no organisation with slug {o['org']!r}") from None
        if not (o["token"] or o["username"]):
            raise CommandError("give --username/--password or --token")
        credentials = {k: o[k] for k in ("username", "password", "token") if o[k]}
        account, created = VendorAccount.objects.update_or_create(
            organization=org,
            name=o["name"],
            defaults={
                "kind": o["kind"],
                "base_url": o["base_url"],
                "credentials": credentials,
                "sync_interval_s": o["interval"],
                "enabled": True,
                "disabled_by_error": False,
            },
        )
        account.full_clean()
        self.stdout.write(f"{'added' if created else 'updated'} account {account.name} ({account.kind}) of {org.slug}")
