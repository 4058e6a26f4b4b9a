"""Scheduled reports: run times across DST, the beat emailing due reports, the page's validation, scoping and roles."""

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.core import mail

from fleet.core.models import Membership
from fleet.reports import schedules
from fleet.reports.models import ScheduledReport
from fleet.reports.tasks import send_scheduled_reports
from tests.conftest import make_user
from tests.reports.test_kinds import HEL

W = ScheduledReport.Frequency


def make_schedule(org, owner, **kw) -> ScheduledReport:
    kw.setdefault("name", "Daily trips")
    kw.setdefault("kind", "trips")
    kw.setdefault("recipients", "boss@example.com\nops@example.com")
    schedule = ScheduledReport(organization=org, owner=owner, **kw)
    schedules.schedule_next(schedule, kw.pop("now", datetime(2026, 11, 20, 12, tzinfo=UTC)))
    schedule.save()
    return schedule


def local(at: datetime) -> datetime:
    return at.astimezone(ZoneInfo(HEL))


@pytest.fixture
def hel(org_a):
    org_a.timezone = HEL
    org_a.save()
    return org_a


# ------------------------------------------------------------------------------------------------- timing


def test_a_daily_report_runs_at_seven_local_on_both_sides_of_the_spring_change(hel, user_a):
    # Helsinki goes from +02:00 to +03:00 at 03:00 local on Sunday 2026-03-29.
    schedule = make_schedule(hel, user_a, hour=7)
    runs, after = [], datetime(2026, 3, 27, 12, tzinfo=UTC)
    for _ in range(4):
        after = schedules.next_run(schedule, after)
        runs.append(after)
    assert [local(r).strftime("%d %H:%M") for r in runs] == ["28 07:00", "29 07:00", "30 07:00", "31 07:00"]
    assert [r.strftime("%H:%M") for r in runs] == ["05:00", "04:00", "04:00", "04:00"]  # UTC moves, local does not


def test_a_daily_report_runs_at_seven_local_on_both_sides_of_the_autumn_change(hel, user_a):
    # Back from +03:00 to +02:00 at 04:00 local on Sunday 2026-10-25.
    schedule = make_schedule(hel, user_a, hour=7)
    first = schedules.next_run(schedule, datetime(2026, 10, 24, 12, tzinfo=UTC))
    second = schedules.next_run(schedule, first)
    assert (first, second) == (datetime(2026, 10, 25, 5, tzinfo=UTC), datetime(2026, 10, 26, 5, tzinfo=UTC))
    assert second - first == timedelta(hours=24) and local(first).hour == local(second).hour == 7


def test_an_hour_that_the_spring_change_skips_runs_once_just_after_the_gap_and_a_repeated_one_once(hel, user_a):
    skipped = make_schedule(hel, user_a, hour=3)  # 03:00-04:00 does not exist on 2026-03-29
    run = schedules.next_run(skipped, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert run == datetime(2026, 3, 29, 1, tzinfo=UTC) and local(run).strftime("%H:%M") == "04:00"
    assert schedules.next_run(skipped, run) == datetime(2026, 3, 30, 0, tzinfo=UTC)  # 03:00 local again
    repeated = make_schedule(hel, user_a, hour=3)  # 03:00-04:00 happens twice on 2026-10-25
    run = schedules.next_run(repeated, datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert run == datetime(2026, 10, 25, 0, tzinfo=UTC)
    assert schedules.next_run(repeated, run) == datetime(2026, 10, 26, 1, tzinfo=UTC)


def test_weekly_and_monthly_reports_run_on_their_day(hel, user_a):
    weekly = make_schedule(hel, user_a, frequency=W.WEEKLY, weekday=0, hour=6)
    run = schedules.next_run(weekly, datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert local(run).strftime("%a %Y-%m-%d %H:%M") == "Mon 2026-11-23 06:00"
    monthly = make_schedule(hel, user_a, frequency=W.MONTHLY, monthday=1, hour=8)
    run = schedules.next_run(monthly, datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert local(run).strftime("%Y-%m-%d %H:%M") == "2026-12-01 08:00"


def test_periods_are_whole_local_days_before_the_run():
    run = datetime(2026, 3, 2, 5, tzinfo=UTC)  # Monday 2 March, 07:00 in Helsinki
    assert schedules.period_dates("yesterday", run, HEL) == (date(2026, 3, 1), date(2026, 3, 1))
    assert schedules.period_dates("last_7_days", run, HEL) == (date(2026, 2, 23), date(2026, 3, 1))
    assert schedules.period_dates("last_week", run, HEL) == (date(2026, 2, 23), date(2026, 3, 1))
    assert schedules.period_dates("last_month", run, HEL) == (date(2026, 2, 1), date(2026, 2, 28))
    # 23:30 UTC on the 1st is already the 2nd in Helsinki
    assert schedules.period_dates("yesterday", datetime(2026, 3, 1, 23, 30, tzinfo=UTC), HEL)[0] == date(2026, 3, 1)


# ------------------------------------------------------------------------------------------------ sending


def test_the_beat_emails_a_due_report_as_xlsx_over_yesterday_and_moves_its_next_run(
    hel_world, user_a, settings, eager_celery
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    van = hel_world["device"]
    schedule = make_schedule(hel_world["organization"], user_a, hour=7, params={"device": [str(van.pk)]})
    assert schedule.next_run_at == datetime(2026, 11, 21, 5, tzinfo=UTC)  # 07:00 on the 21st in Helsinki
    ScheduledReport.objects.filter(pk=schedule.pk).update(next_run_at=datetime(2026, 11, 21, 5, tzinfo=UTC))
    mail.outbox.clear()
    assert schedules.send_due(now=datetime(2026, 11, 20, 12, tzinfo=UTC)) == 0  # not due yet
    late = datetime(2026, 11, 21, 5, 4, tzinfo=UTC)
    assert schedules.send_due(now=late) == 1
    assert schedules.send_due(now=late) == 0  # claimed: sent once
    [message] = mail.outbox
    assert message.to == ["boss@example.com", "ops@example.com"]
    assert "2026-11-20" in message.subject and "Daily trips" in message.subject
    [(filename, content, mimetype)] = message.attachments
    assert filename == f"trips_{van.name.lower().replace(' ', '-')}_2026-11-20.xlsx" and mimetype == schedules.XLSX_TYPE
    book = openpyxl.load_workbook(io.BytesIO(content))
    trips = book.worksheets[0]
    assert trips.max_row - 1 - 1 == 2  # header, the day's two trips, totals
    about = " ".join(str(c.value) for row in book["About"].iter_rows() for c in row if c.value)
    assert "2026-11-20" in about and "2026-11-21" in about
    schedule.refresh_from_db()
    assert schedule.last_error == "" and schedule.last_run_at is not None
    assert schedule.next_run_at == datetime(2026, 11, 22, 5, tzinfo=UTC)


def test_an_html_report_is_a_table_in_the_email_with_vendor_text_escaped(hel_world, user_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    van = hel_world["device"]
    van.name = "<b>Van</b>"
    van.save()
    schedule = make_schedule(hel_world["organization"], user_a, format="html", params={"device": [str(van.pk)]})
    mail.outbox.clear()
    assert schedules.send(schedule, run_at=datetime(2026, 11, 21, 5, tzinfo=UTC))
    [message] = mail.outbox
    assert not message.attachments
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and html.count("<tr>") == 4  # header, two trips, totals
    assert "&lt;b&gt;Van&lt;/b&gt;" in html and "<b>Van" not in html


def test_a_failing_report_records_its_error_and_the_beat_goes_on(
    hel_world, user_a, settings, django_user_model, eager_celery
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = hel_world["organization"]
    broken = make_schedule(org, user_a, name="Broken", params={"device": ["999999"]})
    fine = make_schedule(org, user_a, name="Fine")
    gone = make_schedule(org, make_user(django_user_model, "leaver", org, Membership.Role.VIEWER), name="Viewer's")
    ScheduledReport.objects.update(next_run_at=datetime(2026, 11, 21, 5, tzinfo=UTC))
    mail.outbox.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(schedules.timezone, "now", lambda: datetime(2026, 11, 21, 5, 1, tzinfo=UTC))
        assert send_scheduled_reports() == 3  # each handed to a worker, which records its outcome
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Fine"]
    broken.refresh_from_db(), gone.refresh_from_db(), fine.refresh_from_db()
    assert "no longer valid" in broken.last_error and "Device" in broken.last_error
    assert "no longer an admin or dispatcher" in gone.last_error
    assert fine.last_error == "" and broken.next_run_at == fine.next_run_at == datetime(2026, 11, 22, 5, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------- page


def post_schedule(client, kind="trips", **fields):
    data = {"kind": kind, "name": "Morning trips", "period": "yesterday", "frequency": "daily", "weekday": "0"}
    data |= {"monthday": "1", "hour": "7", "format": "xlsx", "recipients": "boss@example.com", "enabled": "on"}
    return client.post("/reports/scheduled/new/", data | fields)


def test_schedule_this_report_prefills_the_report_and_saves_it_without_its_range(client, world_a, world_b):
    client.force_login(world_a["membership"].user)
    van, group = world_a["device"], world_a["devicegroup"]
    page = client.get(f"/reports/trips/?device={van.pk}&preset=today")
    assert f'href="/reports/scheduled/new/?kind=trips&amp;device={van.pk}&amp;preset=today"' in page.content.decode()
    form = client.get(f"/reports/scheduled/new/?kind=trips&device={van.pk}&preset=today")
    assert form.status_code == 200 and f'<option value="{van.pk}" selected>' in form.content.decode()
    assert 'name="preset"' not in form.content.decode()
    response = post_schedule(client, device=str(van.pk), group=str(group.pk), recipients="a@example.com, b@example.org")
    assert response.status_code == 302
    schedule = ScheduledReport.objects.get()
    assert schedule.params == {"device": [str(van.pk)], "group": [str(group.pk)]}

    assert (
        schedule.recipient_list == ["a@example.com", "b@example.org"] and schedule.owner == world_a["membership"].user
    )
    assert schedule.next_run_at is not None and schedule.organization == world_a["organization"]
    # another organisation's device is an invalid choice, not a schedule
    response = post_schedule(client, device=str(world_b["device"].pk))
    assert response.status_code == 400 and ScheduledReport.objects.count() == 1


@pytest.mark.parametrize(
    "recipients, says",
    [
        ("boss@example.com, not-an-address", "Not an email address: not-an-address."),
        ("", "This field is required."),
        ("a@example.com <script>", "Not an email address: &lt;script&gt;."),
    ],
)
def test_bad_recipients_are_refused_with_a_message(client, user_a, recipients, says):
    client.force_login(user_a)
    response = post_schedule(client, recipients=recipients)
    assert response.status_code == 400 and says in response.content.decode()
    assert not ScheduledReport.objects.exists()


def test_viewers_read_but_do_not_change_and_other_organisations_are_404(
    client, org_a, user_a, world_b, django_user_model, settings, eager_celery
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mine = make_schedule(org_a, user_a, name="Ours")
    theirs = make_schedule(world_b["organization"], world_b["membership"].user, name="Theirs")
    viewer = make_user(django_user_model, "vera", org_a, Membership.Role.VIEWER)
    client.force_login(viewer)
    page = client.get("/reports/scheduled/").content.decode()
    assert "Ours" in page and "Theirs" not in page and "Send now" not in page
    assert client.get(f"/reports/scheduled/{mine.pk}/").status_code == 403
    assert client.post(f"/reports/scheduled/{mine.pk}/send/").status_code == 403
    assert client.post(f"/reports/scheduled/{mine.pk}/delete/").status_code == 403
    assert post_schedule(client).status_code == 403
    client.force_login(user_a)
    for url in (f"/reports/scheduled/{theirs.pk}/", f"/reports/scheduled/{theirs.pk}/send/"):
        assert client.post(url).status_code == 404
    assert client.post(f"/reports/scheduled/{theirs.pk}/delete/").status_code == 404
    assert ScheduledReport.objects.filter(pk=theirs.pk).exists()
    edit = client.get(f"/reports/scheduled/{mine.pk}/")
    assert edit.status_code == 200 and 'value="Ours"' in edit.content.decode()
    paused = post_schedule(client, name="Ours, paused", enabled="").wsgi_request  # a new one, saved disabled
    assert ScheduledReport.objects.get(name="Ours, paused").next_run_at is None and paused.user == user_a
    assert client.post("/reports/scheduled/new/?kind=trips", {"kind": "trips", "hour": "24"}).status_code == 400
    assert client.get("/reports/scheduled/new/?kind=nonsense").status_code == 404
    mail.outbox.clear()
    assert client.post(f"/reports/scheduled/{mine.pk}/send/").status_code == 302
    assert [m.to for m in mail.outbox] == [["boss@example.com", "ops@example.com"]]
    assert client.post(f"/reports/scheduled/{mine.pk}/delete/").status_code == 302
    assert not ScheduledReport.objects.filter(pk=mine.pk).exists()


def test_the_admin_lists_schedules_and_only_pauses_them(client, superuser, org_a, user_a):
    schedule = make_schedule(org_a, user_a, name="In the admin")
    client.force_login(superuser)
    assert "In the admin" in client.get("/admin/reports/scheduledreport/").content.decode()
    page = client.get(f"/admin/reports/scheduledreport/{schedule.pk}/change/")
    assert page.status_code == 200 and 'name="enabled"' in page.content.decode()
    assert 'name="recipients"' not in page.content.decode()
    client.post(f"/admin/reports/scheduledreport/{schedule.pk}/change/", {})  # unticked: paused
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
