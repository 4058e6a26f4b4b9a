"""The top bar shows each link exactly to the users its page opens for, per role (fleet.core.access)."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from fleet.core.models import Membership
from tests.conftest import make_user

ROLE = Membership.Role
EVERY_MEMBER = ["home", "device-list", "geofences", "pois", "reports:index", "dispatch", "rule-list", "account-list"]
EVERY_MEMBER += ["token-list"]
NARROW = ["member-index", "integrations", "admin:index"]


def nav_hrefs(client) -> set[str]:
    nav = re.search(r"<nav>(.*?)</nav>", client.get(reverse("home")).content.decode(), re.S).group(1)
    return set(re.findall(r'href="([^"]+)"', nav))


def opens(client, url: str) -> bool:
    response = client.get(url, follow=True)
    return response.status_code == 200 and not response.request["PATH_INFO"].startswith(reverse("admin:login"))


@pytest.fixture
def users(django_user_model, org_a, user_a, superuser) -> dict:
    idle_staff = make_user(django_user_model, "idle-staff", org_a, role=ROLE.VIEWER)
    idle_staff.user_permissions.set(Permission.objects.filter(content_type__app_label="auth"))  # admin shows none
    return {
        "viewer": (make_user(django_user_model, "vic", org_a, role=ROLE.VIEWER, staff=False), set()),
        "dispatcher": (make_user(django_user_model, "dan", org_a, role=ROLE.DISPATCHER, staff=False), set()),
        "org admin": (
            make_user(django_user_model, "ada", org_a, role=ROLE.ADMIN, staff=False),
            {"member-index", "integrations"},
        ),
        "staff viewer without admin models": (idle_staff, set()),
        "staff org admin": (user_a, set(NARROW)),
        "superuser": (superuser, set(NARROW)),
    }


@pytest.mark.parametrize(
    "who",
    ["viewer", "dispatcher", "org admin", "staff viewer without admin models", "staff org admin", "superuser"],
)
def test_each_link_is_shown_exactly_to_those_its_page_opens_for(client, users, who):
    user, narrow = users[who]
    client.force_login(user)
    shown = nav_hrefs(client)
    for name in EVERY_MEMBER:
        assert reverse(name) in shown and opens(client, reverse(name)), name
    for name in NARROW:
        url = reverse(name)
        assert (url in shown) is (name in narrow), (name, shown)
        assert opens(client, url) is (name in narrow), name


def test_a_staff_user_the_admin_has_nothing_for_is_told_so_by_the_admin(client, users):
    client.force_login(users["staff viewer without admin models"][0])
    response = client.get(reverse("admin:index"), follow=True)
    assert "not authorized to access this page" in response.content.decode()
