"""Report pages: the form, scoping to the user's organisations, ranges, and what the result page shows."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import json_script

from fleet.core.models import Membership
from fleet.reports import periods
from fleet.reports.forms import ReportForm
from fleet.reports.kinds import KINDS
from fleet.reports.tables import DISTANCE, LATLON, LINK, Column, Report, Table, TrackLine, Units
from fleet.reports.views import pages as report_views
from fleet.tracking.models import DeviceGroup, Position
from tests.conftest import make_device
from tests.reports.conftest import cell_texts

KIND_NAMES = list(KINDS)
DAY = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20"}


def page(kind: str, **params) -> str:
    url = reverse("reports:report", args=[kind])
    return f"{url}?{urlencode(params)}" if params else url


def test_table_rows_are_escaped_html_with_place_and_replay_links():
    columns = [
        Column("device", "Device"),
        Column("place", "From", LATLON),
        Column("distance", "Distance", DISTANCE, 2),
        Column("replay", "Replay", LINK),
    ]
    rows = [
        {"device": "<b>Van</b> & co", "place": (60.1, 24.9), "distance": 1500.0, "replay": "/replay/?a=1&b=2"},
        {"device": "Van 2", "place": None, "distance": None, "replay": ""},
    ]
    view = report_views.table_view(Table("trips", "Trips", columns, rows, totals={"distance": 1500.0}), Units())
    assert view["rows"] == [
        "<td>&lt;b&gt;Van&lt;/b&gt; &amp; co</td>"
        '<td><a href="#report-map" class="place" data-lat="60.100000" data-lon="24.900000">60.10000, 24.90000</a></td>'
        '<td class="num">1.50 km</td><td><a href="/replay/?a=1&amp;b=2">Replay</a></td>',
        '<td>Van 2</td><td></td><td class="num"></td><td></td>',
    ]
    assert view["totals"] == '<td>Total</td><td></td><td class="num">1.50 km</td><td></td>'
    html = render_to_string("reports/_table.html", {"t": view})
    assert "<tr><td>&lt;b&gt;Van&lt;/b&gt; &amp; co</td>" in html and "<b>" not in html  # escaped once
    assert '<tfoot><tr><td>Total</td><td></td><td class="num">1.50 km</td><td></td></tr></tfoot>' in html


def test_the_map_thins_lines_evenly_and_keeps_each_lines_ends():
    def line(n: int) -> TrackLine:
        nan = np.full(n, np.nan)
        return TrackLine("a van", 1, np.arange(n, dtype=float), 60 + np.arange(n) / 1000, np.full(n, 25.0), nan, nan)

    moment = datetime(2026, 11, 20, tzinfo=UTC)
    report = Report("trips", "Trips", 1, moment, moment, [1], [], tracks=[line(10), line(5)])
    first, second = report_views.map_tracks(report, budget=5)  # 15 points: every third
    assert first["points"] == [[60.0, 25.0], [60.003, 25.0], [60.006, 25.0], [60.009, 25.0]]
    assert second["points"] == [[60.0, 25.0], [60.003, 25.0], [60.004, 25.0]]  # and the last


def test_the_map_data_script_escapes_as_djangos_json_script_does():
    value = {"tiles": [{"attribution": "&copy; OSM"}], "tracks": [{"name": "</script><b>", "points": [[60.1, 24.9]]}]}
    ours, django = report_views.json_script(value, "report-map-data"), json_script(value, "report-map-data")
    head = '<script id="report-map-data" type="application/json">'
    assert ours.startswith(head) and ours.endswith("</script>")
    inner = ours[len(head) : -len("</script>")]
    assert not {"<", ">", "&"} & set(inner)
    assert json.loads(inner) == json.loads(django[len(head) : -len("</script>")]) == value


@pytest.mark.parametrize("name", ["index", "report", "export"])
def test_pages_redirect_to_login_when_signed_out(client, name):
    args = {"index": [], "report": ["trips"], "export": ["trips", "csv"]}[name]
    response = client.get(reverse(f"reports:{name}", args=args))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_index_lists_every_kind_with_the_form(alice, world_a):
    response = alice.get(reverse("reports:index"))
    body = response.content.decode()
    assert response.status_code == 200
    for kind in KINDS:
        assert f'formaction="{reverse("reports:report", args=[kind])}"' in body
    assert "/reports/charts/" in body and "/reports/utilisation/" in body and "/devices/import/" in body
    assert 'name="device"' in body and "a van" in body
    assert reverse("reports:index") in alice.get(reverse("home")).content.decode()  # the nav links here


def test_other_report_paths_are_left_to_the_other_modules(alice):
    assert alice.get("/reports/nonsense/").status_code == 404
    assert alice.get(reverse("reports:report", args=["trips"]) + "export.pdf").status_code == 404


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("scope", ["device", "group", "all"])
def test_every_kind_renders_for_a_device_a_group_and_all(alice, world_a, world_b, kind, scope):
    params = dict(DAY)
    if scope != "all":
        params[scope] = world_a["device" if scope == "device" else "devicegroup"].pk
    response = alice.get(page(kind, **params))
    body = response.content.decode()
    assert response.status_code == 200, body[:2000]
    assert response.context["report"].kind == kind
    assert response.context["report"].device_ids == [world_a["device"].pk]
    assert "b van" not in body and "b depot" not in body and "b group" not in body


@pytest.mark.parametrize("field", ["device", "group", "geofence"])
def test_another_orgs_id_is_a_form_error_without_its_data(alice, world_a, world_b, field):
    key = {"device": "device", "group": "devicegroup", "geofence": "geofence"}[field]
    response = alice.get(page("events", **DAY, **{field: world_b[key].pk}))
    body = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in body and "report" not in response.context
    assert "b van" not in body and "b depot" not in body and "report-table" not in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"preset": "custom", "start": "2026-13-45", "end": "2026-11-20"}, "Enter a valid date."),
        ({"preset": "custom", "start": "2026-11-20"}, "Give a date for a custom range."),
        ({"preset": "custom", "start": "2026-11-20", "end": "2026-11-19"}, "The end date is before the start date."),
        ({"preset": "custom", "start": "2026-01-01", "end": "2026-04-03"}, "A report covers at most 92 days."),
        ({"preset": "custom", "start": "0001-01-01", "end": "0001-01-02"}, "Give a date between 2000 and 2100."),
        ({"preset": "fortnight"}, "Select a valid choice. fortnight is not one of the available choices."),
        ({"device": "abc"}, "Select a valid choice."),
        ({"split": "hour"}, "Select a valid choice. hour is not one of the available choices."),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(alice, world_a, params, message):
    response = alice.get(page("summary", **params))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "report" not in response.context


def test_92_days_is_the_longest_range(alice, world_a, monkeypatch):
    monkeypatch.setattr(report_views.jobs, "should_run_in_background", lambda *args: False)
    response = alice.get(page("summary", preset="custom", start="2026-01-01", end="2026-04-03"))
    assert "at most 92 days" in response.content.decode()
    response = alice.get(page("summary", preset="custom", start="2026-01-01", end="2026-04-02"))  # 31 + 28 + 31 + 2
    report, zone = response.context["report"], ZoneInfo(world_a["organization"].timezone)
    assert (report.start, report.end) == (datetime(2026, 1, 1, tzinfo=zone), datetime(2026, 4, 3, tzinfo=zone))


def test_the_page_without_a_query_shows_the_form_only(alice, world_a):
    response = alice.get(page("trips"))
    assert response.status_code == 200 and "report" not in response.context
    assert response.context["form"]["preset"].value() == "today"


def test_yesterday_is_the_helsinki_day_before_across_the_spring_dst_change(alice, hel_world, monkeypatch):
    # 2026-03-29 is 23 hours long in Helsinki: clocks go from 03:00 EET to 04:00 EEST.
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 3, 30, 9, 0, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr(periods, "datetime", Frozen)
    device = hel_world["device"]
    Position.objects.create(
        device=device, fix_time=datetime(2026, 3, 28, 21, 59, tzinfo=UTC), latitude=60, longitude=25
    )
    Position.objects.create(device=device, fix_time=datetime(2026, 3, 28, 22, 0, tzinfo=UTC), latitude=60, longitude=25)
    Position.objects.create(
        device=device, fix_time=datetime(2026, 3, 29, 20, 59, tzinfo=UTC), latitude=60, longitude=25
    )
    Position.objects.create(device=device, fix_time=datetime(2026, 3, 29, 21, 0, tzinfo=UTC), latitude=60, longitude=25)

    response = alice.get(page("route", preset="yesterday", device=device.pk))

    report = response.context["report"]
    assert report.start == datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 00:00 EET
    assert report.end == datetime(2026, 3, 29, 21, 0, tzinfo=UTC)  # 00:00 EEST the next day
    assert [r["time"].hour for r in report.tables[0].rows] == [22, 20]
    body = response.content.decode()
    assert "2026-03-29 00:00:00 – 2026-03-30 00:00:00" in body and "Europe/Helsinki" in body
    assert "2026-03-29 23:59:00" in body  # the 20:59 UTC fix in local summer time


def test_trips_page_shows_figures_in_org_units_a_map_and_links(alice, hel_world):
    device = hel_world["device"]
    response = alice.get(page("trips", **DAY, device=device.pk))
    body = response.content.decode()
    (table,) = response.context["tables"]
    first = cell_texts(table["rows"][0])
    assert first[:3] == ["a van", "2026-11-20 10:00:00", "2026-11-20 10:20:00"]  # local times
    assert first[5:7] == ["", ""]  # no geofence, POI, provider or street near the hand-built drive
    assert first[7:11] == ["12.00 km", "0:20:00", "54 km/h", "36 km/h"]
    assert cell_texts(table["totals"])[7:9] == ["27.00 km", "0:50:00"]
    assert 'class="num"' in body and "<tfoot>" in body
    assert f'href="/devices/{device.pk}/replay/?from=2026-11-20T08%3A00%3A00%2B00%3A00' in body
    assert 'class="place" data-lat="60.000000" data-lon="25.000000"' in body
    tracks = response.context["map_page"]["tracks"]
    assert [len(t["points"]) for t in tracks] == [21, 31] and tracks[0]["points"][0] == [60.0, 25.0]
    assert "js/report_map.js" in body and 'id="report-map-data"' in body
    query = response.context["query"]
    for fmt in ("csv", "xlsx", "gpx", "kml"):
        assert f"{reverse('reports:export', args=['trips', fmt])}?{query}".replace("&", "&amp;") in body
    assert f"{reverse('reports:vendor')}?{query.replace('&', '&amp;')}&amp;kind=trips" in body


def test_units_follow_the_organisation(alice, hel_world):
    org = hel_world["organization"]
    org.distance_unit, org.speed_unit = "mi", "mph"
    org.save()
    response = alice.get(page("trips", **DAY))
    first = cell_texts(response.context["tables"][0]["rows"][0])
    assert first[7] == "7.46 mi" and first[9] == "34 mph"  # 12 km = 7.456 mi; 54 km/h = 33.55 mph


def test_stops_and_summary_have_a_vendor_tab_and_events_do_not(alice, hel_world):
    for kind, expected in (("stops", True), ("summary", True), ("events", False), ("route", False)):
        body = alice.get(page(kind, **DAY)).content.decode()
        assert ("As reported by vendor" in body) is expected, kind


def test_stops_page_puts_the_places_on_a_map(alice, hel_world):
    response = alice.get(page("stops", **DAY))
    points = response.context["map_page"]["points"]
    assert len(points) == 3 and points[0] == [60.0, 25.0, "a van"]


def test_a_long_route_shows_the_first_2000_rows_with_a_note(alice, world_a):
    device = world_a["device"]
    start = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    Position.objects.bulk_create(
        Position(device=device, fix_time=start + timedelta(seconds=10 * i), latitude=60, longitude=25)
        for i in range(2001)
    )
    response = alice.get(page("route", **DAY, device=device.pk))
    body = response.content.decode()
    (table,) = response.context["tables"]
    assert table["count"] == 2002 and len(table["rows"]) == 2000  # 2001 + the fixture's position at T0
    assert "Showing the first 2000 of 2002 rows; the downloads have all of them." in body


def test_a_group_includes_its_subgroups(alice, world_a):
    org, parent = world_a["organization"], world_a["devicegroup"]
    child = DeviceGroup.objects.create(organization=org, name="child", parent=parent)
    grandchild = DeviceGroup.objects.create(organization=org, name="grandchild", parent=child)
    deep = make_device(org, "deep van", group=grandchild)
    make_device(org, "loose van")
    form = ReportForm({"group": parent.pk}, user=world_a["membership"].user)
    assert form.is_valid(), form.errors
    assert [d.name for d in form.cleaned_data["devices"]] == ["a van", "deep van"]
    assert form.cleaned_data["scope"] == "a group (2 devices)"
    form = ReportForm({"group": child.pk, "device": world_a["device"].pk}, user=world_a["membership"].user)
    assert not form.is_valid() and "is not in the group child" in str(form.errors)
    assert deep.group == grandchild


def test_the_device_select_lists_the_users_devices_escaped_in_name_order_from_one_query(
    world_a, world_b, django_assert_num_queries
):
    org = world_a["organization"]
    hostile = make_device(org, '<b onmouseover="x">&amp; van</b>')
    twin = make_device(org, "a van")  # the same name as world_a's device: ordered by pk after it
    make_device(world_b["organization"], "b's van")
    form = ReportForm({"device": twin.pk}, user=world_a["membership"].user)
    assert form.is_valid(), form.errors
    with django_assert_num_queries(1):  # the options' (pk, name) rows; no model instances
        html = str(form["device"])
    assert html.startswith('<select id="id_device" name="device">')
    options = html.split("<option ")[1:]
    assert options == [
        'value="">All devices</option>',
        f'value="{hostile.pk}">&lt;b onmouseover=&quot;x&quot;&gt;&amp;amp; van&lt;/b&gt;</option>',
        f'value="{world_a["device"].pk}">a van</option>',
        f'value="{twin.pk}" selected>a van</option></select>',
    ]


def test_a_member_of_two_organisations_chooses_one(client, world_a, world_b):
    user = world_a["membership"].user
    Membership.objects.create(user=user, organization=world_b["organization"])
    client.force_login(user)
    response = client.get(page("trips", preset="today"))
    assert "Choose an organisation." in response.content.decode()
    response = client.get(page("trips", preset="today", organization=world_b["organization"].pk))
    assert response.context["report"].device_ids == [world_b["device"].pk]
    response = client.get(page("trips", preset="today", device=world_b["device"].pk))  # implied by the device
    assert response.context["report"].organization_id == world_b["organization"].pk
    mixed = {"organization": world_a["organization"].pk, "device": world_b["device"].pk}
    response = client.get(page("trips", preset="today", **mixed))
    assert "belongs to another organisation" in response.content.decode()


def test_a_big_report_goes_to_a_background_job(alice, world_a, monkeypatch):
    class Job:
        def get_absolute_url(self):
            return "/reports/jobs/42/"

    asked = []
    big = lambda org, devices, s, e, kind: kind == "summary"  # noqa: E731
    monkeypatch.setattr(report_views.jobs, "should_run_in_background", big)
    monkeypatch.setattr(
        report_views.jobs, "start", lambda user, kind, query: asked.append((kind, query.dict())) or Job()
    )
    response = alice.get(page("summary", **DAY))
    assert response.status_code == 302 and response.url == "/reports/jobs/42/"
    assert asked == [("summary", {**DAY})]


@pytest.mark.parametrize("fmt", [None, "csv"])
def test_a_report_is_built_with_the_garbage_collector_paused(alice, world_a, monkeypatch, fmt):
    """The page and its downloads build the report without the cyclic collector's full passes (a fleet's
    summary met several, a third of the page: fleet/core/gcpause.py); it runs again after."""
    import gc

    from fleet.reports import kinds

    seen = []

    def build(*args, **kwargs):
        seen.append(gc.isenabled())
        return kinds.build_report(*args, **kwargs)

    monkeypatch.setattr(report_views, "build_report", build)
    gc.enable()
    url = page("summary", **DAY)
    if fmt:
        url = reverse("reports:export", args=["summary", fmt]) + "?" + urlencode(DAY)
    response = alice.get(url)
    assert response.status_code == 200
    assert seen == [False]
    assert gc.isenabled()
