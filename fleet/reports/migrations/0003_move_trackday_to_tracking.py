"""The closed-day archive moves to the tracking app (it is part of the positions store): its triggers are
dropped here and the table renamed to tracking_trackday; tracking.0004 takes the model over and puts the
triggers back under their new names."""

from importlib import import_module

from django.db import migrations

archive = import_module("fleet.reports.migrations.0002_track_day_archive")


def run(direction: int):
    def statements(apps, schema_editor) -> None:
        for statement in archive.STATEMENTS.get(schema_editor.connection.vendor, ([], []))[direction]:
            schema_editor.execute(statement)

    return statements


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_track_day_archive")]

    operations = [
        migrations.RunPython(run(1), run(0)),  # forward: drop the old triggers; backward: create them again
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.AlterModelTable("trackday", "tracking_trackday")],
            state_operations=[migrations.DeleteModel("TrackDay")],
        ),
    ]
