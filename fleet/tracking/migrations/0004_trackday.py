"""The closed-day archive (``fleet.tracking.store.archive``), moved here from the reports app (reports.0003
renamed its table), and the triggers that keep it honest: every insert, update or delete of a position dated
before the current UTC day raises that (device, day)'s ``version``, so an archived day (or a cached report)
built from an older version is never used again.

PostgreSQL: statement-level triggers with transition tables (one statement per ingest batch, whatever its
size; a batch of live fixes, all dated today, finds nothing to do). SQLite: row-level triggers whose WHEN
clause skips today's fixes.
"""

from django.db import migrations, models

TABLE = "tracking_trackday"

# The current UTC day comes from the database's clock at the statement (clock_timestamp, not now(): a long
# transaction's start time would date a late fix into "today").
_PG_VARIANT = """
CREATE FUNCTION {table}_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {table} (device_id, day, version, count)
    SELECT DISTINCT device_id, (fix_time AT TIME ZONE 'UTC')::date, 1, 0 FROM ({rows}) AS changed
    WHERE fix_time < date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    ON CONFLICT (device_id, day) DO UPDATE SET version = {table}.version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_{event} AFTER {EVENT} ON tracking_position
    REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {table}_{event}();
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
PG_FORWARD = [
    f"ALTER TABLE {TABLE} RENAME CONSTRAINT reports_trackday_device_day TO {TABLE}_device_day",
    f"ALTER TABLE {TABLE} ALTER COLUMN data SET STORAGE EXTERNAL",
    *(
        _PG_VARIANT.format(table=TABLE, event=event, EVENT=event.upper(), referencing=referencing, rows=rows)
        for event, (referencing, rows) in PG_VARIANTS.items()
    ),
]
PG_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS {TABLE}_{event} ON tracking_position; DROP FUNCTION IF EXISTS {TABLE}_{event}();"
        for event in PG_VARIANTS
    ),
    f"ALTER TABLE {TABLE} RENAME CONSTRAINT {TABLE}_device_day TO reports_trackday_device_day",
]

# SQLite stores fix_time as "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC and a date as "YYYY-MM-DD".
_SQLITE_TOUCH = (
    f"INSERT INTO {TABLE} (device_id, day, version, count) "
    "VALUES ({row}.device_id, date({row}.fix_time), 1, 0) "
    "ON CONFLICT (device_id, day) DO UPDATE SET version = version + 1;"
)
_SQLITE_TRIGGERS = (("insert", "NEW"), ("delete", "OLD"), ("update", "OLD"), ("update", "NEW"))
SQLITE_FORWARD = [
    f"CREATE TRIGGER {TABLE}_{event}_{row.lower()} AFTER {event.upper()} ON tracking_position "
    f"WHEN {row}.fix_time < date('now') BEGIN {_SQLITE_TOUCH.format(row=row)} END"
    for event, row in _SQLITE_TRIGGERS
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS {TABLE}_{event}_{row.lower()}" for event, row in _SQLITE_TRIGGERS]

STATEMENTS = {  # (forward, backward) per database
    "postgresql": (PG_FORWARD, PG_BACKWARD),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def run(direction: int):
    def statements(apps, schema_editor) -> None:
        for statement in STATEMENTS.get(schema_editor.connection.vendor, ([], []))[direction]:
            schema_editor.execute(statement)

    return statements


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0003_partition_positions"),
        ("reports", "0003_move_trackday_to_tracking"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TrackDay",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
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
                        "constraints": [
                            models.UniqueConstraint(fields=("device", "day"), name="tracking_trackday_device_day")
                        ],
                    },
                ),
            ]
        ),
        migrations.RunPython(run(0), run(1)),
    ]
