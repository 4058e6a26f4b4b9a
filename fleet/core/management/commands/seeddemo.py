"""Create (or refresh) the demo organisation and its logins; safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from fleet.core.models import Membership, Organization

DEMO_USERS = [
    # username, password, role, superuser
    ("admin", "admin", Membership.Role.ADMIN, True),
    ("dispatcher", "dispatcher", Membership.Role.DISPATCHER, False),
]


class Command(BaseCommand):
    help = "Create the demo organisation with an admin and a dispatcher login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", default="demo", help="slug of the demo organisation")

    def handle(self, *args, **options) -> None:
        org, _ = Organization.objects.get_or_create(slug=options["org"], defaults={"name": "Demo Fleet"})
        User = get_user_model()
        for username, password, role, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
            user.is_staff = True
            user.is_superuser = superuser
            user.save()
            Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
            if created:
                self.stdout.write(f"login: {username} / {password} ({role} of {org.name})")
        self.stdout.write(self.style.SUCCESS(f"demo organisation '{org.slug}' ready"))
