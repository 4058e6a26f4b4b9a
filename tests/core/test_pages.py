import pytest
from django.contrib import admin
from django.urls import reverse

from fleet.vendors.models import VendorAccount

PAGES = ["home", "device-list", "account-list"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_redirect_to_login_when_signed_out(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_device_page_redirects_to_login_when_signed_out(client, world_a):
    response = client.get(reverse("device-detail", args=[world_a["device"].pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_admin_redirects_to_its_login_when_signed_out(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "login" in response.url


def test_the_login_page_logs_a_user_in(client, user_a):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_a_wrong_password_shows_an_error(client, user_a):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_logout_ends_the_session(client, user_a):
    client.force_login(user_a)
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize("model", list(admin.site._registry), ids=str)
def test_every_admin_changelist_and_add_page_renders_for_a_superuser(client, superuser, world_a, model):
    client.force_login(superuser)
    opts = model._meta
    assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    if admin.site._registry[model].has_add_permission(type("R", (), {"user": superuser})()):
        assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 200


@pytest.mark.parametrize(
    "name", ["device", "geofence", "corridor", "poi", "task", "beacon", "vendoraccount", "position"]
)
def test_admin_change_pages_render_for_a_superuser(client, superuser, world_a, name):
    client.force_login(superuser)
    obj = world_a[name]
    opts = obj._meta
    assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])).status_code == 200


def test_the_admin_never_shows_stored_credentials(client, superuser, org_a):
    account = VendorAccount.objects.create(
        organization=org_a,
        name="x",
        kind="datatrak",
        base_url="http://h",
        credentials={"username": "u", "password": "hunter2-pw"},
    )
    client.force_login(superuser)
    body = client.get(reverse("admin:vendors_vendoraccount_change", args=[account.pk])).content.decode()
    assert "hunter2-pw" not in body
    assert "Stored. Leave blank to keep it." in body


def test_saving_an_account_without_a_password_keeps_the_stored_one(client, superuser, org_a):
    account = VendorAccount.objects.create(
        organization=org_a,
        name="x",
        kind="datatrak",
        base_url="http://h",
        credentials={"username": "u", "password": "keep"},
        disabled_by_error=True,
    )
    client.force_login(superuser)
    data = {
        "organization": org_a.pk,
        "kind": "datatrak",
        "name": "x",
        "base_url": "http://h",
        "enabled": "on",
        "sync_interval_s": 30,
        "username": "u2",
        "password": "",
        "token": "",
    }
    response = client.post(reverse("admin:vendors_vendoraccount_change", args=[account.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.credentials == {"username": "u2", "password": "keep"}
    assert account.disabled_by_error is False
