"""Fixtures that run vendor simulators over real HTTP on 127.0.0.1 (no Django needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fleet.simulators.server import RunningSimulator, start_simulator

MakeSimulator = Callable[..., RunningSimulator]


@pytest.fixture
def simulator() -> Iterator[MakeSimulator]:
    """simulator(kind, **opts) starts one (frozen, fast socket ticks by default) and stops it after the test."""
    started: list[RunningSimulator] = []

    def make(kind: str, **opts: Any) -> RunningSimulator:
        opts.setdefault("frozen", True)
        opts.setdefault("tick", 0.05)
        sim = start_simulator(kind, **opts)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def login(sim: RunningSimulator, email: str = "demo", password: str = "demo") -> httpx.Client:  # noqa: S107
    """An httpx client holding a JSESSIONID from a form login."""
    client = httpx.Client(base_url=sim.url, timeout=10)
    response = client.post("/api/session", data={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return client


def session_cookie(client: httpx.Client) -> str:
    return f"JSESSIONID={client.cookies['JSESSIONID']}"
