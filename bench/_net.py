"""Bench plumbing: local ports for the servers a bench starts, and waiting for them to listen."""

import socket
import time

_HANDED: set[int] = set()  # every port free_port gave out in this process


def free_port() -> int:
    """A port nothing listens on, never one this process was given before. The port is let go before the server
    that will listen on it starts, so two calls in a row could get the same one from the kernel while the first
    server is still starting; the second server then fails to bind and its URL reaches the first (the quick soak
    of 2026-12-07 in CI: its datatrak account talked to the metrotec simulator and stored nothing)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED:
            _HANDED.add(port)
            return port


def wait_listening(port: int, timeout: float = 30.0, what: str = "daphne") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} on port {port} did not start")
