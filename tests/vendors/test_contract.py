"""The connector contract of fleet/vendors/base.py, checked against every registered connector."""

import inspect

import pytest

from fleet.vendors import base
from fleet.vendors.datatrak import DataTrakConnector
from fleet.vendors.errors import VendorError
from fleet.vendors.registry import CONNECTORS, connector_class

HOOKS = sorted({"login", "pong", *(hook for hooks in base.CAPABILITY_HOOKS.values() for hook in hooks)})


def missing_hooks(cls: type[base.Connector]) -> list[str]:
    """'capability: hook' for each hook a declared capability needs that the class leaves to the base."""
    return [
        f"{capability}: {hook}"
        for capability in sorted(cls.capabilities)
        for hook in base.CAPABILITY_HOOKS.get(capability, ("<not in CAPABILITY_HOOKS>",))
        if getattr(cls, hook, None) is getattr(base.Connector, hook, None)
    ]


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
def test_every_capability_a_connector_declares_has_its_hooks_implemented(kind):
    cls = connector_class(kind)
    assert cls.kind == kind
    assert cls.login is not base.Connector.login
    assert missing_hooks(cls) == []


def test_the_check_sees_a_declared_capability_without_its_hook():
    class Careless(base.Connector):
        kind = "careless"
        capabilities = frozenset({base.DEVICES, base.POIS, "teleport"})

        def devices(self) -> list:
            return []

    assert missing_hooks(Careless) == ["pois: pois", "teleport: <not in CAPABILITY_HOOKS>"]


@pytest.mark.parametrize("hook", HOOKS)
def test_a_hook_a_connector_does_not_implement_is_a_permanent_error_naming_the_kind(hook):
    class Bare(base.Connector):
        kind = "bare"

    with Bare(1, "http://bare.invalid", {}) as connector:
        method = getattr(connector, hook)
        args = [None] * sum(p.default is p.empty for p in inspect.signature(method).parameters.values())
        with pytest.raises(VendorError, match=r"^bare cannot ") as error:
            method(*args)
    assert error.value.permanent


def test_the_traccar_socket_handshake_carries_the_session_cookie():
    with DataTrakConnector(1, "http://datatrak.invalid", {}) as connector:
        connector.http.client.cookies.set("JSESSIONID", "node0abc")
        assert connector.socket_auth() == {"Cookie": "JSESSIONID=node0abc"}
        assert connector.socket_url() == "ws://datatrak.invalid/api/socket"


def test_a_traccar_server_with_basic_auth_only_cannot_open_the_socket():
    connector = DataTrakConnector(1, "http://datatrak.invalid", {})
    with connector, pytest.raises(VendorError, match="needs a session login"):
        connector.socket_auth()
