"""Commands to devices (engine stop, a position request...) through the device's vendor account, where its
connector declares ``commands``: the types the device takes, which of them are dangerous (they need a
confirmation), and sending one, logged in ``CommandLog`` with who sent it and what the vendor answered."""

from typing import Any

import orjson

from fleet.tracking.models import Device
from fleet.vendors import base
from fleet.vendors.errors import VendorError
from fleet.vendors.models import CommandLog
from fleet.vendors.registry import capabilities
from fleet.vendors.sync import connector_for

# Types that act on the vehicle or its security: sending one needs an explicit confirmation.
DANGEROUS = frozenset(
    {
        "engineStop",
        "engineResume",
        "alarmArm",
        "alarmDisarm",
        "outputControl",
        "rebootDevice",
        "powerOff",
        "factoryReset",
        "setOdometer",
        "custom",  # raw text in the device's own language: anything
    }
)
# Readable names of the usual Traccar types; any other is shown as the vendor names it.
LABELS = {
    "custom": "Custom (raw text)",
    "positionSingle": "Request a position",
    "positionPeriodic": "Report periodically",
    "positionStop": "Stop periodic reports",
    "engineStop": "Engine stop",
    "engineResume": "Engine resume",
    "alarmArm": "Arm alarm",
    "alarmDisarm": "Disarm alarm",
    "rebootDevice": "Reboot device",
    "outputControl": "Output control",
    "requestPhoto": "Request a photo",
}
EXCERPT = 500  # characters of the vendor's answer kept in the log


def label(command_type: str) -> str:
    return LABELS.get(command_type, command_type)


def supported(device: Device) -> bool:
    """Whether commands can be offered for the device: an enabled account whose connector sends them."""
    account = device.account
    return (
        account is not None
        and account.enabled
        and not account.disabled_by_error
        and bool(device.vendor_id)
        and base.COMMANDS in capabilities(account.kind)
    )


def types(device: Device) -> list[str]:
    """The types the device takes now, as its vendor says. Raises VendorError when the vendor cannot say."""
    with connector_for(device.account) as connector:
        listed = connector.command_types(device.vendor_id)
    max_length = CommandLog._meta.get_field("type").max_length
    return list(dict.fromkeys(t for t in listed if 0 < len(t) <= max_length))  # what the log can keep, once each


def send(device: Device, user: Any, command_type: str, attributes: dict[str, Any], confirmed: bool) -> CommandLog:
    """Send the command and log it: ok / queued with the vendor's answer, or failed with its error."""
    log = CommandLog(
        organization_id=device.organization_id,
        device=device,
        account=device.account,
        user=user,
        type=command_type,
        attributes=attributes,
        confirmed=confirmed,
    )
    try:
        with connector_for(device.account) as connector:
            queued, answer = connector.send_command(device.vendor_id, command_type, attributes)
    except VendorError as exc:
        log.status = CommandLog.Status.FAILED
        log.response = _excerpt(f"{exc.message}: {exc.detail}" if exc.detail else exc.message)
    else:
        log.status = CommandLog.Status.QUEUED if queued else CommandLog.Status.OK
        log.response = _excerpt(orjson.dumps(answer).decode() if answer is not None else "")
    log.save()
    return log


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
