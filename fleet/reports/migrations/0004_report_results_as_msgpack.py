"""Background jobs' results are stored in fleet.reports.serial's format now, no longer pickled: a finished job
stored the old way is marked failed with a message to run it again (jobs are pruned after a week anyway)."""

from django.db import migrations

MESSAGE = "This report was stored in an older format: run it again."


def forget_pickles(apps, schema_editor) -> None:
    ReportJob = apps.get_model("reports", "ReportJob")
    for job in ReportJob.objects.exclude(result=None).only("pk", "result").iterator():
        if not bytes(job.result).startswith(b"FRS"):
            ReportJob.objects.filter(pk=job.pk).update(result=None, status="failed", error=MESSAGE)


class Migration(migrations.Migration):
    dependencies = [("reports", "0003_move_trackday_to_tracking")]

    operations = [migrations.RunPython(forget_pickles, migrations.RunPython.noop)]
