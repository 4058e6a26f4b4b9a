"""fleet-v2 (Telemax Telematics, Australia): tokens bought with an API key or a user and password
(form-encoded), the company's vehicles with their last positions and battery health, positions per vehicle
over a range, each vehicle's last time online, the company's alert configs (rules), alert records, read flags,
IMEI lookup (the vendor's fleet-v2 API excerpt and reference/fleet-v2-telemax/NOTES.md).

Paths, auth, fetchers, then the pure mappers. Rate limits: the vendor counts 60 requests per sliding window
per client (API key or user), 20 on company-wide lists; every account of one client shares one bucket (so two
workers together stay under the window), and the buckets are held shut when the vendor's headers say the
window is spent. The legacy V1 routes are read for the battery prediction only; their Sunset header is
noted once per account.
"""

import base64
import hashlib
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from django.conf import settings

from fleet.tracking.attributes import flag, number
from fleet.tracking.records import DeviceRecord, EventRecord, PositionRecord
from fleet.vendors import base, ratelimit
from fleet.vendors.errors import AuthExpired, RateLimited, VendorError
from fleet.vendors.traccar import coordinate, parse_time, required_id, required_time

log = logging.getLogger(__name__)

PATHS = {
    "token_key": "/api/v2/authentication/token/api-key",
    "token_user": "/api/v2/authentication/token/user",
    "companies": "/api/v2/companies",
    "company_last": "/api/v2/companies/{company}/vehicles/last-position",
    "last_online": "/api/v2/companies/{company}/vehicles/last-time-online",
    "alert_configs": "/api/v2/companies/{company}/alerts",
    "vehicles_list": "/api/v2/vehicles/list",
    "positions": "/api/v2/vehicles/{vehicle}/positions",
    "alert_records": "/api/v2/companies/{company}/alert-records",
    "mark_read": "/api/v2/alerts/{id}/{time}/update-read-status",
    "battery": "/api/v2/battery-health",
    "device_ids": "/api/v2/vehicles/{imei}/device-ids",
    "v1_battery": "/api/GetCompanyVehiclesBatteryHealth",
    "v1_positions": "/api/GetPositionData",
}
COMPANY_LISTS = "company-lists"  # the scope of the stricter per-endpoint limit (20 per window)
ALERT_RULES = "alert_rules"  # the vendor's alert configs, kept on the run's counts for the Integrations page
GLOBAL_LIMIT, COMPANY_LIMIT = 60, 20
RENEW_MARGIN_S = 300.0  # log in again this long before a token expires (a fifth of a shorter lifetime)
PAGE_SIZE = 500  # the vendor's maximum
LIST_IDS = 50  # vehicle ids per POST /vehicles/list
ALERT_CAP = 1000  # ``num``: a cap applied before paging; a full cap asks again from the last record's time
MAX_PAGES = 10_000
# alertType codes, and their labels (lower case, without spaces), to fleet's event types
ALERT_CODES = {7: "deviceOverspeed", 18: "ignitionOn", 19: "ignitionOff", 24: "geofenceEnter", 25: "geofenceExit"}
ALERT_LABELS = {
    "overspeed": 7,
    "speeding": 7,
    "ignitionon": 18,
    "ignitionoff": 19,
    "geofenceenter": 24,
    "geofenceexit": 25,
}
PREDICTIONS = ("Healthy", "Check", "Failing")
SUNSET_NOTE_TTL_S = 30 * 86400
TIMESPAN = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):([0-5]?\d):([0-5]?\d(?:\.\d+)?)")
ISO_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)


def bucket_of(base_url: str, credentials: dict[str, Any]) -> str:
    """One bucket per vendor client: accounts holding the same API key or user at one server share it."""
    who = api_key(credentials) or f"user:{credentials.get('username', '')}"
    digest = hashlib.sha256(f"{base_url.rstrip('/')}|{who}".encode()).hexdigest()[:16]
    return f"fleetv2:{digest}"


def api_key(credentials: dict[str, Any]) -> str:
    """The account's API key: ``token`` (as every vendor's key is kept) or ``api_key``."""
    return str(credentials.get("token") or credentials.get("api_key") or "")


def rates(window_s: float) -> tuple[tuple[float, int], tuple[float, int]]:
    """Token buckets that can never exceed the vendor's windows: burst + rate × window stays under the
    limit with a margin (so a late request counted in the next window does not tip it over)."""
    return (0.85 * GLOBAL_LIMIT / window_s, 4), (0.8 * COMPANY_LIMIT / window_s, 2)


class FleetV2Connector(base.Connector):
    kind = "fleetv2"
    capabilities = frozenset({base.DEVICES, base.POSITIONS, base.EVENTS})
    position_chunk = 10  # vehicles per cursor save: at the vendor's pace, ten vehicles' history takes a while
    page_size = PAGE_SIZE

    def __init__(self, account_id: int, base_url: str, credentials: dict[str, str]) -> None:
        window = float(getattr(settings, "FLEETV2_RATE_WINDOW_S", 60.0))
        self.rate, company_rate = rates(window)
        super().__init__(account_id, base_url, credentials)
        self.http.bucket = bucket_of(self.base_url, credentials)
        self.http.scopes = {COMPANY_LISTS: company_rate}
        self.http.on_response = self._seen
        self.renew_at: float | None = None
        self.company: str | None = None
        self._latest: dict[str, PositionRecord] | None = None

    # --- auth -------------------------------------------------------------
    def login(self) -> None:
        """An API key buys a token on the API-key route, else ``username`` and ``password`` on the user route;
        both form-encoded. The token is renewed before ``expires_in`` runs out (and once on a 401)."""
        creds = self.credentials
        if key := api_key(creds):
            path, form = PATHS["token_key"], {"apiKey": key}
        elif creds.get("username") and creds.get("password"):
            path, form = PATHS["token_user"], {"username": str(creds["username"]), "password": str(creds["password"])}
        else:
            raise VendorError("the account has no credentials: an API key, or a username and password", permanent=True)
        self.http.client.headers.pop("Authorization", None)
        try:
            answer = self.http.json("POST", path, data=form)
        except AuthExpired:
            raise VendorError(
                "login refused: check the account's API key or username and password", permanent=True
            ) from None
        except VendorError as exc:
            if exc.status in (400, 403, 422):
                raise VendorError(f"login refused by the vendor (HTTP {exc.status})", permanent=True) from None
            raise
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise VendorError(f"POST {path}: the answer holds no access_token")
        self.http.secrets = (*self.http.secrets, token)
        self.http.client.headers["Authorization"] = f"Bearer {token}"
        self.renew_at = renew_at(answer.get("expires_in"), time.time())
        self.company = self.company or token_company(token)
        self.logged_in = True

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.logged_in and self.renew_at is not None and time.time() >= self.renew_at:
            self.logged_in = False
        return super().call(method, path, **kwargs)

    def _seen(self, path: str, response: httpx.Response) -> None:
        """V2 answers must say ``X-API-Version: 2``; a V1 answer's ``Sunset`` date is noted once per account."""
        if path.startswith("/api/v2/") and response.headers.get("X-API-Version", "").strip() != "2":
            got = response.headers.get("X-API-Version") or "none"
            raise VendorError(f"{path}: expected API version 2, the vendor answered version {got}", permanent=True)
        if sunset := response.headers.get("Sunset"):
            note_sunset(self.account_id, path, sunset)

    def company_id(self) -> str:
        """The token's CompanyId claim, else the first company the token may see."""
        if not self.logged_in:
            self.login()
        if self.company is None:
            companies = self.call("GET", PATHS["companies"])
            first = companies[0] if isinstance(companies, list) and companies else None
            if not isinstance(first, dict) or first.get("id") in (None, ""):
                raise VendorError("GET /api/v2/companies: the token sees no company", permanent=True)
            self.company = str(first["id"])
        return self.company

    # --- paging -------------------------------------------------------------
    def pages(self, method: str, path: str, params: dict[str, Any], **kwargs: Any) -> Iterator[list[Any]]:
        """The items of each page, page 1 on, until ``numberOfPages`` (``lastResultIndex`` is not trusted: its
        documented meaning and the vendor's examples disagree)."""
        page = 1
        while page <= MAX_PAGES:
            body = self.call(method, path, params={**params, "page": page, "pageSize": self.page_size}, **kwargs)
            if body is None:
                return
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise VendorError(f"{path}: expected a page of items, got {type(body).__name__}")
            items = body["items"]
            yield items
            pages = number(body.get("numberOfPages"))
            if pages is None:  # battery health's envelope: totalCount and pageSize
                total = number(body.get("totalCount"))
                pages = -(-total // self.page_size) if total is not None else None
            if not items or (pages is not None and page >= pages) or (pages is None and len(items) < self.page_size):
                return
            page += 1
        raise VendorError(f"{path}: more than {MAX_PAGES} pages")

    # --- fetchers ---------------------------------------------------------
    def devices(self) -> list[DeviceRecord]:
        """The company's vehicles from their last positions (one list for the whole company), their last time
        online (a vehicle with no position yet is listed there, with no time), their battery health (V2
        figures, V1 prediction) in ``attributes``; the company's alert rules are read on the way."""
        company = self.company_id()
        path = PATHS["company_last"].format(company=company)
        rows = [row for items in self.pages("GET", path, {}, scope=COMPANY_LISTS) for row in items]
        devices = self.map_rows(base.DEVICES, rows, parse_vehicle)
        # The rows' ``id`` is a position's synthetic id: the vehicles listed are their deviceIds.
        listed = {str(r["deviceId"]) for r in rows if isinstance(r, dict) and r.get("deviceId") not in (None, "")}
        self._latest = {}
        for row in rows:
            try:
                record = parse_position(row)
            except base.ROW_FAILURES:
                continue
            self._latest[record.device_id] = record
        by_id = {device.vendor_id: device for device in devices}
        for seen in self.last_online(company):
            listed.add(seen.vendor_id)
            if (device := by_id.get(seen.vendor_id)) is None:
                by_id[seen.vendor_id] = seen
                devices.append(seen)
                continue
            device.last_update = seen.last_update or device.last_update
            if seen.status != "unknown":
                device.status = seen.status
        health = self.battery_health()
        for device in devices:
            if device.vendor_id in health:
                device.attributes["battery_health"] = health[device.vendor_id]
        self.listed[base.DEVICES] = listed
        try:
            self.alert_rules(company)
        except VendorError as exc:  # the rules are a note beside the devices: a failure is logged, not fatal
            if exc.permanent or isinstance(exc, RateLimited | AuthExpired):
                raise
            log.warning("account %s: alert rules not read: %s", self.account_id, exc.message)
        return devices

    def last_online(self, company: str) -> list[DeviceRecord]:
        """Each vehicle's last time online (one paged company list): a vehicle without one has None."""
        path = PATHS["last_online"].format(company=company)
        rows = [row for items in self.pages("GET", path, {}, scope=COMPANY_LISTS) for row in items]
        return self.map_rows(base.DEVICES, rows, parse_last_online)

    def alert_rules(self, company: str) -> list[dict[str, Any]]:
        """The alert configs set at the vendor (name, type, enabled), each with the event type its records
        become; kept in ``extras`` for the run (a malformed config is a counted rejection)."""
        path = PATHS["alert_configs"].format(company=company)
        rows = [row for items in self.pages("GET", path, {}, scope=COMPANY_LISTS) for row in items]
        rules = self.map_rows(ALERT_RULES, rows, parse_alert_config)
        kept = self.rejects[ALERT_RULES]
        kept.received += len(rules)
        kept.created += len(rules)
        self.extras[ALERT_RULES] = rules
        return rules

    def battery_health(self) -> dict[str, dict[str, Any]]:
        """Vehicle id → its battery health: V2's voltage and score, and the legacy V1 prediction."""
        out: dict[str, dict[str, Any]] = {}
        rows = [r for items in self.pages("GET", PATHS["battery"], {}) for r in items]
        for health in self.map_rows(base.DEVICES, rows, parse_battery_v2):
            out.setdefault(health.pop("vehicle_id"), {}).update(health)
        legacy = self.call("POST", PATHS["v1_battery"], params={"pageNumber": 1, "resultsPerPage": PAGE_SIZE})
        items = legacy.get("items") if isinstance(legacy, dict) else legacy
        for health in self.map_rows(base.DEVICES, items, parse_battery_v1):
            out.setdefault(health.pop("vehicle_id"), {}).update(health)
        return out

    def latest(self, device_ids: list[str]) -> dict[str, PositionRecord]:
        """The vehicles' last positions: those the vehicle list brought, else POST /vehicles/list (≤ 50 ids)."""
        if self._latest is not None:
            return {d: self._latest[d] for d in device_ids if d in self._latest}
        out: dict[str, PositionRecord] = {}
        for k in range(0, len(device_ids), LIST_IDS):
            ids = [int(d) if d.isdigit() else d for d in device_ids[k : k + LIST_IDS]]
            for items in self.pages("POST", PATHS["vehicles_list"], {}, json={"vehicleIds": ids}):
                out.update((r.device_id, r) for r in self.map_rows(base.POSITIONS, items, parse_position))
        return out

    def latest_positions(self) -> list[PositionRecord]:
        return list(self._latest.values()) if self._latest else []

    def positions(self, since: datetime, until: datetime, device_ids: list[str]) -> Iterator[list[PositionRecord]]:
        """Each vehicle's positions over [since, until]; a vehicle whose last position is older than ``since``
        has none to fetch (one request fewer: requests are what bound this vendor)."""
        latest = self.latest(device_ids)
        params = {"from": format_time(since), "to": format_time(until)}
        for vehicle in device_ids:
            last = latest.get(vehicle)
            if last is not None and isinstance(last.fix_time, datetime) and last.fix_time < since:
                continue
            path = PATHS["positions"].format(vehicle=vehicle)
            for items in self.pages("GET", path, params):
                yield self.map_rows(base.POSITIONS, items, parse_position)

    def legacy_positions(self, vehicle: str, since: datetime, until: datetime) -> list[PositionRecord]:
        """The same positions from the V1 route (PascalCase), unpaged."""
        params = {"id": vehicle, "from": format_time(since), "to": format_time(until)}
        return self.map_rows(base.POSITIONS, self.call("POST", PATHS["v1_positions"], params=params), parse_position)

    def events(self, since: datetime, until: datetime, device_ids: list[str]) -> list[EventRecord]:
        """Alert records from ``since``; ``num`` caps them before paging, so a full cap asks again from the
        last record's time (records are addressed by ``(id, utcTime)``: repeats are dropped)."""
        path = PATHS["alert_records"].format(company=self.company_id())
        start, seen, out = since, set(), []
        while True:
            params = {"from": format_time(start), "num": ALERT_CAP}
            rows = [r for items in self.pages("GET", path, params, scope=COMPANY_LISTS) for r in items]
            fresh = [r for r in self.map_rows(base.EVENTS, rows, parse_alert) if r.vendor_id not in seen]
            seen.update(r.vendor_id for r in fresh)
            out += [r for r in fresh if r.time <= until]
            if len(rows) < ALERT_CAP:
                return out
            newest = max((r.time for r in fresh), default=None)
            if newest is None or newest <= start:
                raise VendorError(f"{path}: {ALERT_CAP} alerts at one time; cannot page past them")
            start = newest

    def mark_alert_read(self, vendor_id: str, read: bool = True) -> None:
        """Set an alert record's read flag (``vendor_id`` is ``"<id>@<utcTime>"``, as events store it)."""
        alert_id, _, when = vendor_id.partition("@")
        path = PATHS["mark_read"].format(id=alert_id, time=when.removesuffix("Z"))
        self.call("PUT", path, params={"isRead": "true" if read else "false"})

    def vehicle_for_imei(self, imei: str) -> str | None:
        """The vehicle id of a device IMEI, None when the vendor knows no such IMEI."""
        try:
            answer = self.call("GET", PATHS["device_ids"].format(imei=imei))
        except VendorError as exc:
            if exc.status == 404:
                return None
            raise
        return str(answer["vehicleId"]) if isinstance(answer, dict) and answer.get("vehicleId") is not None else None


# --- rate limits and notes shared by the accounts ---------------------------
def note_sunset(account_id: int, path: str, sunset: str) -> None:
    """Log the vendor's Sunset date of a V1 route once per account, and keep it for the Integrations page."""
    if ratelimit.client().set(sunset_key(account_id), f"{path} sunsets on {sunset}", nx=True, ex=SUNSET_NOTE_TTL_S):
        log.warning("account %s: the vendor retires %s on %s (Sunset header)", account_id, path, sunset)


def sunset_key(account_id: int) -> str:
    return f"fleet:sunset:{account_id}"


# --- pure mappers -----------------------------------------------------------
def renew_at(expires_in: object, now: float) -> float | None:
    """When to renew a token that lives ``expires_in`` seconds (86399, 86399.0, "3600"): five minutes before,
    or a fifth of a shorter lifetime; None when the answer does not say."""
    value = number(expires_in)
    if value is None or value <= 0:
        return None
    return now + value - min(RENEW_MARGIN_S, value / 5)


def token_company(token: str) -> str | None:
    """The ``CompanyId`` claim of a JWT access token (read, not verified: the vendor verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return None
    company = claims.get("CompanyId") if isinstance(claims, dict) else None
    return str(company) if isinstance(company, int | str) and str(company) else None


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def field(row: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` the row holds (V2 camelCase, V1 PascalCase and its misspellings)."""
    for name in names:
        if name in row:
            return row[name]
    return None


def parse_timespan(value: object) -> float | None:
    """Seconds of a .NET TimeSpan (``"00:00:00"``, ``"1.02:30:00"``, ``"02:30:00.5"``) or an ISO 8601 duration
    (``"PT2H30M"``); None when unreadable."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    try:
        if match := TIMESPAN.fullmatch(text):
            sign, days, h, m, sec = match.groups()
            seconds = int(days or 0) * 86400 + int(h) * 3600 + int(m) * 60 + float(sec)
            return number(-seconds if sign else seconds)
        match = ISO_DURATION.fullmatch(text)
        if not match or not any(match.groups()):
            return None
        d, h, m, sec = (float(g) if g else 0.0 for g in match.groups())
        return number(d * 86400 + h * 3600 + m * 60 + sec)
    except OverflowError:  # more days than a float holds
        return None


def position_attributes(row: dict[str, Any]) -> dict[str, Any]:
    """Telemax fields → fleet's stable attribute names: odometer km → ``odometer_m``, ``voltage`` → ``power_v``,
    engine hours → ``engine_hours_s``, fuel volume → ``fuel_l`` and level → ``fuel_pct``, fatigue (a TimeSpan)
    → ``fatigue_s``, satellites, network signal."""
    out: dict[str, Any] = {}
    if (ignition := flag(field(row, "ignition", "Ignition"))) is not None:
        out["ignition"] = ignition
    if (km := number(field(row, "odometer", "Odometer"))) is not None and (metres := number(km * 1000)) is not None:
        out["odometer_m"] = metres
    if (volts := number(field(row, "voltage", "Voltage"))) is not None:
        out["power_v"] = volts
    if (hours := number(field(row, "engineHours", "EngineHours"))) is not None and (
        s := number(hours * 3600)
    ) is not None:
        out["engine_hours_s"] = s
    if (litres := number(field(row, "fuelVolume", "FuelVolume"))) is not None:
        out["fuel_l"] = litres
    if (pct := number(field(row, "fuelLevel", "FuelLevel"))) is not None:
        out["fuel_pct"] = pct
    if (fatigue := parse_timespan(field(row, "fatigue", "Fatigue"))) is not None:
        out["fatigue_s"] = fatigue
    if (sats := number(field(row, "satelliteCoverage", "Satellites"))) is not None:
        out["satellites"] = sats
    if (rssi := number(field(row, "networkCoverageRawValue"))) is not None:
        out["rssi"] = rssi
    signal = field(row, "networkCoverage", "ConnectionStrengh", "connectionStrength")
    if isinstance(signal, str) and signal:
        out["network"] = signal[:30]
    elif (strength := number(signal)) is not None:  # an older page: an int 0-255
        out["network"] = int(strength)
    return out


def parse_position(row: dict[str, Any]) -> PositionRecord:
    """A PositionDto, V2 or V1. Its ``id`` is synthetic (time and vehicle) and is not kept: a position is
    keyed by vehicle and fix time. ``utcTime`` without a zone is UTC."""
    device = required_id(row, "deviceId") if "deviceId" in row else required_id(row, "DeviceId")
    return PositionRecord(
        device_id=device,
        fix_time=required_time(field(row, "utcTime", "UtcTime"), "utcTime"),
        latitude=coordinate(field(row, "lat", "Lat")),
        longitude=coordinate(field(row, "lng", "Lng")),
        speed=number(field(row, "speed", "Speed")) or 0.0,
        course=number(field(row, "course", "Course")),
        attributes=position_attributes(row),
    )


def parse_vehicle(row: dict[str, Any]) -> DeviceRecord:
    """A vehicle, from its last PositionDto."""
    vendor_id = required_id(row, "deviceId") if "deviceId" in row else required_id(row, "DeviceId")
    online = flag(row.get("isOnline"))
    imei = field(row, "imei", "Imei")
    return DeviceRecord(
        vendor_id=vendor_id,
        name=str(field(row, "deviceName", "DeviceName") or vendor_id)[:200],
        unique_id=str(imei) if isinstance(imei, str | int) and not isinstance(imei, bool) else "",
        status="unknown" if online is None else "online" if online else "offline",
        last_update=parse_time(field(row, "utcTime", "UtcTime"), "utcTime"),
        attributes={"vin": str(row["vin"])[:40]} if isinstance(row.get("vin"), str) and row["vin"] else {},
    )


def parse_last_online(row: dict[str, Any]) -> DeviceRecord:
    """A LastTimeOnlineDto (camelCase only): the vehicle, its IMEI and ``lastTimeOnlineUtc`` (None when the
    vehicle has never been online); ``isOnline`` when the payload has it."""
    vendor_id = required_id(row, "vehicleId")
    online = flag(row.get("isOnline"))
    imei = row.get("imei")
    return DeviceRecord(
        vendor_id=vendor_id,
        name=vendor_id,
        unique_id=str(imei) if isinstance(imei, str | int) and not isinstance(imei, bool) else "",
        status="unknown" if online is None else "online" if online else "offline",
        last_update=parse_time(row.get("lastTimeOnlineUtc"), "lastTimeOnlineUtc"),
    )


def parse_alert_config(row: dict[str, Any]) -> dict[str, Any]:
    """An alert config: its id, name, type (a label, a code or a numeric string), whether it is enabled (None
    when the vendor does not say) and the event type its records map onto (as ``parse_alert`` maps them)."""
    rule_id = required_id(row, "id")
    value = row.get("alertType")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise base.Reject("alertType: missing", rule_id)
    event, code = alert_event_type(value)
    label = value.strip() if isinstance(value, str) else str(code)
    name = row.get("name")
    return {
        "id": rule_id,
        "name": (name.strip() if isinstance(name, str) and name.strip() else label)[:100],
        "type": label[:50],
        "event": event,
        "enabled": flag(field(row, "enabled", "isEnabled", "isActive")),
    }


def parse_battery_v2(row: dict[str, Any]) -> dict[str, Any]:
    health: dict[str, Any] = {"vehicle_id": required_id(row, "vehicleId")}
    if (volts := number(row.get("currentVoltage"))) is not None:
        health["voltage"] = volts
    score = row.get("healthScore") if isinstance(row.get("healthScore"), dict) else {}
    if (value := number(score.get("score"))) is not None:
        health["score"] = value
    forecast = row.get("forecast") if isinstance(row.get("forecast"), dict) else {}
    if isinstance(forecast.get("comment"), str):
        health["forecast"] = forecast["comment"][:100]
    return health


def parse_battery_v1(row: dict[str, Any]) -> dict[str, Any]:
    """The legacy prediction: the latest of ``predictionResults`` (Healthy, Check or Failing)."""
    health: dict[str, Any] = {"vehicle_id": required_id(row, "vehicleId")}
    if (volts := number(row.get("currentVoltage"))) is not None:
        health.setdefault("voltage", volts)
    results = [r for r in row.get("predictionResults") or [] if isinstance(r, dict)]
    results.sort(key=lambda r: str(r.get("predictionForDay") or ""))
    if results and results[-1].get("batteryPredictionValue") in PREDICTIONS:
        health["prediction"] = results[-1]["batteryPredictionValue"]
        if (confidence := number(results[-1].get("predictionConfidence"))) is not None:
            health["confidence"] = confidence
    return health


def alert_event_type(value: object) -> tuple[str, int | None]:
    """``alertType`` as an int (7), a numeric string ("18") or a label ("Overspeed") → (event type, code)."""
    code: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        code = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        code = int(value.strip())
    elif isinstance(value, str):
        code = ALERT_LABELS.get("".join(value.lower().split()).replace("_", "").replace("-", ""))
    if code is None and not isinstance(value, str):
        raise base.Reject("alertType: unreadable")
    return ALERT_CODES.get(code, "alarm") if code is not None else "alarm", code


def parse_alert(row: dict[str, Any]) -> EventRecord:
    """An alert record, addressed by ``(id, utcTime)``: its vendor id is ``"<id>@<utcTime>"``."""
    alert_id = required_id(row, "id")
    moment = required_time(row.get("utcTime"), "utcTime")
    kind, code = alert_event_type(row.get("alertType"))
    attributes: dict[str, Any] = {"alert_type": code if code is not None else str(row.get("alertType"))[:50]}
    if isinstance(row.get("description"), str):
        attributes["description"] = row["description"][:200]
    if (read := flag(row.get("isRead"))) is not None:
        attributes["read"] = read
    for key, name in (("lat", "latitude"), ("lng", "longitude")):
        if (value := number(row.get(key))) is not None:
            attributes[name] = value
    return EventRecord(
        device_id=required_id(row, "vehicleId"),
        type=kind,
        time=moment,
        vendor_id=f"{alert_id}@{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        attributes=attributes,
    )


__all__ = ["FleetV2Connector", "PATHS"]
