"""A tiny HTTP server on this machine's loopback, answering what a test tells it and recording what it got."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
    """local_server(host="127.0.0.1") starts a server on that loopback address (``::1`` for IPv6)."""
    started: list[_Server] = []

    def start(host: str = "127.0.0.1") -> LocalServer:
        server = _Server(host, socket.AF_INET6 if ":" in host else socket.AF_INET)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return LocalServer(server)

    yield start
    for server in started:
        server.shutdown()
        server.server_close()
