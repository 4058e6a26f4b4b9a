"""What the Integrations page says of each vendor account: its status in plain words, the counts of its last
run and of the last 24 hours, the top reasons rows were rejected, its rate-limit bucket, the vendor's notices
(a retiring route), the alert rules set at the vendor, and the one-login check of new credentials."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from fleet.vendors import base, ratelimit, summary, sync
from fleet.vendors.errors import RateLimited, VendorError
from fleet.vendors.models import SyncRun, VendorAccount
from fleet.vendors.registry import connector_class

DAY = timedelta(hours=24)
TOP_REASONS = 5


@dataclass
class AccountState:
    account: VendorAccount
    status: str
    last_run: SyncRun | None
    last_counts: list[summary.Resource]
    day_counts: dict[str, dict[str, int]]
    top_reasons: list[tuple[str, int]]
    rate: dict[str, Any] | None
    notices: list[str] = field(default_factory=list)
    alert_rules: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        run = self.last_run
        return {
            "id": self.account.pk,
            "status": self.status,
            "last_success": _iso(self.account.last_success),
            "last_run": {r.name: r.counts for r in self.last_counts},
            "last_run_started": _iso(run.started) if run else None,
            "day": self.day_counts,
            "top_reasons": self.top_reasons,
            "rate": self.rate,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def states(accounts: list[VendorAccount]) -> list[AccountState]:
    now = timezone.now()
    return [state(account, now) for account in accounts]


def state(account: VendorAccount, now: datetime) -> AccountState:
    last = account.runs.exclude(status=SyncRun.Status.RUNNING).order_by("-started").first()
    day, reasons = day_counts(account, now - DAY)
    return AccountState(
        account=account,
        status=status(account, now),
        last_run=last,
        last_counts=summary.resources(last.counts) if last else [],
        day_counts=day,
        top_reasons=reasons,
        rate=rate_state(account),
        notices=notices(account),
        alert_rules=alert_rules(account),
    )


def status(account: VendorAccount, now: datetime) -> str:
    if account.disabled_by_error:
        return f"disabled by an error: {account.last_error or 'unknown'}"
    if not account.enabled:
        return "disabled"
    if ratelimit.client().exists(sync.lock_key(account.pk)):
        return "syncing"
    if account.consecutive_errors and account.next_run > now:
        local = timezone.localtime(account.next_run)
        return f"backing off until {local:%Y-%m-%d %H:%M:%S} after {account.consecutive_errors} failed runs"
    if account.stream_connected:
        return "streaming"
    return "waiting for its next sync"


def day_counts(account: VendorAccount, since: datetime) -> tuple[dict[str, dict[str, int]], list[tuple[str, int]]]:
    """Each resource's counts added up over the runs since ``since``, and the most frequent reject reasons."""
    totals: defaultdict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    for counts in account.runs.filter(started__gte=since).values_list("counts", flat=True):
        for resource in summary.resources(counts or {}, top=100):
            totals[resource.name].update(resource.counts)
            reasons.update({f"{resource.name}: {reason}": n for reason, n, _example in resource.reasons})
    days = {name: {k: counter.get(k, 0) for k in summary.COLUMNS} for name, counter in sorted(totals.items())}
    return days, sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]


def rate_state(account: VendorAccount) -> dict[str, Any] | None:
    """The tokens left in the account's bucket and when its next call may go (None for an unknown kind)."""
    try:
        with sync.connector_for(account) as connector:
            bucket, rate, adaptive = connector.http.bucket, connector.http.rate, connector.http.adaptive
    except VendorError:
        return None
    got = ratelimit.state(bucket, *rate, adaptive=adaptive)
    wait = max(0.0, got["next_call"] - timezone.now().timestamp())
    return {
        "tokens": got["tokens"],
        "burst": rate[1] if adaptive is None else max(1, round(got["rate"] * 2)),
        "per_second": round(got["rate"], 3),
        "learnt": adaptive is not None,
        "next_call_in_s": round(wait, 1),
    }


def notices(account: VendorAccount) -> list[str]:
    """What the vendor told about the account's routes (a Sunset header), as the connector noted it."""
    from fleet.vendors.fleetv2 import sunset_key

    note = ratelimit.client().get(sunset_key(account.pk))
    return [f"The vendor is retiring a route fleet uses: {note.decode()}."] if note else []


def alert_rules(account: VendorAccount) -> list[dict[str, Any]]:
    """The alert rules set at the vendor, as the last run that read them found them (fleet-v2)."""
    from fleet.vendors.fleetv2 import ALERT_RULES

    counts = account.runs.filter(counts__has_key=ALERT_RULES).order_by("-started").values_list("counts", flat=True)
    found = counts.first()
    items = found.get(ALERT_RULES, {}).get("items") if isinstance(found, dict) else None
    return [rule for rule in items if isinstance(rule, dict)] if isinstance(items, list) else []


def check_login(kind: str, base_url: str, credentials: dict[str, str]) -> str | None:
    """Log in once with these credentials; None when the vendor accepted them, else what failed in plain words."""
    try:
        cls = connector_class(kind)
    except LookupError:
        return f"fleet has no connector for {kind!r}."
    try:
        with cls(0, base_url, credentials) as connector:
            connector.login()
            if connector.basic_auth and base.DEVICES in connector.capabilities:
                connector.devices()  # credentials sent on every call (Basic, a static key): one call tries them
    except RateLimited as exc:
        return f"The vendor is limiting requests right now: try again in {exc.retry_after:g} seconds."
    except VendorError as exc:
        if "login refused" in exc.message or "credentials" in exc.message:
            return "The vendor refused these credentials: check the username and password, or the API key."
        if "connection failed" in exc.message or "timed out" in exc.message:
            return f"fleet could not reach the vendor at {base_url}: check the base URL."
        if exc.permanent:
            return f"The vendor refused the login: {exc.message}"
        return f"The login did not work: {exc.message}"
    return None
