"""Password guessing is throttled: after LOGIN_FAILURE_LIMIT failures a username is locked from that address,
cheaply, on the login page and the admin's; other addresses and usernames are unaffected; a superuser unlocks."""

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connections
from django.urls import reverse

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed logins for alice from your address: logging in is locked for 15 minutes."


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """Before any user is made: each failure here costs a hash, and the test makes dozens."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model, org_a):
    return make_user(django_user_model, "alice", org_a)


def log_in(client, username: str, password: str, address: str = "192.0.2.10", url: str = "/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, times: int, username: str = "alice", **kw) -> list[int]:
    return [log_in(client, username, "wrong", **kw).status_code for _ in range(times)]


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_tenth_failure_locks_and_the_right_password_is_then_refused(client, alice):
    assert fail(client, 9) == [200] * 9  # the login form again, with its error
    locked = log_in(client, "alice", "wrong")
    assert locked.status_code == 429 and LOCKED in " ".join(locked.content.decode().split())
    assert locked["Retry-After"] == "900"
    assert log_in(client, "alice", "wrong").status_code == 429  # the eleventh

    right = log_in(client, "alice", "pw-alice")
    assert right.status_code == 429 and "Too many failed logins" in right.content.decode()
    assert not logged_in(client)


def test_a_locked_login_is_refused_before_any_password_is_checked(client, alice, monkeypatch):
    fail(client, 10)
    checked = []
    real = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return real(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    assert log_in(client, "alice", "pw-alice").status_code == 429
    assert checked == []
    assert log_in(client, "alice", "pw-alice", address="192.0.2.99").status_code == 302
    assert checked == ["alice"]


def test_another_address_and_another_username_are_unaffected(client, alice, django_user_model, org_b):
    make_user(django_user_model, "bob", org_b)
    fail(client, 10)
    assert log_in(client, "alice", "pw-alice", address="198.51.100.7").status_code == 302  # alice elsewhere
    client.logout()
    assert log_in(client, "bob", "pw-bob").status_code == 302  # bob from alice's address
    client.logout()
    assert log_in(client, "alice", "pw-alice").status_code == 429


def test_a_successful_login_clears_the_failures(client, alice):
    fail(client, 9)
    assert log_in(client, "alice", "pw-alice").status_code == 302
    client.logout()
    assert fail(client, 9) == [200] * 9


def test_the_admin_login_is_throttled_too(client, alice):
    url = reverse("admin:login")
    assert fail(client, 10, url=url)[-1] == 429
    assert log_in(client, "alice", "pw-alice", url=url).status_code == 429
    assert log_in(client, "alice", "pw-alice").status_code == 429  # the same lock on the dashboard's page


def test_a_failure_is_recorded_without_the_password(client, alice):
    log_in(client, "alice", "my-secret-guess")
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == ("alice", "192.0.2.10", 1)
    assert "my-secret-guess" not in attempt.post_data


def test_a_superuser_unlocks_in_the_admin_and_no_one_else_sees_the_attempts(client, alice, superuser):
    fail(client, 10)
    alice.user_permissions.add(*Permission.objects.filter(content_type__app_label="axes"))
    client.force_login(alice)  # staff, with every axes permission, but not a superuser
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert client.get(changelist).status_code == 403
    client.logout()

    client.force_login(superuser)
    page = client.get(changelist)
    assert page.status_code == 200 and "alice" in page.content.decode()
    attempt = AccessAttempt.objects.get()
    response = client.post(changelist, {"action": "unlock", "_selected_action": [attempt.pk]}, follow=True)
    assert "Unlocked 1 login(s): alice from 192.0.2.10." in response.content.decode()
    client.logout()

    assert log_in(client, "alice", "pw-alice").status_code == 302


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_lockout_page_is_served_over_asgi_as_daphne_serves_it(async_client, alice):
    try:
        for _ in range(10):
            response = await async_client.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 429
        right = await async_client.post("/login/", {"username": "alice", "password": "pw-alice"})
        assert right.status_code == 429 and LOCKED in " ".join(right.content.decode().split())
    finally:  # the views ran in asgiref's thread: its database connection must not outlive the test
        await sync_to_async(connections.close_all)()
