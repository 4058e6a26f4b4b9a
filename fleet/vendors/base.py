"""The connector contract: every hook a vendor connector may implement, and the capabilities that
declare which ones it does. A hook a connector does not override raises a permanent VendorError."""

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException

from fleet.tracking.records import (
    BeaconRecord,
    DeviceRecord,
    DriverRecord,
    EventRecord,
    GeofenceRecord,
    GroupRecord,
    PoiRecord,
    PositionRecord,
    TaskFileRecord,
    TaskRecord,
    TripRecord,
)
from fleet.tracking.validate import Tally
from fleet.vendors import ratelimit
from fleet.vendors.errors import AuthExpired, VendorError
from fleet.vendors.http import VendorHTTP

if TYPE_CHECKING:
    import httpx

Record = TypeVar("Record")

# What a connector can do; the sync walks only what its connector declares.
DEVICES, GROUPS, DRIVERS, BEACONS = "devices", "groups", "drivers", "beacons"
GEOFENCES, POIS, TASKS = "geofences", "pois", "tasks"
TASK_FILES = "task_files"  # files attached to tasks: listed (metadata) and uploaded
POSITIONS, EVENTS, TRIPS, STREAM = "positions", "events", "trips", "stream"
REPORTS = "reports"  # the vendor's own trips / stops / summary reports
POI_REPORTS = "poi_reports"  # the vendor's POI visit reports, made asynchronously (create, poll, fetch)
GEOFENCE_WRITE, POI_WRITE, TASK_WRITE, BEACON_WRITE = "geofence_write", "poi_write", "task_write", "beacon_write"
COMMANDS = "commands"  # commands sent to a device (engine stop, a position request...): the types it takes, send

NOT_SECRET = frozenset({"language", "dealer_id"})  # account settings kept with the credentials that need no masking

# Resources whose objects are retired when the vendor stops listing them (the sync compares the ids listed).
LISTED = frozenset({DEVICES, GROUPS, DRIVERS, BEACONS, GEOFENCES})

# Capability -> the hooks a connector declaring it must override. ``login`` is needed by every
# connector; ``pong`` only by one whose socket messages carry pings.
CAPABILITY_HOOKS: dict[str, tuple[str, ...]] = {
    DEVICES: ("devices",),
    GROUPS: ("groups",),
    DRIVERS: ("drivers",),
    BEACONS: ("beacons",),
    GEOFENCES: ("geofences",),
    POIS: ("pois",),
    TASKS: ("tasks",),
    TASK_FILES: ("task_files", "upload_task_file"),
    POSITIONS: ("positions",),
    EVENTS: ("events",),
    TRIPS: ("trips",),
    REPORTS: ("reports",),
    POI_REPORTS: ("create_poi_report", "poi_report_status", "poi_report_rows"),
    GEOFENCE_WRITE: ("create_geofence", "update_geofence", "delete_geofence", "link_geofence"),
    POI_WRITE: ("create_poi", "update_poi", "delete_poi"),
    TASK_WRITE: ("create_task", "update_task", "delete_task"),
    BEACON_WRITE: ("update_beacon",),
    COMMANDS: ("command_types", "send_command"),
    STREAM: ("socket_url", "socket_auth", "parse_socket_message"),
}


class Reject(ValueError):  # noqa: N818 - a row's fate, not an error of ours
    """A vendor row that cannot become a record; ``reason`` names the field ("no deviceId", "time: unreadable")."""

    def __init__(self, reason: str, vendor_id: object = "") -> None:
        super().__init__(reason)
        self.reason, self.vendor_id = reason, vendor_id


# What a mapper raises on a row it was not written for: the row is rejected, the resource goes on.
ROW_FAILURES = (
    Reject,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    OverflowError,
    GEOSException,
    GDALException,
)


def row_id(row: object) -> object:
    """The vendor's id of a row, to name it in a reject (its ``id``, else its ``deviceId``, else a name)."""
    if not isinstance(row, dict):
        return ""
    for key in ("id", "deviceId", "uniqueId", "name"):
        if row.get(key) not in (None, ""):
            return row[key]
    return ""


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, Reject):
        return exc.reason
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]}" if exc.args else "a field is missing"
    return f"unreadable row ({type(exc).__name__})"


class Connector:
    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    rate: ClassVar[tuple[float, int]] = (20.0, 40)  # requests/s and burst, per account
    position_chunk: ClassVar[int] = 50  # devices per positions() call the sync makes
    events_every_s: float = 0.0  # least seconds between two event fetches of the sync (0: every sync)

    def __init__(self, account_id: int, base_url: str, credentials: dict[str, str]) -> None:
        self.account_id = account_id
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        secrets = tuple(str(v) for k, v in credentials.items() if k not in NOT_SECRET)
        self.http = VendorHTTP(account_id, self.base_url, self.rate, secrets=secrets)
        self.logged_in = False
        self.basic_auth = False  # set by a login that fell back to Basic auth on every call
        self._auth_lock = threading.Lock()  # one login at a time, however many requests are in flight
        self._auth_generation = 0  # logins so far: a 401 on a request sent before the latest one needs none
        self.rejects: defaultdict[str, Tally] = defaultdict(Tally)  # rows the mappers refused, per resource
        self.listed: dict[str, set[str]] = {}  # every row id a full list of a LISTED resource named
        # What the vendor says of the account besides records (fleet-v2's alert rules): kept on the run's counts
        self.extras: dict[str, list[dict[str, Any]]] = {}

    def learn_rate(self, start: float, ceiling: float) -> None:
        """For a vendor that publishes no rate: begin at ``start`` requests/s and let the account's bucket grow
        while the vendor answers, up to ``ceiling``, halving when it refuses or fails (``ratelimit`` explains)."""
        self.http.rate = (start, max(1, round(start * 2)))
        self.http.adaptive = ratelimit.Adaptive(ceiling=max(start, ceiling), step=start)

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    workers = 1  # requests a connector may have in flight at once (``each``); each still takes a bucket token
    _pool = None

    def each(self, fetch: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        """``fetch`` of every item, ``workers`` at a time, results in the items' order; stopping early cancels
        the rest. ``fetch`` runs in pool threads: it should only fetch (map rows in the caller's thread)."""
        if self.workers <= 1 or len(items) < 2:
            yield from map(fetch, items)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"{self.kind}-{self.account_id}")
        futures = [self._pool.submit(fetch, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self.http.close()

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} account={self.account_id} {self.base_url}>"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """JSON call that logs in first, and once more if the session has expired. Safe from several threads:
        requests that meet the same expired session log in once between them."""
        generation = self._login_if(self.needs_login)
        try:
            return self.http.json(method, path, **kwargs)
        except AuthExpired:
            if self.basic_auth:  # no session to renew: the credentials themselves are refused
                raise VendorError(f"{method} {path}: credentials refused", permanent=True) from None
            self._login_if(lambda: self._auth_generation == generation)
            try:
                return self.http.json(method, path, **kwargs)
            except AuthExpired:
                raise VendorError(f"{method} {path}: still unauthorised after logging in again") from None

    def call_response(self, method: str, path: str, **kwargs: Any) -> "httpx.Response":
        """``call``, returning the response (its status too) with the parsed body as ``_parsed``."""
        generation = self._login_if(self.needs_login)
        try:
            return self.http.request(method, path, parse=True, **kwargs)
        except AuthExpired:
            if self.basic_auth:
                raise VendorError(f"{method} {path}: credentials refused", permanent=True) from None
            self._login_if(lambda: self._auth_generation == generation)
            try:
                return self.http.request(method, path, parse=True, **kwargs)
            except AuthExpired:
                raise VendorError(f"{method} {path}: still unauthorised after logging in again") from None

    def needs_login(self) -> bool:
        """Whether the next request must log in first."""
        return not self.logged_in

    def _login_if(self, needed: Callable[[], bool]) -> int:
        """Log in when ``needed()`` still holds once the auth lock is held; return the login generation."""
        if not needed():
            return self._auth_generation
        with self._auth_lock:
            if needed():
                self.logged_in = False
                self.login()
                self._auth_generation += 1
            return self._auth_generation

    def map_rows(self, resource: str, rows: object, mapper: Callable[[Any], Record]) -> list[Record]:
        """``mapper`` over each vendor row; a row it cannot read is counted in ``rejects[resource]`` with its
        reason and id, and the others go on. ``None`` is no rows; any other non-list fails the resource."""
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise VendorError(f"{resource}: expected a list, got {type(rows).__name__}")
        if resource in LISTED:
            ids = (row.get("id") for row in rows if isinstance(row, dict))
            self.listed.setdefault(resource, set()).update(str(i) for i in ids if i not in ("", None))
        out = []
        for row in rows:
            try:
                out.append(mapper(row))
            except ROW_FAILURES as exc:
                vendor_id = exc.vendor_id if isinstance(exc, Reject) and exc.vendor_id else row_id(row)
                rejects = self.rejects[resource]
                rejects.received += 1
                rejects.reject(failure_reason(exc), vendor_id)
        return out

    def _cannot(self, ability: str) -> VendorError:
        """The permanent error of a hook this connector does not implement."""
        return VendorError(f"{getattr(self, 'kind', type(self).__name__)} cannot {ability}", permanent=True)

    # --- auth ---------------------------------------------------------------
    def login(self) -> None:
        """Authenticate ``self.http`` and set ``logged_in``."""
        raise self._cannot("log in")

    # --- fetchers -----------------------------------------------------------
    def devices(self) -> list[DeviceRecord]:
        raise self._cannot("list devices")

    def groups(self) -> list[GroupRecord]:
        raise self._cannot("list device groups")

    def drivers(self) -> list[DriverRecord]:
        raise self._cannot("list drivers")

    def beacons(self) -> list[BeaconRecord]:
        raise self._cannot("list beacons")

    def geofences(self) -> list[GeofenceRecord]:
        raise self._cannot("list geofences")

    def pois(self) -> list[PoiRecord]:
        raise self._cannot("list POIs")

    def tasks(self) -> list[TaskRecord]:
        raise self._cannot("list tasks")

    def task_files(self) -> list[TaskFileRecord]:
        """The files attached to the vendor's tasks (metadata only)."""
        raise self._cannot("list task files")

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        """Yield batches of the devices' positions fixed in [since, until]."""
        raise self._cannot("fetch positions")

    def latest_positions(self) -> list[PositionRecord]:
        """Every device's latest position when this run already read them in one list (fleet-v2's vehicles
        come with theirs): the sync stores them before the history, so the map is current while a vendor's rate
        limit makes the history of a large fleet take several runs. None read: empty."""
        return []

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        raise self._cannot("fetch events")

    def trips(self, since: datetime, until: datetime, device_ids: list[str]) -> list[TripRecord]:
        raise self._cannot("fetch trips")

    def reports(self, kind: str, since: datetime, until: datetime, device_ids: list[str]) -> list[dict[str, Any]]:
        """Return the vendor's own ``kind`` report (trips / stops / summary) rows, in canonical units."""
        raise self._cannot("run its own reports")

    def create_poi_report(self, since: datetime, until: datetime) -> str:
        """Ask the vendor for its POI visit report of every vehicle over [since, until]; return its id."""
        raise self._cannot("make POI reports")

    def poi_report_status(self, report_id: str) -> str:
        """ "waiting", "processing" or "done"."""
        raise self._cannot("make POI reports")

    def poi_report_rows(self, report_id: str) -> list[dict[str, Any]]:
        """A finished POI report's visits, in canonical units (``device_id``, ``poi``, ``enter``, ``exit``,
        ``duration_s``, ``distance_m``)."""
        raise self._cannot("make POI reports")

    # --- write-back ---------------------------------------------------------
    def create_geofence(self, record: GeofenceRecord) -> str:
        """Create the geofence at the vendor; return the vendor's id."""
        raise self._cannot("create geofences")

    def update_geofence(self, record: GeofenceRecord) -> None:
        raise self._cannot("update geofences")

    def delete_geofence(self, vendor_id: str) -> None:
        raise self._cannot("delete geofences")

    def link_geofence(self, device_id: str, geofence_id: str, unlink: bool = False) -> None:
        """Attach the vendor's geofence to the vendor's device (or detach it with ``unlink``)."""
        raise self._cannot("link geofences to devices")

    def create_poi(self, record: PoiRecord) -> str:
        """Create the POI at the vendor; return the vendor's id."""
        raise self._cannot("create POIs")

    def update_poi(self, record: PoiRecord) -> None:
        raise self._cannot("update POIs")

    def delete_poi(self, vendor_id: str) -> None:
        raise self._cannot("delete POIs")

    def create_task(self, record: TaskRecord) -> str:
        """Create the task at the vendor; return the vendor's id."""
        raise self._cannot("create tasks")

    def update_task(self, record: TaskRecord) -> None:
        raise self._cannot("update tasks")

    def delete_task(self, vendor_id: str) -> None:
        raise self._cannot("delete tasks")

    def upload_task_file(self, task_id: str, record: TaskFileRecord, content: bytes) -> str:
        """Attach the file to the vendor's task ``task_id``; return the vendor's id of the file."""
        raise self._cannot("upload task files")

    def update_beacon(self, record: BeaconRecord) -> None:
        raise self._cannot("update beacons")

    # --- commands -----------------------------------------------------------
    def command_types(self, device_id: str) -> list[str]:
        """The command types the vendor's device ``device_id`` takes now."""
        raise self._cannot("send commands")

    def send_command(self, device_id: str, command_type: str, attributes: dict[str, Any]) -> tuple[bool, Any]:
        """Send a command to the device; return (queued, the vendor's answer). A refusal raises VendorError."""
        raise self._cannot("send commands")

    # --- live socket --------------------------------------------------------
    def socket_url(self) -> str:
        raise self._cannot("stream (it has no live socket)")

    def socket_auth(self) -> dict[str, str]:
        """Return the extra headers the socket handshake needs (after ``login``)."""
        raise self._cannot("authenticate a live socket")

    def parse_socket_message(self, message: dict[str, Any]) -> dict[str, list]:
        """Split one decoded socket message into canonical records by kind, plus ``"pings"`` to answer."""
        raise self._cannot("read live socket messages")

    def pong(self, ping: str) -> str:
        """Return the text frame that answers ``ping``."""
        raise self._cannot("answer socket pings")
