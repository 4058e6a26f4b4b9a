"""The reports' archive of closed days (``fleet.reports.archive``) and the triggers that keep it honest:
every insert, update or delete of a position dated before the current UTC day raises that (device, day)'s
``version``, so an archived day (or a cached report) built from an older version is never used again.

PostgreSQL: statement-level triggers with transition tables (one statement per ingest batch, whatever its
size; a batch of live fixes, all dated today, finds nothing to do). SQLite: row-level triggers whose WHEN
clause skips today's fixes.
"""

from django.db import migrations, models

# Each trigger's function names the transition tables its event has. The current UTC day comes from the
# database's clock at the statement (clock_timestamp, not now(): a long transaction's start time would date
# a late fix into "today").
_PG_VARIANT = """
CREATE FUNCTION reports_trackday_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reports_trackday (device_id, day, version, count)
    SELECT DISTINCT device_id, (fix_time AT TIME ZONE 'UTC')::date, 1, 0 FROM ({rows}) AS changed
    WHERE fix_time < date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    ON CONFLICT (device_id, day) DO UPDATE SET version = reports_trackday.version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER reports_trackday_{event} AFTER {EVENT} ON tracking_position
    REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION reports_trackday_{event}();
"""
PG_VARIANTS = {
    "insert": ("NEW TABLE AS changed_new", "SELECT device_id, fix_time FROM changed_new"),
    "delete": ("OLD TABLE AS changed_old", "SELECT device_id, fix_time FROM changed_old"),
    "update": (
        "OLD TABLE AS changed_old NEW TABLE AS changed_new",
        "SELECT device_id, fix_time FROM changed_new UNION ALL SELECT device_id, fix_time FROM changed_old",
    ),
}
# The archive compresses its columns itself: PostgreSQL should store them as they are, out of line.
PG_FORWARD = "ALTER TABLE reports_trackday ALTER COLUMN data SET STORAGE EXTERNAL;" + "".join(
    _PG_VARIANT.format(event=event, EVENT=event.upper(), referencing=referencing, rows=rows)
    for event, (referencing, rows) in PG_VARIANTS.items()
)
PG_BACKWARD = "".join(
    f"DROP TRIGGER IF EXISTS reports_trackday_{event} ON tracking_position; "
    f"DROP FUNCTION IF EXISTS reports_trackday_{event}();"
    for event in PG_VARIANTS
)

# SQLite stores fix_time as "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC and a date as "YYYY-MM-DD".
_SQLITE_TOUCH = (
    "INSERT INTO reports_trackday (device_id, day, version, count) "
    "VALUES ({row}.device_id, date({row}.fix_time), 1, 0) "
    "ON CONFLICT (device_id, day) DO UPDATE SET version = version + 1;"
)
SQLITE_FORWARD = [
    f"CREATE TRIGGER reports_trackday_{event}_{row.lower()} AFTER {event.upper()} ON tracking_position "
    f"WHEN {row}.fix_time < date('now') BEGIN {_SQLITE_TOUCH.format(row=row)} END"
    for event, row in (("insert", "NEW"), ("delete", "OLD"), ("update", "OLD"), ("update", "NEW"))
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS reports_trackday_{event}_{row}"
    for event, row in (("insert", "new"), ("delete", "old"), ("update", "old"), ("update", "new"))
]


STATEMENTS = {  # (forward, backward) per database
    "postgresql": ([PG_FORWARD], [PG_BACKWARD]),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def statements(direction: int):
    def run(apps, schema_editor) -> None:
        for statement in STATEMENTS.get(schema_editor.connection.vendor, ([], []))[direction]:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("tracking", "0003_partition_positions"),
    ]

    operations = [
        migrations.CreateModel(
            name="TrackDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("version", models.IntegerField(default=0)),
                ("built_version", models.IntegerField(blank=True, null=True)),
                ("count", models.IntegerField(default=0)),
                ("data", models.BinaryField(blank=True, null=True)),
                (
                    "device",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tracking.device",
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("device", "day"), name="reports_trackday_device_day")],
            },
        ),
        migrations.RunPython(statements(0), statements(1)),
    ]
