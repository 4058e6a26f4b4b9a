"""Bench plumbing: local ports for the servers a bench starts, and waiting for them to listen."""

import os
import socket
import subprocess
import sys
import time

from _db import ROOT

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


def start_daphne(port: int, database_url: str, log, **env: str) -> subprocess.Popen:
    """fleet's ASGI app in a Daphne process on ``port``, against ``database_url`` (``env``: more settings)."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **env}
    cmd = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "fleet.asgi:application"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
