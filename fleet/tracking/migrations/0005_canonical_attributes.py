"""Positions stored before ingest coerced attributes get their canonical types (``fleet.tracking.attributes``):
flags as booleans, numbers as finite numbers, temperatures as a list of numbers, non-finite values dropped.
Only rows that need it are read (a filter per database on the attributes' JSON types) and rewritten."""

from django.db import migrations

from fleet.tracking.attributes import FLAGS, NUMBERS, canonical

CHUNK = 5000


def _pg_where() -> str:
    flags = [f"jsonb_typeof(attributes->'{k}') NOT IN ('boolean', 'null')" for k in sorted(FLAGS)]
    numbers = [f"jsonb_typeof(attributes->'{k}') NOT IN ('number', 'null')" for k in sorted(NUMBERS)]
    temperatures = (
        "jsonb_typeof(attributes->'temperatures') <> 'array' OR EXISTS (SELECT 1 FROM jsonb_array_elements("
        "CASE jsonb_typeof(attributes->'temperatures') WHEN 'array' THEN attributes->'temperatures' END) AS e "
        "WHERE jsonb_typeof(e) <> 'number')"
    )
    return " OR ".join([*flags, *numbers, temperatures, "jsonb_typeof(attributes) <> 'object'"])


def _sqlite_where() -> str:
    flags = [f"json_type(attributes, '$.{k}') NOT IN ('true', 'false', 'null')" for k in sorted(FLAGS)]
    numbers = [f"json_type(attributes, '$.{k}') NOT IN ('integer', 'real', 'null')" for k in sorted(NUMBERS)]
    temperatures = (
        "json_type(attributes, '$.temperatures') <> 'array' OR EXISTS (SELECT 1 FROM json_each(attributes, "
        "'$.temperatures') AS e WHERE e.type NOT IN ('integer', 'real'))"
    )
    return " OR ".join([*flags, *numbers, temperatures, "json_type(attributes) <> 'object'"])


def coerce(apps, schema_editor) -> None:
    connection = schema_editor.connection
    where = _pg_where() if connection.vendor == "postgresql" else _sqlite_where()
    Position = apps.get_model("tracking", "Position")
    table = Position._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE {where}")  # noqa: S608 - no outside input
        ids = [row[0] for row in cursor.fetchall()]
    for start in range(0, len(ids), CHUNK):
        rows = Position.objects.filter(id__in=ids[start : start + CHUNK]).only("id", "fix_time", "attributes")
        changed = []
        for position in rows:
            attributes = canonical(position.attributes)
            if attributes != position.attributes:
                position.attributes = attributes
                changed.append(position)
        Position.objects.bulk_update(changed, ["attributes"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0004_trackday")]

    operations = [migrations.RunPython(coerce, migrations.RunPython.noop)]
