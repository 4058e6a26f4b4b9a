"""Fixtures that run vendor simulators over real HTTP on 127.0.0.1 (no Django needed)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from fleet.simulators.server import RunningSimulator

MakeSimulator = Callable[..., RunningSimulator]


def login(sim: RunningSimulator, email: str = "demo", password: str = "demo") -> httpx.Client:  # noqa: S107
    """An httpx client holding a JSESSIONID from a form login."""
    client = httpx.Client(base_url=sim.url, timeout=10)
    response = client.post("/api/session", data={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return client


def session_cookie(client: httpx.Client) -> str:
    return f"JSESSIONID={client.cookies['JSESSIONID']}"
