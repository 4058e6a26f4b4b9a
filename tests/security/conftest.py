"""Shared by the security tests: the live-socket helpers of tests/live (with its private channel-layer prefix per
test) and a large fleet; a tiny HTTP server on loopback that answers what a test tells it and records what it got."""

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.core.models import Organization
from fleet.tracking.models import Device
from tests.live.conftest import private_channel_layer  # noqa: F401 (an autouse fixture, active here too)


def big_fleet(org: Organization, n: int) -> list[int]:
    """n devices with a recent fix and the attributes a vendor fills in (~600 bytes each in a snapshot); their
    pks in the snapshot's order."""
    fix = datetime.now(UTC).replace(microsecond=0)
    attrs = {"ignition": True, "battery_level": 80, "rssi": -70, "address": "Mannerheimintie 1, 00100 Helsinki " * 4}
    Device.objects.bulk_create(
        Device(
            organization=org,
            name=f"Device {i:05}",
            unique_id=f"35630704{i:07}",
            plate=f"ABC-{i:04}",
            last_fix_time=fix,
            last_latitude=60.0 + i / 10_000,
            last_longitude=24.9,
            last_speed=12.5,
            last_attributes=attrs,
        )
        for i in range(n)
    )
    return list(Device.objects.filter(organization=org).order_by("name", "pk").values_list("pk", flat=True))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.reply, self.seen = Reply(), []
        super().__init__((host, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        server.seen.append((self.command, self.path, self.headers.get("Host")))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(server.reply.status)
        for name, value in server.reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(server.reply.body)))
        self.end_headers()
        self.wfile.write(server.reply.body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@dataclass
class LocalServer:
    server: _Server

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def seen(self) -> list[tuple[str, str, str]]:
        return self.server.seen

    def answer(self, status: int, body: bytes | str, **headers: str) -> None:
        body = body.encode() if isinstance(body, str) else body
        self.server.reply = Reply(status, body, {"Content-Type": "text/plain", **headers})


@pytest.fixture
def local_server() -> Iterator:
    """local_server(host="127.0.0.1", tls=None) starts a server on that loopback address (``::1`` for IPv6),
    serving HTTPS when ``tls`` is a (certificate file, key file) pair."""
    started: list[_Server] = []

    def start(host: str = "127.0.0.1", tls: tuple[str, str] | None = None) -> LocalServer:
        server = _Server(host, socket.AF_INET6 if ":" in host else socket.AF_INET)
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return LocalServer(server)

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def self_signed(directory, name: str) -> tuple[str, str]:
    """A certificate for the DNS name ``name``, signed by itself (trusted as its own CA), and its key: files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)
