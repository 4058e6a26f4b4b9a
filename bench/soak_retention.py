"""The soak's partitions and retention check on PostgreSQL: old history handed to ingest during the run (a
buffered upload 40 and 41 days old, and a drive across yesterday's UTC midnight), then the real beat tasks run by
a Celery worker with a retention that drops the old days; the figures before and after.

Day 41 gets its own partition first (as an operator would before importing history; the migration creates
partitions from yesterday on) and day 40 stays in the DEFAULT partition, so retention takes both paths: a
whole partition dropped and rows deleted from the DEFAULT one. The partitions ahead are left to the stack:
the worker's POSITION_PARTITION_DAYS_AHEAD is larger than the migration's, so the last days ahead exist only if
the task ran."""

from __future__ import annotations

import dataclasses
import random
import time as _time
from datetime import UTC, date, datetime, time, timedelta

OLD_DAYS = (41, 40)
RETENTION_DAYS = 35  # the stack's POSITION_RETENTION_DAYS: drops days 41 and 40, keeps yesterday and the day before
DAYS_AHEAD = 10  # the stack's POSITION_PARTITION_DAYS_AHEAD (the migration, run by the soak, uses the default 7)
DEVICES = 6  # load devices given the old history
STEP_S = 20


def today() -> date:
    return datetime.now(UTC).date()


def midnight() -> datetime:
    """Yesterday's UTC midnight: the boundary between two daily partitions that the report crosses."""
    return datetime.combine(today() - timedelta(days=1), time.min, tzinfo=UTC)


def cutoff() -> datetime:
    """Where the retention cuts: positions before it go."""
    return datetime.combine(today() - timedelta(days=RETENTION_DAYS), time.min, tzinfo=UTC)


def prepare() -> None:
    from fleet.tracking import partitions

    partitions.create_partition(today() - timedelta(days=OLD_DAYS[0]))


def upload(org_id: int, account_id: int, vendor_ids: list[str]) -> int:
    """The old history through the ingest path, as a vendor's late upload: each device an hour of driving and
    stopping on each old day, and two hours across yesterday's midnight. Returns how many fixes went in."""
    from fleet.tracking import ingest
    from fleet.tracking.records import PositionRecord

    rnd, handed = random.Random(41), 0
    starts = [datetime.combine(today() - timedelta(days=d), time(10), tzinfo=UTC) for d in OLD_DAYS]
    starts.append(midnight() - timedelta(hours=1))
    for vid in vendor_ids[:DEVICES]:
        for start, hours in zip(starts, (1, 1, 2), strict=True):
            lat, lon, records = 60.15 + rnd.random() / 10, 24.85 + rnd.random() / 10, []
            for k in range(int(hours * 3600 / STEP_S)):
                moving = (k // 60) % 2 == 0  # twenty minutes driving, twenty stopped
                if moving:
                    lat += rnd.uniform(-1, 1) * 0.002
                    lon += rnd.uniform(-1, 1) * 0.004
                speed = rnd.uniform(20, 70) if moving else 0.0
                fix = start + timedelta(seconds=k * STEP_S)
                records.append(PositionRecord(vid, fix, lat, lon, speed=speed, attributes={"ignition": moving}))
            ingest.positions(org_id, account_id, records)
            handed += len(records)
    return handed


def snapshot(device_ids: list[int]) -> dict:
    """Partitions, the old days' positions and archived days, and the report across yesterday's midnight."""
    from django.db import connection

    from fleet.reports import ranges
    from fleet.reports.engine.params import Params
    from fleet.tracking import partitions
    from fleet.tracking.models import Position, TrackDay

    names = partitions.existing_partitions()
    cut, yesterday = cutoff(), today() - timedelta(days=1)
    old = Position.objects.filter(device_id__in=device_ids, fix_time__lt=cut)
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {partitions.DEFAULT_PARTITION} WHERE fix_time < %s", [cut])
        in_default = cur.fetchone()[0]
    # within the drive: a window starting before its first fix would show a no-data span since the last fix
    # before it, which the retention drops (from day 40 on, it becomes no span at all)
    lo, hi = midnight() - timedelta(minutes=50), midnight() + timedelta(minutes=50)
    reports, trips = {}, 0
    for pk in device_ids:
        result = ranges.detect_range(pk, Params(), lo, hi)
        reports[pk] = repr([[_fields(x) for x in part] for part in result])
        trips += len(result.trips)
    return {
        "old_partitions": sorted(
            n for n in names if n != partitions.DEFAULT_PARTITION and n < partitions.partition_name(cut.date())
        ),
        "ahead": [partitions.partition_name(today() + timedelta(days=d)) in names for d in range(DAYS_AHEAD + 1)].count(
            True
        ),
        "old_positions": len(old_ids := list(old.values_list("pk", flat=True))),
        "old_ids": old_ids,
        "old_in_default": in_default,
        "old_archived": TrackDay.objects.filter(device_id__in=device_ids, day__lt=cut.date()).count(),
        # closed days: today's row, if any, only counts late fixes' changes (docs/positions-store.md)
        "kept_archived": TrackDay.objects.filter(device_id__in=device_ids, day__range=(cut.date(), yesterday)).count(),
        "reports": reports,
        "trips": trips,
    }


def _fields(item) -> dict:
    """A trip, stop, summary row or gap without its indexes into the track read (which starts earlier while
    the old days are there)."""
    return {k: v for k, v in dataclasses.asdict(item).items() if not k.endswith("_index")}


def archive(device_ids: list[int]) -> None:
    """Archive the devices' closed days (the old ones and those around yesterday's midnight), as a report
    reading them would."""
    from fleet.tracking.store import archive, table_reader

    for pk in device_ids:
        archive.archive_days(pk, table_reader(pk), today() - timedelta(days=OLD_DAYS[0]), today() - timedelta(days=1))


def run_tasks(app, device_ids: list[int], limit: float = 300) -> dict:
    """The beat tasks that keep partitions and the archive, sent to the stack's workers: maintain_partitions'
    answer (what it dropped itself: the beat's hourly run may have been first), and how long
    archive_closed_days (which keeps no result) took to prune the old archived days."""
    from fleet.tracking.models import TrackDay

    answer = app.send_task("fleet.tracking.tasks.maintain_partitions").get(timeout=limit)
    t0 = _time.monotonic()
    app.send_task("fleet.tracking.tasks.archive_closed_days", args=[2])
    old = TrackDay.objects.filter(device_id__in=device_ids, day__lt=today() - timedelta(days=RETENTION_DAYS))
    while old.exists() and _time.monotonic() - t0 < limit:
        _time.sleep(1)
    return {**answer, "archive_prune_s": round(_time.monotonic() - t0, 1)}


def figures(before: dict, after: dict, task: dict) -> dict:
    same = sum(before["reports"][pk] == after["reports"][pk] for pk in before["reports"])
    return {
        "ahead_before": before["ahead"],
        "ahead_after": after["ahead"],
        "days_ahead": DAYS_AHEAD + 1,
        "old_partitions_before": before["old_partitions"],
        "old_partitions_after": after["old_partitions"],
        "old_positions_before": before["old_positions"],
        "old_positions_after": after["old_positions"],
        "old_in_default_before": before["old_in_default"],
        # by the stack's beat during the run (hourly) or by the task run at the end: the before is what was there
        "dropped_positions": before["old_positions"] - after["old_positions"],
        "dropped_by_final_task": task.get("dropped_positions"),
        "archive_prune_s": task.get("archive_prune_s"),
        "old_archived_before": before["old_archived"],
        "old_archived_after": after["old_archived"],
        "kept_archived": f"{before['kept_archived']} -> {after['kept_archived']}",
        "boundary_reports_same": f"{same}/{len(before['reports'])}",
        "boundary_trips": before["trips"],
    }


def met(f: dict) -> bool:
    kept = f["kept_archived"].split(" -> ")
    return bool(
        f["ahead_after"] == f["days_ahead"]
        and f["old_partitions_before"]
        and not f["old_partitions_after"]
        and f["old_positions_before"] > 0
        and f["old_in_default_before"] > 0
        and f["old_positions_after"] == 0
        and f["dropped_positions"] == f["old_positions_before"]
        and f["old_archived_before"] > 0
        and f["old_archived_after"] == 0
        and kept[0] == kept[1] != "0"
        and f["boundary_reports_same"] == f"{DEVICES}/{DEVICES}"
        and f["boundary_trips"] > 0
    )
