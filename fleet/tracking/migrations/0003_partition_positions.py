"""On PostgreSQL, turn the positions table into a table range-partitioned by fix_time.

SpatiaLite keeps the plain table: the model, constraints and queries are the same on both.
"""

from django.conf import settings
from django.db import migrations


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from fleet.tracking import partitions

    schema_editor.execute(partitions.CONVERT_SQL)
    partitions.ensure_partitions(settings.POSITION_PARTITION_DAYS_AHEAD)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0002_initial")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop)]
