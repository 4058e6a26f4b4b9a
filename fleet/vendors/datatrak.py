"""Data Trak Tracking server: a Traccar 4.2 server (the vendor's Data Trak Tracking API document).

Everything is standard Traccar 4.2, so the connector is the Traccar family's as it is;
the live socket sends ``{"positions": [...]}`` first, then one key per message.
"""

from fleet.vendors import base
from fleet.vendors.traccar import TraccarConnector


class DataTrakConnector(TraccarConnector):
    kind = "datatrak"
    # /api/reports/{trips,stops,summary} and /api/commands (Safectory's document shows no commands)
    capabilities = TraccarConnector.capabilities | {base.REPORTS, base.COMMANDS}
