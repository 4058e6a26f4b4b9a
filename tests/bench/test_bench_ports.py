"""The benches' servers get ports of their own: free_port never hands one out twice, and the soak starts again a
simulator whose port another server answers on (CI, 2026-12-07: the quick soak's datatrak account talked to the
metrotec simulator, which had been given the same port, and stored nothing)."""

import socket

import httpx
import pytest

from fleet.simulators.server import start_simulator
from tests.bench.test_benches import ROOT


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _net
    import soak

    return _net, soak


class KernelPorts:
    """socket.socket as the kernel would answer bind(port 0): these ports in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = iter(ports)

    def __call__(self):
        port = next(self.ports)

        class Sock:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def bind(self, address):
                pass

            def getsockname(self):
                return ("127.0.0.1", port)

        return Sock()


def test_free_port_skips_a_port_it_gave_out_before(bench, monkeypatch):
    net, _soak = bench
    monkeypatch.setattr(net, "_HANDED", set())
    monkeypatch.setattr(net.socket, "socket", KernelPorts([41001, 41001, 41001, 41002, 41001, 41003]))
    assert [net.free_port(), net.free_port(), net.free_port()] == [41001, 41002, 41003]


def start_on_a_taken_port(soak, monkeypatch, kind: str, taken: int) -> str:
    """The soak's start of ``kind``'s simulator alone, the kernel's first free port being ``taken``: the URL it
    ends with, checked to be ``kind``'s own simulator on another port, restarted once (the timeline says so)."""
    run = soak.Soak(quick=True, minutes=None)
    given = iter([taken])
    real = soak.free_port
    monkeypatch.setattr(soak, "free_port", lambda: next(given, None) or real())
    monkeypatch.setattr(soak, "FLEET", {kind: soak.FLEET[kind]})
    try:
        run.start_simulators()
        url = run.sim_urls[kind]
        assert url != f"http://127.0.0.1:{taken}" and run.sim_procs[kind].poll() is None
        assert httpx.get(f"{url}/__sim__/stats", timeout=30).json()["kind"] == kind
        assert any(f"the {kind} simulator lost its port (attempt 1)" in line for line in run.timeline)
        return url
    finally:
        for proc in run.sim_procs.values():
            proc.kill()
            proc.wait(10)


def test_a_simulator_whose_port_another_answers_on_is_started_again_on_another(bench, monkeypatch):
    _net, soak = bench
    with start_simulator("metrotec", devices=2, history=60) as other:  # already on the port given twice
        start_on_a_taken_port(soak, monkeypatch, "datatrak", other.port)
        assert other.stats()["kind"] == "metrotec"  # the other one was left alone


def test_a_simulator_whose_port_something_else_holds_is_started_again_on_another(bench, monkeypatch):
    """Not another simulator: a program that listens and never answers. The simulator cannot bind, exits, and is
    started again on another port; nothing raises."""
    _net, soak = bench
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        start_on_a_taken_port(soak, monkeypatch, "itrack", squatter.getsockname()[1])
