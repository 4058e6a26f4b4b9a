"""Which network addresses fleet may connect to on a vendor's behalf.

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

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


def allowed_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses of ``host`` to connect to. Raises RefusedAddress when any of them is refused (one private
    address among public ones refuses the name), OSError when the name does not resolve."""
    addresses = resolve(host, port)
    if private_allowed():
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
