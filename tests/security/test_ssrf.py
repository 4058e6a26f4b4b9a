"""Vendor base URLs cannot reach the machine, its private network or the cloud's metadata service, and a vendor's
error reply never reaches a page.

No test here connects anywhere but this machine's loopback: a refused address is refused before any connection,
and an address allowed with VENDOR_ALLOW_PRIVATE_NETWORKS on is only checked, never contacted, unless it is a
loopback one served by the test's own server.
"""

import ipaddress
import logging
import re
import socket

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from fleet.core import egress
from fleet.core.fields import validate_base_url
from fleet.vendors import stream, sync
from fleet.vendors.errors import VendorError
from fleet.vendors.http import VendorHTTP
from fleet.vendors.models import SyncRun, VendorAccount
from tests.conftest import make_account
from tests.security.conftest import self_signed

pytestmark = pytest.mark.django_db

# Each refused base URL, and what the refusal calls its address.
REFUSED = {
    "http://169.254.169.254/latest/meta-data/": "link-local (cloud metadata)",
    "http://10.0.0.1/": "private",
    "http://[::1]:8082/": "loopback",
    "http://localhost:8082/": "loopback",
}
PUBLIC = "93.184.216.34"  # only ever handed out by the fake resolver below, never connected to


@pytest.fixture
def private_refused(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False


@pytest.fixture
def private_allowed(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture(autouse=True)
def one_attempt(settings):
    settings.VENDOR_HTTP_ATTEMPTS = 1
    settings.VENDOR_HTTP_TIMEOUT = 2.0


@pytest.fixture
def resolver(monkeypatch):
    """resolver(name, *answers): the name resolves to each answer's addresses in turn (the last one repeating);
    returns the lookup counts. Other names resolve as usual. Nothing may connect to an address it hands out
    other than loopback: a connection to one fails at once (a guard, should the code under test be wrong)."""
    real_lookup, real_connect = socket.getaddrinfo, socket.create_connection
    answers: dict[str, list[list[str]]] = {}
    lookups: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real_lookup(host, port, *args, **kwargs)
        lookups[host] = lookups.get(host, 0) + 1
        addresses = answers[host][min(lookups[host], len(answers[host])) - 1]
        return [_addrinfo(a, port) for a in addresses]

    def create_connection(address, *args, **kwargs):
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise AssertionError(f"a test connected to {address[0]}")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)

    def answer(name: str, *addresses: list[str]) -> dict[str, int]:
        answers[name] = list(addresses)
        return lookups

    return answer


def _addrinfo(address: str, port: int) -> tuple:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


def admin_form(org, base_url: str) -> dict:
    return {
        "organization": org.pk,
        "kind": "datatrak",
        "name": "Vendor",
        "base_url": base_url,
        "enabled": "on",
        "sync_interval_s": "60",
        "username": "ops",
        "password": "secret",
        "token": "",
    }


def add_account(org, base_url: str) -> None:
    options = {"org": org.slug, "kind": "datatrak", "name": "Vendor", "base_url": base_url, "username": "ops"}
    call_command("addaccount", *(f"--{k.replace('_', '-')}={v}" for k, v in options.items()))


# ------------------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "address, why",
    [
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("fe80::1", "link-local (cloud metadata)"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address checked, not bound)
        ("::", "unspecified"),
        ("100.64.0.1", "reserved"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("2002:a9fe:a9fe::1", "link-local (cloud metadata)"),
        ("64:ff9b::a9fe:a9fe", "reserved"),
    ],
)
def test_an_address_that_is_not_public_is_refused_with_its_reason(address, why):
    assert egress.refusal(ipaddress.ip_address(address)) == why


def test_public_addresses_are_allowed():
    for address in (PUBLIC, "8.8.8.8", "2606:4700:4700::1111"):
        assert egress.refusal(ipaddress.ip_address(address)) is None


def test_a_name_with_one_private_address_among_public_ones_is_refused(private_refused, resolver):
    resolver("mixed.test", [PUBLIC, "10.0.0.1"])
    with pytest.raises(egress.RefusedAddress, match="mixed.test resolves to a private address"):
        egress.allowed_addresses("mixed.test", 443)
    resolver("public.test", [PUBLIC])
    assert egress.allowed_addresses("public.test", 443) == [ipaddress.ip_address(PUBLIC)]


# ------------------------------------------------------------------------------------------------ at save


@pytest.mark.parametrize("url, why", REFUSED.items(), ids=list(REFUSED))
def test_the_admin_and_addaccount_refuse_a_base_url_at_a_refused_address(
    client, superuser, org_a, url, why, private_refused
):
    client.force_login(superuser)
    response = client.post(reverse("admin:vendors_vendoraccount_add"), admin_form(org_a, url))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["base_url"]
    assert f"{why} address" in errors[0] and "VENDOR_ALLOW_PRIVATE_NETWORKS" in errors[0]
    with pytest.raises(CommandError, match=f"base_url: .*{re.escape(why)} address"):
        add_account(org_a, url)
    assert not VendorAccount.objects.exists()


@pytest.mark.parametrize("url", list(REFUSED), ids=list(REFUSED))
def test_with_private_networks_allowed_the_same_base_urls_are_saved(client, superuser, org_a, url, private_allowed):
    client.force_login(superuser)
    response = client.post(reverse("admin:vendors_vendoraccount_add"), admin_form(org_a, url))
    assert response.status_code == 302, response.context["adminform"].form.errors
    VendorAccount.objects.all().delete()
    add_account(org_a, url)
    assert VendorAccount.objects.get().base_url == url


def test_a_name_that_does_not_resolve_yet_is_saved_and_a_bad_port_is_refused(private_refused):
    validate_base_url("https://track.invalid/")  # checked again at every connection
    with pytest.raises(ValidationError, match="no valid port"):
        validate_base_url("https://track.example.com:99999/")


# ---------------------------------------------------------------------------------------- at request time


@pytest.mark.parametrize("url, why", REFUSED.items(), ids=list(REFUSED))
def test_a_stored_account_at_a_refused_address_is_refused_before_connecting(org_a, url, why, private_refused):
    account = make_account(org_a, base_url=url)  # stored without validation (an older row, a shell)
    run = sync.sync_account(account)
    assert run.status == SyncRun.Status.ERROR
    assert f"{why} address" in run.error and "public addresses only" in run.error
    account.refresh_from_db()
    assert account.disabled_by_error and account.last_error == run.error


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_a_loopback_vendor_is_refused_unless_private_networks_are_allowed(org_a, local_server, settings, host):
    server = local_server("::1" if host == "[::1]" else "127.0.0.1")
    account = make_account(org_a, base_url=f"http://{host}:{server.port}")
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    assert "loopback address" in sync.sync_account(account).error
    assert server.seen == []  # refused before connecting

    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    account.refresh_from_db()
    run = sync.sync_account(account)
    assert server.seen and "public addresses" not in run.error


def test_a_name_rebound_to_loopback_after_the_save_is_refused_at_request_time(
    org_a, local_server, resolver, private_refused
):
    server = local_server()
    lookups = resolver("vendor.test", [PUBLIC], ["127.0.0.1"])  # public when saved, loopback afterwards
    account = VendorAccount(
        organization=org_a,
        kind="datatrak",
        name="Rebound",
        base_url=f"http://vendor.test:{server.port}",
        credentials={"token": "t"},
    )
    account.full_clean()
    account.save()
    run = sync.sync_account(account)
    assert "vendor.test resolves to a loopback address" in run.error
    assert "127.0.0.1" not in run.error  # what a name resolves to is not shown
    assert server.seen == [] and lookups["vendor.test"] >= 2  # looked up again for the request


def test_each_request_goes_to_the_address_checked_for_it_with_the_vendors_host_header(
    org_a, local_server, resolver, private_allowed
):
    server = local_server()
    lookups = resolver("vendor.test", ["127.0.0.1"])
    account = make_account(org_a, base_url=f"http://vendor.test:{server.port}")
    sync.sync_account(account)
    assert len(server.seen) > 1
    assert {host for _, _, host in server.seen} == {f"vendor.test:{server.port}"}
    assert lookups["vendor.test"] == len(server.seen)  # one lookup per request, none left to the HTTP library


@pytest.mark.parametrize("certified", ["vendor.test", "other.test"])
def test_https_to_the_checked_address_still_verifies_the_vendors_certificate(
    tmp_path, monkeypatch, local_server, resolver, private_allowed, certified
):
    cert, key = self_signed(tmp_path, certified)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the only certificate httpx trusts here
    server = local_server(tls=(cert, key))
    resolver("vendor.test", ["127.0.0.1"])
    http = VendorHTTP(1, f"https://vendor.test:{server.port}")
    try:
        if certified == "vendor.test":
            assert http.request("GET", "/api/server").status_code == 200
            assert server.seen == [("GET", "/api/server", f"vendor.test:{server.port}")]
        else:  # a certificate for another name: refused, although the address is the same
            with pytest.raises(VendorError, match="connection failed"):
                http.request("GET", "/api/server")
    finally:
        http.close()


def test_a_redirect_is_not_followed(org_a, local_server, private_allowed):
    server, elsewhere = local_server(), local_server()
    server.answer(302, "", Location=f"http://127.0.0.1:{elsewhere.port}/api/session")
    run = sync.sync_account(make_account(org_a, base_url=f"http://127.0.0.1:{server.port}"))
    assert "HTTP 302 from the vendor (a redirect: fleet follows none)" in run.error
    assert elsewhere.seen == []


def test_the_live_socket_connects_only_to_an_allowed_address(private_refused, local_server, settings):
    server = local_server()
    with pytest.raises(VendorError, match="loopback address") as refused:
        stream.checked_socket(f"ws://localhost:{server.port}/api/socket")
    assert refused.value.permanent
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    stream.checked_socket(f"ws://localhost:{server.port}/api/socket").close()


# ------------------------------------------------------------------------------------- vendor error bodies

SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PASSWORD = "Pa55-vendor-password"


@pytest.mark.parametrize("status", [502, 400])
def test_a_vendor_error_body_reaches_the_log_only(
    client, superuser, org_a, local_server, caplog, status, private_allowed
):
    server = local_server()
    server.answer(status, f"upstream failure: {SECRET} (you sent password={PASSWORD})\nTraceback ...")
    account = make_account(
        org_a, base_url=f"http://127.0.0.1:{server.port}", credentials={"username": "ops", "password": PASSWORD}
    )
    with caplog.at_level(logging.WARNING, logger="fleet.vendors.http"):
        run = sync.sync_account(account)
    account.refresh_from_db()
    assert f"POST /api/session: HTTP {status} from the vendor" in run.error
    assert "EXAMPLEKEY" not in run.error + account.last_error and "upstream" not in run.error + account.last_error

    client.force_login(superuser)
    pages = [
        reverse("admin:vendors_vendoraccount_change", args=[account.pk]),
        reverse("admin:vendors_vendoraccount_changelist"),
        reverse("admin:vendors_syncrun_changelist"),
        reverse("admin:vendors_syncrun_change", args=[run.pk]),
        reverse("account-list"),
        reverse("account-detail", args=[account.pk]),
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert "EXAMPLEKEY" not in page.content.decode(), url
    shown = client.get(reverse("admin:vendors_vendoraccount_change", args=[account.pk])).content.decode()
    assert f"HTTP {status} from the vendor" in shown  # the error itself is shown, without the reply

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET in logged  # the operator can still see what the vendor said
    assert PASSWORD not in logged and "password=***" in logged
