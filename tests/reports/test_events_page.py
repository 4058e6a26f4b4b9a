"""The Events report page: plain-words types, newest first, pages of rows from the server, its filters, and
exports with the same words and every row."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from fleet.tracking.models import Event
from tests.conftest import make_device
from tests.reports.conftest import cell_texts

DAY = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20"}
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PER_PAGE = 100


def url(name: str, *args, **params) -> str:
    return f"{reverse(name, args=args)}?{urlencode({**DAY, **params})}"


@pytest.fixture
def many(world_a):
    """250 events of org A's van in a minute each, newest at 12:00 UTC; every fifth a vendor's own type."""
    org, van = world_a["organization"], world_a["device"]
    kinds = ["deviceMoving", "deviceStopped", "ignitionOn", "ignitionOff", "hardBraking"]
    Event.objects.filter(device=van).delete()  # the fixture's own
    Event.objects.bulk_create(
        Event(organization=org, device=van, time=NOON - timedelta(minutes=k), type=kinds[k % 5]) for k in range(250)
    )
    return world_a


def rows_of(response) -> list[list[str]]:
    [table] = response.context["tables"]
    return [cell_texts(row) for row in table["rows"]]


def test_the_page_shows_a_page_of_the_newest_events_in_plain_words(alice, many):
    response = alice.get(url("reports:report", "events"))
    body = response.content.decode()
    rows = rows_of(response)
    assert response.status_code == 200 and len(rows) == PER_PAGE
    assert [r[2] for r in rows[:5]] == ["Started moving", "Stopped", "Ignition on", "Ignition off", "hardBraking"]
    assert rows[0][0].startswith("2026-11-20 12:00") and rows[-1][0].startswith("2026-11-20 10:21")
    assert body.count("<tr><td>") == PER_PAGE and "deviceMoving</td>" not in body
    assert "Rows 1–100 of 250 · page 1 of 3" in body and 'rel="prev"' not in body


def test_the_next_pages_carry_on_older_and_keep_the_query(alice, many):
    first = alice.get(url("reports:report", "events"))
    following = re.search(r'href="([^"]+)" rel="next"', first.content.decode()).group(1).replace("&amp;", "&")
    assert "preset=custom" in following and "page=2" in following
    second = alice.get(reverse("reports:report", args=["events"]) + following)
    assert rows_of(second)[0][0].startswith("2026-11-20 10:20") and "Rows 101–200 of 250" in second.content.decode()
    last = alice.get(url("reports:report", "events", page=99))  # past the end: the last page
    assert len(rows_of(last)) == 50 and 'rel="next"' not in last.content.decode()
    for junk in ("x", "²", "-1", "0", "9" * 30):  # not a page number: the first page
        assert len(rows_of(alice.get(url("reports:report", "events", page=junk)))) == PER_PAGE, junk


def test_the_type_filter_offers_plain_words_and_keeps_a_vendors_own_type(alice, many):
    body = alice.get(url("reports:report", "events", type="hardBraking")).content.decode()
    assert '<option value="deviceMoving">Started moving</option>' in body
    assert '<option value="hardBraking" selected>hardBraking</option>' in body
    assert "Rows 1–50 of 50" not in body  # fewer than a page: no pager
    response = alice.get(url("reports:report", "events", type="hardBraking"))
    assert {r[2] for r in rows_of(response)} == {"hardBraking"} and len(rows_of(response)) == 50


def test_the_device_filter_keeps_to_that_device(alice, many):
    other = make_device(many["organization"], "Van 2")
    Event.objects.create(organization=other.organization, device=other, time=NOON, type="alarm")
    rows = rows_of(alice.get(url("reports:report", "events", device=other.pk)))
    assert rows == [[rows[0][0], "Van 2", "Alarm", "", "", "", ""]]  # no fix: no address


def test_the_exports_have_every_row_newest_first_in_the_same_words(alice, many):
    response = alice.get(url("reports:export", "events", "csv", page=2))
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(lines) == 1 + 250
    assert [line[2] for line in lines[1:6]] == [
        "Started moving",
        "Stopped",
        "Ignition on",
        "Ignition off",
        "hardBraking",
    ]
    xlsx = alice.get(url("reports:export", "events", "xlsx"))
    assert xlsx.status_code == 200

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    types = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True) if row[2]]
    assert types[:2] == ["Started moving", "Stopped"] and len(types) == 250


def test_a_background_jobs_events_are_paged_too(client, user_a, many):
    from fleet.reports.kinds import build_report
    from fleet.reports.models import ReportJob

    org = many["organization"]
    report = build_report("events", org, [many["device"]], NOON - timedelta(hours=6), NOON + timedelta(hours=1))
    job = ReportJob.objects.create(organization=org, user=user_a, kind="events", total=1, done=1, status="done")
    job.store_report(report)
    job.save()
    client.force_login(user_a)
    body = client.get(job.get_absolute_url() + "?page=3").content.decode()
    assert "Rows 201–250 of 250 · page 3 of 3" in body and body.count("<tr><td>") == 50
    assert 'href="?page=2" rel="prev"' in body
