"""Which network addresses fleet may connect to on a vendor's behalf (and the geocoder's, with its own switch).

A vendor's base URL is typed by an admin. Unchecked, it could point fleet at the cloud's metadata service
(169.254.169.254), at the machine itself or at the private network behind it. Unless
``VENDOR_ALLOW_PRIVATE_NETWORKS`` is on (the demo's simulators listen on 127.0.0.1), only public addresses are
allowed: the check runs when an account is saved and again on the resolved addresses right before every
connection, so a name that resolves elsewhere later (DNS rebinding) is refused too.
"""

import contextlib
import ipaddress
import socket
from collections.abc import Callable

import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
HINT = "fleet connects to vendors on public addresses only (see VENDOR_ALLOW_PRIVATE_NETWORKS)"

# The first test an address passes names why it is refused; an address passing none is public.
_REFUSED: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local (cloud metadata)", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("private", lambda ip: ip.is_private),
    ("reserved", lambda ip: ip.is_reserved or not ip.is_global),
)


class RefusedAddress(ValueError):
    """A host fleet must not connect to. The message says why; for a name, never what it resolved to."""


def private_allowed() -> bool:
    return bool(getattr(settings, "VENDOR_ALLOW_PRIVATE_NETWORKS", False))


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is no vendor's address ("loopback", "private", ...), or None for a public address."""
    if ip.version == 6:  # an IPv4 address inside an IPv6 one (mapped, 6to4) is judged as itself
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    return next((why for why, test in _REFUSED if test(ip)), None)


def literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """``host``'s addresses in the resolver's order (itself when it is an address). Raises OSError (or
    UnicodeError for a malformed name) when it does not resolve."""
    if (ip := literal(host)) is not None:
        return [ip]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def allowed_addresses(host: str, port: int, allow_private: bool | None = None) -> list[IPAddress]:
    """The addresses of ``host`` to connect to. Raises RefusedAddress when any of them is refused (one private
    address among public ones refuses the name), OSError when the name does not resolve. ``allow_private``
    overrides VENDOR_ALLOW_PRIVATE_NETWORKS for a caller with its own setting (the geocoder)."""
    addresses = resolve(host, port)
    if private_allowed() if allow_private is None else allow_private:
        return addresses
    for ip in addresses:
        if why := refusal(ip):
            what = f"the address {ip} is" if literal(host) else f"{host} resolves to"
            raise RefusedAddress(f"{what} {'an' if why[0] in 'aeiou' else 'a'} {why} address: {HINT}.")
    return addresses


def check_host(host: str, port: int) -> None:
    """Refuse ``host`` when it is, or resolves to, a refused address; a name that does not resolve now passes
    (it is checked again at every connection)."""
    if private_allowed():
        return
    with contextlib.suppress(OSError, UnicodeError):
        allowed_addresses(host, port)


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP socket connected to the first of ``host``'s allowed addresses that answers."""
    error: OSError | None = None
    for ip in allowed_addresses(host, port):
        try:
            return socket.create_connection((str(ip), port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError(f"{host} has no address")


class CheckedTransport(httpx.HTTPTransport):
    """Resolves each request's host itself, checks every address (``allowed_addresses``) and sends the
    request to a checked address, the Host header and the TLS server name staying the host's: what is
    connected to is what was checked, whatever the name resolves to a moment later (DNS rebinding).
    ``allow_private``: as for ``allowed_addresses`` (None: VENDOR_ALLOW_PRIVATE_NETWORKS decides)."""

    def __init__(self, *args, allow_private: bool | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allow_private = allow_private

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            port = url.port or DEFAULT_PORTS.get(url.scheme, 80)
            addresses = allowed_addresses(url.host, port, self.allow_private)
        except (OSError, UnicodeError) as exc:
            raise httpx.ConnectError(f"cannot resolve {url.host}", request=request) from exc
        if literal(url.host) is not None:
            return super().handle_request(request)
        error = None
        for ip in addresses:
            try:
                return super().handle_request(_pinned(request, ip))
            except httpx.ConnectError as exc:
                error = exc
        raise error or httpx.ConnectError(f"{url.host} has no address", request=request)


def _pinned(request: httpx.Request, ip: IPAddress) -> httpx.Request:
    """``request`` sent to ``ip``: its Host header is kept, and TLS checks the certificate of the host."""
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(ip)),
        headers=request.headers,
        stream=request.stream,
        extensions={**request.extensions, "sni_hostname": request.url.host},
    )
