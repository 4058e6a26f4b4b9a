"""The vendors' own reports, for the reports app's "As reported by vendor" tab.

The reports app does not import vendor code (docs/architecture.md): it reaches ``fetch`` through the
``REPORTS_VENDOR_FETCH`` setting, and ``poi_visits`` (the vendor's POI report beside the visits report) through
``REPORTS_VENDOR_POI_VISITS`` (a dotted path, as Django names its backends). Everything that talks to
a vendor stays here: the connector (its one HTTP layer with timeouts, retries and the per-account rate
limit), its capabilities, the account's state and the vendor's errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from fleet.vendors.base import POI_REPORTS, REPORTS
from fleet.vendors.errors import VendorError
from fleet.vendors.models import PoiReport
from fleet.vendors.registry import CONNECTORS, capabilities, connector_class


def fetch(kind: str, account, vendor_ids: list[str], windows: list[tuple[datetime, datetime, Any]]) -> dict:
    """The account's ``kind`` report (trips / stops / summary) for the devices ``vendor_ids`` over each
    (start, end, tag) window, as the connector's canonical rows.

    Returns {"vendor": the vendor's label, "offers": whether its connector has reports, "rows": [(row, tag)],
    "error": why there are no rows (a vendor or rate-limiter failure, a disabled account) or ""}; it never
    raises for the vendor's sake."""
    answer = {"vendor": CONNECTORS.get(account.kind, (account.kind, ""))[0], "offers": True, "rows": [], "error": ""}
    try:
        cls = connector_class(account.kind)
    except LookupError as exc:
        return answer | {"error": str(exc)}
    if REPORTS not in cls.capabilities:
        return answer | {"offers": False}
    if not account.enabled or account.disabled_by_error:
        return answer | {"error": "the account is disabled: fix it in the admin to ask its server"}
    try:
        with cls(account.pk, account.base_url, account.credentials or {}) as connector:
            for start, end, tag in windows:
                answer["rows"] += [(row, tag) for row in connector.reports(kind, start, end, vendor_ids)]
    except VendorError as exc:
        return answer | {"rows": [], "error": f"the vendor's server failed: {exc.message}"}
    except RedisError:  # the per-account rate limiter lives in Redis: without it we must not call the vendor
        return answer | {
            "rows": [],
            "error": "the vendor cannot be asked right now (our rate limiter's Redis is unavailable)",
        }
    return answer


def poi_visits(account, vendor_ids: list[str], start: datetime, end: datetime) -> dict:
    """The visits of the devices ``vendor_ids`` that began in [start, end), from the newest finished POI report of
    the account that covers the period (the vendor makes them asynchronously: ``fleet.vendors.poireports``).

    Returns {"vendor": label, "offers": whether its connector makes POI reports, "rows": the visits (``device_id``,
    ``poi``, ``enter``, ``exit``, ``duration_s``, ``distance_m``), "report": (start, end, finished) of the report
    used or None, "pending": whether one covering the period is being made}; never asks the vendor."""
    answer = {"vendor": CONNECTORS.get(account.kind, (account.kind, ""))[0], "offers": True, "rows": []}
    answer |= {"report": None, "pending": False}
    if POI_REPORTS not in capabilities(account.kind):
        return answer | {"offers": False}
    covering = PoiReport.objects.filter(account=account, start__lte=start, end__gte=end)
    done = covering.filter(status=PoiReport.Status.DONE).order_by("-finished", "-pk").first()
    if done is None:
        return answer | {"pending": covering.filter(status=PoiReport.Status.PENDING).exists()}
    wanted, rows = set(vendor_ids), []
    for row in done.rows:
        visit = _visit(row)
        if visit and visit["device_id"] in wanted and start <= visit["enter"] < end:
            rows.append(visit)
    return answer | {"rows": rows, "report": (done.start, done.end, done.finished)}


def _visit(row: object) -> dict | None:
    """A stored visit with its times read back (None for a row not stored by ``poireports``)."""
    try:
        enter, leave = datetime.fromisoformat(row["enter"]), datetime.fromisoformat(row["exit"])
    except (KeyError, TypeError, ValueError):
        return None
    return {**row, "enter": enter, "exit": leave}
