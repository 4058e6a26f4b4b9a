from celery import shared_task


@shared_task(time_limit=120, soft_time_limit=100)
def send_emails(notification_ids: list[int]) -> dict:
    """Send the e-mail notices (one message each); a failure is kept on the notice, not retried forever."""
    from django.core.mail import send_mail

    from fleet.events.models import Notification
    from fleet.events.notify import describe

    sent = failed = 0
    for notice in Notification.objects.filter(pk__in=notification_ids, channel="email").select_related("rule", "event"):
        text = describe(notice.event) if notice.event else f"Test notice of the rule “{notice.rule.name}”."
        try:
            send_mail(f"[fleet] {notice.rule.name}", text + "\n", None, [notice.recipient])
        except Exception as exc:  # SMTP refused, unreachable...: said on the rule page
            notice.status, notice.error = Notification.Status.FAILED, str(exc)[:500]
            notice.save(update_fields=["status", "error"])
            failed += 1
        else:
            sent += 1
    return {"sent": sent, "failed": failed}


@shared_task(time_limit=60, soft_time_limit=50)
def report_offline() -> dict:
    """Beat: a deviceOffline event for every device silent past its organisation's stale time (once per silence)."""
    from fleet.events.offline import report_offline as run

    return {"offline": run()}


@shared_task(time_limit=60, soft_time_limit=50)
def check_tasks() -> dict:
    """Beat: tasks whose vehicle stayed at the destination are in progress; tasks not reached in time are late."""
    from fleet.events.progress import check

    return check()


@shared_task(time_limit=120, soft_time_limit=100)
def check_maintenance() -> dict:
    """Beat: a maintenanceDue event for every vehicle whose service is overdue (once per service cycle)."""
    from fleet.events.maintenance import check

    return {"due": check()}
