"""The vendor's own reports beside ours ("As reported by vendor"): ``vendor_reports`` fetches them through
``settings.REPORTS_VENDOR_FETCH`` (this app imports no vendor code), one table per vendor account, and
``compare`` pairs them with our rows. The rules: docs/reports-engine.md (As reported by vendor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from fleet.reports.engine import day_windows
from fleet.reports.kinds import KINDS
from fleet.reports.kinds.stops import STOP_COLUMNS
from fleet.reports.kinds.trips import TRIP_COLUMNS
from fleet.reports.kinds.visits import VISIT_COLUMNS
from fleet.reports.tables import BOOL, DATE, DATETIME, DISTANCE, DURATION, SPEED, VOLUME, Column, Table

VENDOR_KINDS = tuple(slug for slug, kind in KINDS.items() if kind.vendor_tab)  # trips, stops, summary
NO_REPORTS = "this vendor offers no reports"
NO_ACCOUNT = "not synced from a vendor account: there is no vendor report to compare with"
MAX_VENDOR_DAYS = 31  # per-day vendor summaries: one request per day, so not for long ranges
# key -> (absolute, relative) tolerance before a difference is flagged
TOLERANCE = {"distance": (100.0, 0.10), "duration": (60.0, 0.10), "engine_hours": (60.0, 0.10)}

COLUMNS = {
    # ours, less what vendors lack (and our addresses, which their rows have not)
    "trips": [c for c in TRIP_COLUMNS if c.key not in ("flags", "replay", "start_address", "end_address")],
    "stops": [
        *(c for c in STOP_COLUMNS if c.key not in ("idle", "flags", "address")),
        Column("fuel", "Fuel spent", VOLUME, 1),
    ],
    "summary": [
        Column("device", "Device"),
        Column("distance", "Distance", DISTANCE, 2),
        Column("avg_speed", "Avg speed (of fixes)", SPEED, 0),
        Column("max_speed", "Max speed", SPEED, 0),
        Column("engine_hours", "Engine hours", DURATION),
        Column("fuel", "Fuel spent", VOLUME, 1),
    ],
}
COMPARED = {"trips": ["distance", "duration"], "stops": ["duration"], "summary": ["distance", "engine_hours"]}
KEY_COLUMNS = {
    "distance": (DISTANCE, "Distance"),
    "duration": (DURATION, "Duration"),
    "engine_hours": (DURATION, "Engine hours"),
}


@dataclass
class VendorTable(Table):
    """One vendor account's report rows, or why there are none."""

    account: str = ""
    account_id: int | None = None
    pending: bool = False  # a vendor report that would fill the table is being made
    vendor: str = ""  # the vendor's label, e.g. "Data Trak (Traccar 4.2)"
    message: str = ""  # NO_REPORTS, NO_ACCOUNT or the vendor's error; empty when rows came back
    error: bool = False


# --------------------------------------------------------------------------------------------- fetching


def vendor_reports(kind: str, devices, start: datetime, end: datetime, days_tz: str | None = None) -> list[Table]:
    """The vendor's ``kind`` report (trips / stops / summary) for ``devices``, one table per vendor account.

    With ``days_tz`` a summary is asked for each local day of that timezone (rows get a ``day``), up to
    ``MAX_VENDOR_DAYS`` days; beyond that, for the whole range."""
    if kind not in VENDOR_KINDS:
        raise ValueError(f"the vendors offer no {kind!r} report")
    groups: dict[int | None, list] = {}
    for device in devices:
        groups.setdefault(device.account_id, []).append(device)
    tables: list[Table] = []
    for account_id, members in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        if account_id is None:
            title = "No vendor account"
            tables.append(VendorTable(f"vendor-{kind}-none", title, COLUMNS[kind], message=NO_ACCOUNT))
            continue
        days = day_windows(start, end, days_tz) if days_tz and kind == "summary" else []
        windows = days if 0 < len(days) <= MAX_VENDOR_DAYS else [(start, end, None)]
        tables.append(account_table(kind, members[0].account, members, windows))
    return tables


def account_table(kind: str, account, devices: list, windows: list) -> VendorTable:
    ours = {d.vendor_id: d for d in devices if d.vendor_id}
    answer = import_string(settings.REPORTS_VENDOR_FETCH)(
        kind, account, list(ours), [(_aware(a), _aware(b), day) for a, b, day in windows]
    )
    table = VendorTable(f"vendor-{kind}-{account.pk}", account.name, COLUMNS[kind], account=account.name)
    table.vendor = answer["vendor"]
    if not answer["offers"]:
        table.message = NO_REPORTS
        return table
    if answer["error"]:
        table.message, table.error = answer["error"], True
        return table
    try:
        table.rows = [vendor_row(kind, row, ours, day) for row, day in answer["rows"]]
    except (KeyError, TypeError, ValueError) as exc:  # a row without the fields its kind must have
        table.rows, table.error = [], True
        table.message = f"the vendor's report could not be read ({type(exc).__name__}: {exc})"
    table.rows.sort(key=lambda r: (r["device"], r.get("day") or "", r.get("start") or datetime.min.replace(tzinfo=UTC)))
    if table.rows and kind != "summary":
        table.totals = totals(kind, table.rows)
    return table


def _aware(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value, tz=UTC)


def _place(lat, lon) -> tuple[float, float] | None:
    return (lat, lon) if lat is not None and lon is not None else None


def vendor_row(kind: str, row: dict[str, Any], ours: dict[str, Any], day=None) -> dict[str, Any]:
    """A connector's canonical report row under our report's keys (device named as we name it)."""
    device = ours.get(row["device_id"])
    name = device.name if device is not None else row.get("device_name") or row["device_id"]
    common = {"device": name, "fuel": row.get("spent_fuel_l")}
    if kind == "trips":
        return {
            **common,
            "start": row["start"],
            "end": row["end"],
            "start_place": _place(row.get("start_lat"), row.get("start_lon")),
            "end_place": _place(row.get("end_lat"), row.get("end_lon")),
            "distance": row["distance_m"],
            "duration": row["duration_s"],
            "max_speed": row["max_speed"],
            "avg_speed": row["average_speed"],
            "driver": row.get("driver") or "",
        }
    if kind == "stops":
        return {
            **common,
            "start": row["start"],
            "end": row["end"],
            "duration": row["duration_s"],
            "place": _place(row.get("lat"), row.get("lon")),
            "engine_hours": row.get("engine_hours_s"),
        }
    return {
        **common,
        **({"day": day} if day is not None else {}),
        "distance": row["distance_m"],
        "avg_speed": row["average_speed"],
        "max_speed": row["max_speed"],
        "engine_hours": row.get("engine_hours_s"),
    }


def totals(kind: str, rows: list[dict]) -> dict:
    out: dict[str, Any] = {"device": f"{len(rows)} {kind}"}
    for key in COMPARED[kind]:
        out[key] = sum(r[key] for r in rows if r.get(key) is not None)
    return out


# -------------------------------------------------------------------------------------------- comparing


def group_rows(kind: str, ours: list[dict], theirs: list[dict]) -> list[tuple[list[dict], list[dict]]]:
    """Our rows and the vendor's in comparable groups: for trips and stops, per device, the rows whose times
    overlap, directly or through a chain (our one trip across a short halt may be the vendor's two); for
    summaries, per device (and day). A group may lack one side. Groups come by device, then time."""
    buckets: dict[tuple, tuple[list[dict], list[dict]]] = {}
    for side, rows in ((0, ours), (1, theirs)):
        for row in rows:
            buckets.setdefault((row["device"], row.get("day") or ""), ([], []))[side].append(row)
    if kind == "summary":
        return [buckets[key] for key in sorted(buckets)]
    groups = []
    for device, _ in sorted(buckets):
        spans = sorted(
            [(r["start"], r["end"], side, r) for side in (0, 1) for r in buckets[(device, "")][side]],
            key=lambda span: (span[0], span[1], span[2]),
        )
        reach = None
        for start, end, side, row in spans:
            if reach is None or start >= reach:  # no overlap with the group so far: a new group
                groups.append(([], []))
                reach = end
            groups[-1][side].append(row)
            reach = max(reach, end)
    return groups


def differs(key: str, ours: float | None, theirs: float | None) -> bool:
    if ours is None or theirs is None:
        return False
    absolute, relative = TOLERANCE[key]
    return abs(theirs - ours) > max(absolute, relative * max(abs(ours), abs(theirs)))


def _total(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return sum(values) if values else None


def compare(kind: str, ours: Table, theirs: list[Table]) -> Table:
    """Our rows against the vendor's, group by group (``group_rows``): totals per side, the difference
    (vendor - ours) and a flag when it is too big or a side has nothing."""
    vendor_rows = [r for t in theirs for r in t.rows]
    keys = COMPARED[kind]
    columns = [Column("device", "Device")]
    if kind == "summary" and any("day" in r for r in vendor_rows):
        columns.append(Column("day", "Day", DATE))
    if kind != "summary":
        columns += [
            Column("start", "Start (ours)", DATETIME),
            Column("vendor_start", "Start (vendor)", DATETIME),
            Column("count", f"{kind.capitalize()} (ours / vendor)"),
        ]
    for key in keys:
        unit_kind, label = KEY_COLUMNS[key]
        columns += [
            Column(key, f"{label} (ours)", unit_kind, 2),
            Column(f"vendor_{key}", f"{label} (vendor)", unit_kind, 2),
            Column(f"diff_{key}", f"{label} difference", unit_kind, 2),
        ]
    columns.append(Column("differs", "Differs", BOOL))
    rows = []
    for mine, vendor in group_rows(kind, ours.rows, vendor_rows):
        first = (mine or vendor)[0]
        row: dict[str, Any] = {
            "device": first["device"],
            "day": first.get("day"),
            "count": f"{len(mine)} / {len(vendor)}",
        }
        row |= {
            "start": mine[0].get("start") if mine else None,
            "vendor_start": vendor[0].get("start") if vendor else None,
        }
        flag = not mine or not vendor
        for key in keys:
            a, b = _total(mine, key), _total(vendor, key)
            row |= {key: a, f"vendor_{key}": b, f"diff_{key}": b - a if a is not None and b is not None else None}
            flag |= differs(key, a, b)
        row["differs"] = flag
        rows.append(row)
    return Table("comparison", "Ours against the vendor's", columns, rows)


# ------------------------------------------------------------------------------- POI visits (the visits report)

VENDOR_VISIT_COLUMNS = [c for c in VISIT_COLUMNS if c.key not in ("place_kind", "note")]  # ours, less what they lack


def vendor_visits(devices, start: datetime, end: datetime, poi=None) -> list[VendorTable]:
    """The vendor's figures beside our visits report: per vendor account whose connector makes POI reports, the
    visits of ``devices`` (to ``poi`` only, matched by name, when given) from its newest finished POI report
    covering [start, end); a table with a message when there is none yet."""
    fetch = import_string(settings.REPORTS_VENDOR_POI_VISITS)
    groups: dict[int, list] = {}
    for device in devices:
        if device.account_id is not None:
            groups.setdefault(device.account_id, []).append(device)
    tables = []
    for account_id, members in sorted(groups.items()):
        ours = {d.vendor_id: d for d in members if d.vendor_id}
        answer = fetch(members[0].account, list(ours), _aware(start), _aware(end))
        if not answer["offers"]:
            continue
        name = members[0].account.name
        table = VendorTable(f"vendor-visits-{account_id}", name, VENDOR_VISIT_COLUMNS, account=name)
        table.vendor, table.account_id, table.pending = answer["vendor"], account_id, answer["pending"]
        rows = [r for r in answer["rows"] if poi is None or r.get("poi") == poi.name]
        table.rows = sorted((visit_row(r, ours) for r in rows), key=lambda r: (r["device"], r["enter"], r["place"]))
        if answer["report"] is None:
            table.message = NO_POI_REPORT + ("; one is being made" if answer["pending"] else "")
        else:
            table.totals = {"device": "Total", "dwell_s": sum(r["dwell_s"] for r in table.rows)}
            table.totals["distance_m"] = sum(r["distance_m"] for r in table.rows)
        tables.append(table)
    return tables


NO_POI_REPORT = "no finished POI report of this account covers the period"


def visit_row(row: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    device = ours.get(row["device_id"])
    return {
        "device": device.name if device is not None else row["device_id"],
        "place": row.get("poi") or "",
        "enter": row["enter"],
        "exit": row["exit"],
        "dwell_s": row.get("duration_s"),
        "distance_m": row.get("distance_m"),
    }
