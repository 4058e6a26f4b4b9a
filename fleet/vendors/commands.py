"""Commands to devices (engine stop, a position request...) through the device's vendor account, where its
connector declares ``commands``: the types the device takes, which of them are dangerous (they need a
confirmation), the attributes each type takes (``ATTRIBUTES``, checked by ``clean_attributes``), and sending
one, logged in ``CommandLog`` with who sent it and what the vendor answered."""

import re
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.exceptions import ValidationError

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
    "setOdometer": "Set odometer",
    "message": "Send a message",
    "sendSms": "Send an SMS",
    "setTimezone": "Set timezone",
    "setConnection": "Set server connection",
}
EXCERPT = 500  # characters of the vendor's answer kept in the log
TEXT, NUMBER, BOOLEAN = "text", "number", "boolean"
WHOLE = re.compile(r"-?[0-9]{1,12}")
JAVA_INT = 2**31 - 1  # Traccar reads number attributes as Java ints


@dataclass(frozen=True)
class Attribute:
    """One attribute a command type takes (Traccar's web app's command parameters): text, a whole number in
    [minimum, maximum], or a yes / no. Text and numbers are required; a yes / no is false unless given."""

    key: str
    label: str
    kind: str = TEXT
    minimum: int = 0
    maximum: int = JAVA_INT
    max_length: int = 500


_DATA = Attribute("data", "Text")
_ENABLE = Attribute("enable", "Enable", BOOLEAN)
_PHONE = Attribute("phone", "Phone number", max_length=32)
_INDEX = Attribute("index", "Index", NUMBER)
# The attributes of the usual Traccar types (Traccar 4.2's web app, KnownCommands.js, and its Command model);
# a type not listed takes none here (engine stop, a position request, arming the alarm...).
ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "custom": (_DATA,),
    "positionPeriodic": (Attribute("frequency", "Every (seconds)", NUMBER, maximum=86400),),
    "setTimezone": (Attribute("timezoneName", "Timezone", max_length=64),),
    "sendSms": (_PHONE, Attribute("message", "Message")),
    "sendUssd": (_PHONE,),
    "sosNumber": (_INDEX, _PHONE),
    "message": (Attribute("message", "Message"),),
    "outputControl": (Attribute("index", "Output", NUMBER), Attribute("data", "Value")),
    "setConnection": (Attribute("server", "Server", max_length=255), Attribute("port", "Port", NUMBER, 1, 65535)),
    "movementAlarm": (Attribute("radius", "Radius (m)", NUMBER),),
    **dict.fromkeys(("silenceTime", "setPhonebook", "voiceMessage", "setIndicator", "configuration"), (_DATA,)),
    **dict.fromkeys(("setOdometer", "alarmClock", "alarmSpeed", "alarmVibration"), (_DATA,)),
    **dict.fromkeys(
        ("voiceMonitoring", "setAgps", "modePowerSaving", "modeDeepSleep")
        + ("alarmBattery", "alarmSos", "alarmRemove", "alarmFall"),
        (_ENABLE,),
    ),
}


def label(command_type: str) -> str:
    return LABELS.get(command_type, command_type)


def attributes_of(command_type: str) -> tuple[Attribute, ...]:
    return ATTRIBUTES.get(command_type, ())


def clean_attributes(command_type: str, given: dict[str, Any]) -> dict[str, Any]:
    """The attributes to send for ``command_type`` from what a user or a client gave: text stripped (not
    blank, not too long), whole numbers in range, yes / no as booleans. Raises ValidationError naming each
    attribute that is wrong, and any the type does not take."""
    values, errors = {}, {}
    for attribute in attributes_of(command_type):
        try:
            values[attribute.key] = _value(attribute, given.get(attribute.key))
        except _Missing:
            errors[attribute.key] = f"“{label(command_type)}” needs its {attribute.label.lower()}."
        except ValueError as exc:
            errors[attribute.key] = f"{attribute.label}: {exc}"
    known = {a.key for a in attributes_of(command_type)}
    for key in sorted(k for k in given if k not in known and given[k] not in (None, "", False)):
        errors[key] = f"“{label(command_type)}” takes no attribute “{key}”."
    if errors:
        raise ValidationError(errors)
    return values


class _Missing(ValueError):
    pass


def _value(attribute: Attribute, value: Any) -> str | int | bool:
    if attribute.kind == BOOLEAN:
        if value in (None, "", False, "false", "off", "0", 0):
            return False
        if value in (True, "true", "on", "1", 1):
            return True
        raise ValueError("give yes or no (true or false).")
    if attribute.kind == NUMBER:
        text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if not WHOLE.fullmatch(text) or not attribute.minimum <= (number := int(text)) <= attribute.maximum:
            raise ValueError(f"give a whole number from {attribute.minimum} to {attribute.maximum}.")
        return number
    text = value.strip() if isinstance(value, str) else None
    if not text:
        raise _Missing
    if len(text) > attribute.max_length:
        raise ValueError(f"at most {attribute.max_length} characters (this has {len(text)}).")
    return text


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
