"""The archive's triggers (tracking/0004) raise a (device, day)'s ``version`` for a change of any fix dated
before the later of the current UTC day's start and ten minutes ago (``archive.SETTLE``), not only before the
current UTC day: today's settled part then has versions too, and a report's change stamp of a window that ends
before that bound is its days' versions, one indexed read for a whole fleet, rather than an aggregate over each
device's fixes of today (docs/positions-store.md, Change stamps). A batch of live fixes, dated seconds ago,
still finds nothing to do; a late fix dated more than ten minutes ago raises its day's version. The new column
``first_change`` keeps the earliest fix time a change of the day touched: a window of the day that ends before
it was never changed, whatever the version (a late fix this afternoon does not change the stamp of a read that
ended this morning). The rows are raised in (device, day) order, as the positions are inserted in key order:
two batches raising the same days wait for each other in one order, not in a cycle.
"""

from django.db import migrations, models

TABLE = "tracking_trackday"
EVENTS = {  # event -> the changed rows, as in tracking/0004
    "insert": "SELECT device_id, fix_time FROM changed_new",
    "delete": "SELECT device_id, fix_time FROM changed_old",
    "update": "SELECT device_id, fix_time FROM changed_new UNION ALL SELECT device_id, fix_time FROM changed_old",
}
TODAY = "date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
BOUNDS = {  # 0: this migration's bound (= archive.SETTLE), 1: tracking/0004's
    0: f"greatest({TODAY}, clock_timestamp() - interval '10 minutes')",
    1: TODAY,
}
_PG_INSERT = {  # 0: this migration's (with first_change), 1: tracking/0004's
    0: """INSERT INTO {table} (device_id, day, version, count, first_change)
    SELECT device_id, (fix_time AT TIME ZONE 'UTC')::date, 1, 0, min(fix_time) FROM ({rows}) AS changed
    WHERE fix_time < settled
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (device_id, day) DO UPDATE SET version = {table}.version + 1,
        first_change = least({table}.first_change, excluded.first_change);""",
    1: """INSERT INTO {table} (device_id, day, version, count)
    SELECT DISTINCT device_id, (fix_time AT TIME ZONE 'UTC')::date, 1, 0 FROM ({rows}) AS changed
    WHERE fix_time < settled
    ON CONFLICT (device_id, day) DO UPDATE SET version = {table}.version + 1;""",
}
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {table}_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    settled timestamptz := {bound};
BEGIN
    {insert}
    RETURN NULL;
END $$;
"""
# SQLite stores fix_time as "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: text comparison orders it.
SQLITE_BOUNDS = {0: "max(date('now'), datetime('now', '-10 minutes'))", 1: "date('now')"}
_SQLITE_TOUCH = {
    0: (
        f"INSERT INTO {TABLE} (device_id, day, version, count, first_change) "
        "VALUES ({row}.device_id, date({row}.fix_time), 1, 0, {row}.fix_time) "
        "ON CONFLICT (device_id, day) DO UPDATE SET version = version + 1, "
        "first_change = min(coalesce(first_change, excluded.first_change), excluded.first_change);"
    ),
    1: (
        f"INSERT INTO {TABLE} (device_id, day, version, count) "
        "VALUES ({row}.device_id, date({row}.fix_time), 1, 0) "
        "ON CONFLICT (device_id, day) DO UPDATE SET version = version + 1;"
    ),
}
_SQLITE_TRIGGERS = (("insert", "NEW"), ("delete", "OLD"), ("update", "OLD"), ("update", "NEW"))


def _statements(vendor: str, direction: int) -> list[str]:
    if vendor == "postgresql":
        return [
            _PG_FUNCTION.format(
                table=TABLE,
                event=event,
                bound=BOUNDS[direction],
                insert=_PG_INSERT[direction].format(table=TABLE, rows=rows),
            )
            for event, rows in EVENTS.items()
        ]
    if vendor == "sqlite":
        out = []
        for event, row in _SQLITE_TRIGGERS:
            name = f"{TABLE}_{event}_{row.lower()}"
            out.append(f"DROP TRIGGER IF EXISTS {name}")
            out.append(
                f"CREATE TRIGGER {name} AFTER {event.upper()} ON tracking_position "
                f"WHEN {row}.fix_time < {SQLITE_BOUNDS[direction]} BEGIN {_SQLITE_TOUCH[direction].format(row=row)} END"
            )
        return out
    return []


def run(direction: int):
    def statements(apps, schema_editor) -> None:
        for statement in _statements(schema_editor.connection.vendor, direction):
            schema_editor.execute(statement)

    return statements


class Migration(migrations.Migration):
    dependencies = [("tracking", "0010_ingest_backlog")]

    operations = [
        migrations.AddField(
            model_name="trackday", name="first_change", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.RunPython(run(0), run(1)),
    ]
