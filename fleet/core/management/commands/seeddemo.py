"""Create (or refresh) the demo organisation and its logins; safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from fleet.core.models import Membership, Organization

DEMO_USERS = [
    # username, password, role, superuser (and staff: the others have no use for the admin)
    ("admin", "admin", Membership.Role.ADMIN, True),
    ("dispatcher", "dispatcher", Membership.Role.DISPATCHER, False),
]


# The simulators the Procfile starts (fleet/simulators): one per vendor built so far.
DEMO_ACCOUNTS = [
    ("Data Trak demo", "datatrak", "http://127.0.0.1:8101"),
    ("Safectory demo", "safectory", "http://127.0.0.1:8102"),
    ("Metrotec demo", "metrotec", "http://127.0.0.1:8103/api"),  # Metrotec's base URL names its API root
    ("iTrack demo", "itrack", "http://127.0.0.1:8104/api"),  # Navixy's base URL names its API root (…/v2)
    ("fleet-v2 demo", "fleetv2", "http://127.0.0.1:8105"),
]


class Command(BaseCommand):
    help = "Create the demo organisation with an admin (superuser) and a dispatcher login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", default="demo", help="slug of the demo organisation")
        parser.add_argument(
            "--simulators",
            action="store_true",
            help="register the local vendor simulators (make run starts them) as the demo's vendor accounts",
        )

    def handle(self, *args, **options) -> None:
        org, _ = Organization.objects.get_or_create(slug=options["org"], defaults={"name": "Demo Fleet"})
        User = get_user_model()
        for username, password, role, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
            user.is_staff = user.is_superuser = superuser
            user.save()
            Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
            if created:
                self.stdout.write(f"login: {username} / {password} ({role} of {org.name})")
        if options["simulators"]:
            self._register_simulators(org)
        self.stdout.write(self.style.SUCCESS(f"demo organisation '{org.slug}' ready"))

    def _register_simulators(self, org: Organization) -> None:
        from fleet.vendors.models import VendorAccount

        for name, kind, url in DEMO_ACCOUNTS:
            VendorAccount.objects.update_or_create(
                organization=org,
                name=name,
                defaults={
                    "kind": kind,
                    "base_url": url,
                    "credentials": {"username": "demo", "password": "demo"},
                    "sync_interval_s": 30,
                    "enabled": True,
                    "disabled_by_error": False,
                },
            )
            self.stdout.write(f"vendor account: {name} ({kind}) at {url}")
