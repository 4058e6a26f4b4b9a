"""The fleet-v2 simulator's routes: V2 (rate limited, ``X-API-Version: 2``) and the legacy V1 ones."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleet.simulators.fleetv2 import ALERT_CONFIGS, COMPANY_ID, COMPANY_NAME, SUNSET, client_key
from fleet.simulators.fleetv2 import formats as fmt
from fleet.simulators.fleetv2.limits import COMPANY_LISTS, VEHICLE_LAST
from fleet.simulators.server import json_response

if TYPE_CHECKING:
    from fleet.simulators.fleetv2 import FleetV2Sim  # noqa: F401

Handler = Callable[[Request], Awaitable[Response]]
V2 = "/api/v2"


def routes(sim: FleetV2Sim) -> list[BaseRoute]:
    v = V2Routes(sim)
    v1 = V1Routes(sim)
    w = v.wrap
    return [
        Route(f"{V2}/authentication/token/api-key", w(v.token_api_key, public=True), methods=["POST"]),
        Route(f"{V2}/authentication/token/user", w(v.token_user, public=True), methods=["POST"]),
        Route(f"{V2}/companies", w(v.companies)),
        Route(f"{V2}/companies/{{cid}}/vehicles/last-position", w(v.company_last, (COMPANY_LISTS,))),
        Route(f"{V2}/companies/{{cid}}/vehicles/last-time-online", w(v.last_online, (COMPANY_LISTS,))),
        Route(f"{V2}/companies/{{cid}}/alerts", w(v.alert_configs, (COMPANY_LISTS,))),
        Route(f"{V2}/companies/{{cid}}/alert-records", w(v.alert_records, (COMPANY_LISTS,))),
        Route(f"{V2}/alerts/{{id}}/{{date}}/update-read-status", w(v.mark_read), methods=["PUT"]),
        Route(f"{V2}/vehicles/list", w(v.vehicles_list), methods=["POST"]),
        Route(f"{V2}/vehicles/{{vid}}/last-position", w(v.vehicle_last, (VEHICLE_LAST,))),
        Route(f"{V2}/vehicles/{{vid}}/positions", w(v.vehicle_positions)),
        Route(f"{V2}/vehicles/{{imei}}/device-ids", w(v.device_ids)),
        Route(f"{V2}/battery-health", w(v.battery)),
        Route("/api/Authentication/token/api-key", v1.wrap(v1.token_api_key, public=True), methods=["POST"]),
        Route("/api/Authentication/token/user", v1.wrap(v1.token_user, public=True), methods=["POST"]),
        Route("/api/Test", v1.wrap(v1.test, public=True), methods=["POST"]),
        Route("/api/GetLastPositionData", v1.wrap(v1.last_position), methods=["POST"]),
        Route("/api/GetAllLastPositionData/{cid}", v1.wrap(v1.all_last), methods=["POST"]),
        Route("/api/GetPositionData", v1.wrap(v1.positions), methods=["POST"]),
        Route("/api/GetAlerts", v1.wrap(v1.alerts), methods=["POST"]),
        Route("/api/SetAlertAsRead", v1.wrap(v1.mark_read), methods=["POST"]),
        Route("/api/GetCompanyVehiclesBatteryHealth", v1.wrap(v1.battery), methods=["POST"]),
        Route("/api/GetDeviceId/{imei}", v1.wrap(v1.device_id)),
    ]


async def form(request: Request) -> dict[str, str]:
    """The token routes take application/x-www-form-urlencoded only (a JSON body is a 422)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise fmt.ApiError(422, "INVALID_PARAMETER", "Use application/x-www-form-urlencoded.")
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {k: v[0] for k, v in parsed.items()}


class Routes:
    api_version: str | None = None

    def __init__(self, sim: FleetV2Sim) -> None:
        self.sim = sim

    def expiry(self) -> float:
        return float(self.sim.faults.knobs.get("token_expiry", self.default_expiry))

    default_expiry: float = 0.0

    async def credential(self, request: Request, route: str) -> str:
        """The client a token route's form names, or a 401 (bad credentials)."""
        body = await form(request)
        cfg = self.sim.cfg
        if route == "api-key":
            ok, client = body.get("apiKey") == cfg.token, f"key:{body.get('apiKey')}"
        else:
            ok = (body.get("username"), body.get("password")) == (cfg.username, cfg.password)
            client = f"user:{body.get('username')}"
        if not ok:
            self.sim.stats["login_failures"] += 1
            raise fmt.ApiError(401, "INVALID_CREDENTIALS", "The credentials are not valid.")
        return client_key(client)

    def unauthorized(self, request: Request) -> Response:
        self.sim.stats["unauthorized"] += 1
        if self.sim.faults.knobs.get("empty_401"):
            return Response(b"", 401)
        header = request.headers.get("authorization", "")
        code = "TOKEN_MISSING" if not header else "TOKEN_EXPIRED" if header.count(".") == 2 else "TOKEN_MALFORMED"
        return self.error(fmt.ApiError(401, code, "The access token is missing, malformed or expired."))

    def mark(self, alert_id: str, date: str, flag: bool) -> dict[str, Any]:
        """Set the read flag of the alert ``(alert_id, date)``."""
        sim = self.sim
        when = fmt.utc_time(fmt.parse_request_time(date, "date"))
        match = next((a for a in sim.alerts if str(a["id"]) == str(alert_id) and fmt.utc_time(a["t"]) == when), None)
        if match is None:
            raise fmt.ApiError(404, "ALERT_NOT_FOUND", "No alert with this id at this time.")
        sim.read[(match["id"], when)] = flag
        return sim.render_alert(match)

    def error(self, exc: fmt.ApiError, headers: dict[str, str] | None = None) -> Response:
        return json_response(exc.body(secrets.token_hex(8)), exc.status, headers)


class V2Routes(Routes):
    default_expiry = 86399.0

    def wrap(self, handler: Handler, scopes: tuple[str, ...] = (), public: bool = False) -> Handler:
        """Token check, then the rate limits of the client behind it, then the handler; every answer carries
        ``X-API-Version: 2`` and the rate-limit headers (a 401 counts against the caller's address)."""

        async def endpoint(request: Request) -> Response:
            sim = self.sim
            sim.sync()
            client = None if public else sim.client_of(request)
            if not public and client is None:
                response = self.unauthorized(request)
                response.headers["X-API-Version"] = "2"
                return response
            if public:
                client = "anon:" + (request.client.host if request.client else "?")
            strict = sim.faults.knobs.get("strict_limits", True)
            verdict = sim.limits.check(client, scopes if strict else ())
            headers = {
                "X-API-Version": "2",
                "X-RateLimit-Limit": str(verdict.limit),
                "X-RateLimit-Remaining": str(verdict.remaining),
                "X-RateLimit-Reset": str(verdict.reset),
                "X-RateLimit-Policy": "minute",
            }
            if not verdict.allowed:
                sim.stats["rate_limited"] += 1
                headers["Retry-After"] = str(verdict.retry_after)
                return self.error(fmt.ApiError(429, "TOO_MANY_REQUESTS", "Rate limit exceeded."), headers)
            try:
                response = await handler(request)
            except fmt.ApiError as exc:
                response = self.error(exc)
            response.headers.update(headers)
            return response

        return endpoint

    def company(self, request: Request) -> None:
        if str(request.path_params.get("cid")) != str(COMPANY_ID):
            raise fmt.ApiError(403, "COMPANY_ACCESS_DENIED", "The token has no access to this company.")

    async def token_api_key(self, request: Request) -> Response:
        return self.token(request, await self.credential(request, "api-key"), as_float=False)

    async def token_user(self, request: Request) -> Response:
        return self.token(request, await self.credential(request, "user"), as_float=True)

    def token(self, request: Request, client: str, as_float: bool) -> Response:
        lifetime = self.expiry()
        token = self.sim.issue_token(client, lifetime)
        expires: float | int = float(lifetime) if as_float else int(lifetime)
        return json_response({"access_token": token, "token_type": "bearer", "expires_in": expires})

    async def companies(self, request: Request) -> Response:
        return json_response([{"id": COMPANY_ID, "name": COMPANY_NAME, "timeZone": "AUS Eastern Standard Time"}])

    def latest_docs(self, devices: list[int], now: float) -> list[dict[str, Any]]:
        latest = [i for i in (self.sim.store.latest(d, now) for d in devices) if i is not None]
        docs = self.sim.serve(latest)
        for doc in docs:
            doc["isOnline"] = now - fmt.parse_request_time(str(doc["utcTime"])[:19], "utcTime") < 600
        return docs

    async def company_last(self, request: Request) -> Response:
        self.company(request)
        page, size = fmt.paging(request)
        now = self.sim.clock.now()
        devices = list(range(len(self.sim.model.vehicles)))
        return json_response(self.latest_page(devices, now, page, size))

    def latest_page(self, devices: list[int], now: float, page: int, size: int) -> dict[str, Any]:
        """Only the asked page's rows are rendered (so only they count as served)."""
        items = self.latest_docs(devices[(page - 1) * size : page * size], now)
        return fmt.page_envelope(items, len(devices), page, size)

    async def vehicle_last(self, request: Request) -> Response:
        device = self.sim.vehicle_index(request.path_params["vid"])
        docs = self.latest_docs([device], self.sim.clock.now())
        return Response(b"null", media_type="application/json") if not docs else json_response(docs[0])

    async def vehicles_list(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            raise fmt.ApiError(422, "INVALID_PARAMETER", "The body is not JSON.") from None
        ids = body.get("vehicleIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 50:
            raise fmt.ApiError(422, "INVALID_PARAMETER", "vehicleIds must hold 1 to 50 ids.")
        devices = [self.sim.vehicle_index(v) for v in ids]
        page, size = fmt.paging(request)
        return json_response(self.latest_page(devices, self.sim.clock.now(), page, size))

    async def vehicle_positions(self, request: Request) -> Response:
        sim = self.sim
        device = sim.vehicle_index(request.path_params["vid"])
        query = request.query_params
        t_from, t_to = fmt.parse_request_time(query.get("from"), "from"), fmt.parse_request_time(query.get("to"), "to")
        page, size = fmt.paging(request)
        now = sim.clock.now()
        rows = sim.store.window(device, t_from, t_to, now)
        items = sim.serve(rows[(page - 1) * size : page * size])
        return json_response(fmt.page_envelope(items, len(rows), page, size))

    async def last_online(self, request: Request) -> Response:
        self.company(request)
        page, size = fmt.paging(request)
        return json_response(fmt.envelope(self.sim.last_online(self.sim.clock.now()), page, size))

    async def alert_configs(self, request: Request) -> Response:
        self.company(request)
        page, size = fmt.paging(request)
        return json_response(fmt.envelope(ALERT_CONFIGS, page, size))

    async def alert_records(self, request: Request) -> Response:
        """Records from ``from`` on, oldest first; ``num`` caps them before paging."""
        self.company(request)
        since = fmt.parse_request_time(request.query_params.get("from"), "from")
        num = fmt.int_param(request, "num")
        page, size = fmt.paging(request)
        now = self.sim.clock.now()
        found = [a for a in self.sim.alerts if since <= a["t"] <= now][:num]
        return json_response(fmt.envelope([self.sim.render_alert(a) for a in found], page, size))

    async def mark_read(self, request: Request) -> Response:
        flag = request.query_params.get("isRead", "true").lower() == "true"
        return json_response(self.mark(request.path_params["id"], request.path_params["date"], flag))

    async def battery(self, request: Request) -> Response:
        page, size = fmt.paging(request)
        now = self.sim.clock.now()
        rows = [self.sim.battery_v2(d, now) for d in range(len(self.sim.model.vehicles))]
        return json_response(fmt.battery_envelope(rows, page, size))

    async def device_ids(self, request: Request) -> Response:
        imei = request.path_params["imei"]
        device = self.sim.by_imei.get(imei)
        if device is None:
            raise fmt.ApiError(404, "IMEI_NOT_FOUND", f"No vehicle has IMEI {imei}.")
        return json_response(
            {"vehicleId": self.sim.device_id(device), "vehicleName": self.sim.model.vehicles[device].name}
        )


class V1Routes(Routes):
    """Legacy routes: not rate limited, no ``X-API-Version``, a ``Sunset`` header, query-string parameters."""

    default_expiry = 3600.0

    def wrap(self, handler: Handler, public: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.sim.sync()
            if not public and self.sim.client_of(request) is None:
                response = self.unauthorized(request)
            else:
                try:
                    response = await handler(request)
                except fmt.ApiError as exc:
                    response = self.error(exc)
            response.headers["Sunset"] = SUNSET
            response.headers["Deprecation"] = "true"
            return response

        return endpoint

    async def token_api_key(self, request: Request) -> Response:
        return self.token(await self.credential(request, "api-key"))

    async def token_user(self, request: Request) -> Response:
        return self.token(await self.credential(request, "user"))

    def token(self, client: str) -> Response:
        lifetime = self.expiry()
        token = self.sim.issue_token(client, lifetime)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": int(lifetime)})

    async def test(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def v1_latest(self, devices: list[int]) -> list[dict[str, Any]]:
        now = self.sim.clock.now()
        latest = [i for i in (self.sim.store.latest(d, now) for d in devices) if i is not None]
        return [
            self.sim.v1_position(doc, online=True if k % 2 else None) for k, doc in enumerate(self.sim.serve(latest))
        ]

    async def last_position(self, request: Request) -> Response:
        rows = self.v1_latest([self.sim.vehicle_index(request.query_params.get("id"))])
        return Response(b"null", media_type="application/json") if not rows else json_response(rows[0])

    async def all_last(self, request: Request) -> Response:
        if str(request.path_params["cid"]) != str(COMPANY_ID):
            raise fmt.ApiError(403, "COMPANY_ACCESS_DENIED", "The token has no access to this company.")
        return json_response(self.v1_latest(list(range(len(self.sim.model.vehicles)))))

    async def positions(self, request: Request) -> Response:
        q = request.query_params
        device = self.sim.vehicle_index(q.get("id"))
        t_from, t_to = fmt.parse_request_time(q.get("from"), "from"), fmt.parse_request_time(q.get("to"), "to")
        rows = self.sim.store.window(device, t_from, t_to, self.sim.clock.now())
        return json_response([self.sim.v1_position(doc) for doc in self.sim.serve(rows)])

    async def alerts(self, request: Request) -> Response:
        since = fmt.parse_request_time(request.query_params.get("from"), "from")
        num = fmt.int_param(request, "num", high=100)
        now = self.sim.clock.now()
        found = [a for a in self.sim.alerts if since <= a["t"] <= now][:num]
        return json_response([self.sim.render_alert(a) for a in found])

    async def mark_read(self, request: Request) -> Response:
        """V1 always marks read, whatever ``isRead`` says."""
        q = request.query_params
        return json_response(self.mark(q.get("id", ""), q.get("date", ""), True))

    async def battery(self, request: Request) -> Response:
        number = fmt.int_param(request, "pageNumber", 1)
        per_page = fmt.int_param(request, "resultsPerPage", 25, high=fmt.MAX_PAGE_SIZE)
        search = (request.query_params.get("searchString") or "").lower()
        now = self.sim.clock.now()
        rows = [
            self.sim.battery_v1(d, now)
            for d, v in enumerate(self.sim.model.vehicles)
            if not search or search in v.name.lower() or search in v.unique_id
        ]
        return json_response(fmt.battery_envelope(rows, number, per_page))

    async def device_id(self, request: Request) -> Response:
        device = self.sim.by_imei.get(request.path_params["imei"])
        if device is None:
            raise fmt.ApiError(404, "IMEI_NOT_FOUND", "IMEI not found.")
        return json_response(self.sim.device_id(device))
