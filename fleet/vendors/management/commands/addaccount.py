from django.core.exceptions import ValidationError
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
        account = VendorAccount.objects.filter(organization=org, name=o["name"]).first()
        created = account is None
        account = account or VendorAccount(organization=org, name=o["name"])
        account.kind, account.base_url, account.credentials = o["kind"], o["base_url"], credentials
        account.sync_interval_s, account.enabled, account.disabled_by_error = o["interval"], True, False
        try:
            account.full_clean()  # before saving: a refused base URL is never stored
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        account.save()
        self.stdout.write(f"{'added' if created else 'updated'} account {account.name} ({account.kind}) of {org.slug}")
