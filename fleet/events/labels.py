"""Plain words for event types: the live map's alerts, notices, the rules page and the Events report all say
these. A vendor type not listed here keeps its own name."""

LABELS = {
    "geofenceEnter": "Entered geofence",
    "geofenceExit": "Left geofence",
    "poiArrival": "Arrived at POI",
    "poiDeparture": "Left POI",
    "taskArrival": "Arrived at task destination",
    "taskDeparture": "Left task destination",
    "taskLate": "Task late",
    "maintenanceDue": "Service due",
    "deviceOverspeed": "Overspeed",
    "ignitionOn": "Ignition on",
    "ignitionOff": "Ignition off",
    "deviceIdle": "Idling too long",
    "deviceOnline": "Back online",
    "deviceOffline": "Offline",
    "deviceUnknown": "Status unknown",
    "deviceInactive": "Inactive",
    "alarm": "Alarm",
    "lowBattery": "Low battery",
    "deviceMoving": "Started moving",
    "deviceStopped": "Stopped",
    "deviceFuelDrop": "Fuel drop",
    "deviceFuelIncrease": "Fuel increase",
    "driverChanged": "Driver changed",
    "maintenance": "Maintenance due",
    "commandResult": "Command result",
    "textMessage": "Text message",
    "test": "Test notice",
}


def label(event_type: str) -> str:
    return LABELS.get(event_type, event_type)
