"""The map pages and their JSON views: org scoping, ranges, stops."""

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse

from fleet.dispatch.models import Task
from fleet.reports import periods
from fleet.reports.engine import Params
from fleet.tracking.models import Beacon, Position
from fleet.web import track
from tests.conftest import T0, make_position


def track_url(device, **params) -> str:
    url = reverse("device-track", args=[device.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


AROUND_T0 = {"from": "2026-11-20T07:00:00Z", "to": "2026-11-20T10:00:00Z"}


@pytest.mark.parametrize("name", ["live-layers"])
def test_json_views_redirect_to_login_when_signed_out(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_home_page_is_the_live_map(client, user_a, world_a):
    client.force_login(user_a)
    body = client.get(reverse("home")).content.decode()
    assert 'id="map"' in body and "js/map.js" in body and 'id="map-page"' in body
    assert reverse("device-list") in body  # the page without JavaScript is one click away


def test_the_map_page_takes_its_tiles_from_the_leaflet_settings(client, user_a, settings):
    tiles = [("Local", "http://tiles.local/{z}/{x}/{y}.png", {})]
    settings.LEAFLET_CONFIG = {**settings.LEAFLET_CONFIG, "TILES": tiles}
    client.force_login(user_a)
    page = client.get(reverse("home")).context["page"]
    assert page["tiles"] == [{"name": "Local", "url": "http://tiles.local/{z}/{x}/{y}.png"}]


def test_a_track_has_the_devices_positions_in_the_range(client, user_a, world_a):
    device = world_a["device"]
    for minute in (1, 2, 3):
        make_position(device, minutes=minute, speed=30.0, attributes={"ignition": True})
    client.force_login(user_a)
    data = client.get(track_url(device, **AROUND_T0)).json()
    assert data["device"] == device.pk
    assert [p[0] for p in data["positions"]] == [(T0 + timedelta(minutes=m)).timestamp() for m in (0, 1, 2, 3)]
    assert data["positions"][1][3:] == [30.0, None, True, True]


def test_another_orgs_track_is_404(client, user_a, world_a, world_b):
    client.force_login(user_a)
    assert client.get(track_url(world_a["device"])).status_code == 200
    assert client.get(track_url(world_b["device"])).status_code == 404
    assert client.get(reverse("device-replay", args=[world_b["device"].pk])).status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "yesterday"}, "The start is not a date and time that exists."),
        ({"from": "2026-11-20T10:00:00Z", "to": "2026-02-30T09:00:00Z"}, "The end is not a date and time that exists."),
        ({"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T09:00:00Z"}, "The start must be before the end."),
        ({"from": "2026-09-01T10:00:00Z", "to": "2026-11-20T09:00:00Z"}, "Choose at most 31 days at a time."),
        (
            {"from": "1990-01-01T10:00:00Z", "to": "1990-01-02T09:00:00Z"},
            "Choose times between the years 2000 and 2100.",
        ),
        ({"preset": "fortnight"}, "Choose a range: the last hour, today, yesterday or your own start and end times."),
        ({"preset": "custom"}, "Choose a start and an end time."),
    ],
)
def test_a_bad_track_range_is_a_400_saying_what_is_wrong_in_plain_words(client, user_a, world_a, query, message):
    client.force_login(user_a)
    response = client.get(track_url(world_a["device"], **query))
    assert response.status_code == 400 and response.json() == {"error": message}


def test_naive_times_are_in_the_organisations_time_zone(org_a):
    org_a.timezone = "Europe/Helsinki"
    span = periods.parse_range({"from": "2026-11-20T10:00", "to": "2026-11-20T11:00"}, org_a.timezone)
    assert span.start == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_presets_are_days_in_the_organisations_time_zone():
    span = periods.parse_range({"preset": "yesterday"}, "Europe/Helsinki")
    assert span.end - span.start == timedelta(days=1)
    assert span.start.astimezone(ZoneInfo("Europe/Helsinki")).hour == 0
    assert periods.parse_range({"preset": "fortnight"}) is None


def drive_park_drive() -> list:
    """10 min driving east at 36 km/h (600 m a minute), 10 min parked, 10 min driving on; one fix a minute."""
    rows, lon = [], 24.0
    step = 600 / (111_320 * math.cos(math.radians(60.0)))  # 600 m of longitude at 60° N
    for minute in range(31):
        moving = minute < 10 or minute >= 20
        rows.append([minute * 60.0, 60.0, lon, 36.0 if moving else 0.0, 90.0, True, moving])
        lon += step if moving else 0.0
    return rows


def test_stops_come_from_the_reports_engine_with_the_organisations_parameters():
    rows = drive_park_drive()
    span = periods.Range(datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(1800, UTC))
    stops = track.stops(rows, Params(), span)
    assert len(stops) == 1  # the park between the two trips; 10 minutes >= the 5-minute minimal parking
    assert (stops[0]["start"], stops[0]["end"], stops[0]["first"], stops[0]["last"]) == (600.0, 1200.0, 10, 20)
    assert track.stops(rows, Params(min_parking_duration_s=900), span) == []  # now a halt inside one trip


def test_a_stop_without_a_valid_fix_is_not_marked():
    rows = [[i * 60.0, 60.0, 24.0, 0.0, None, False, None] for i in range(10)]
    span = periods.Range(datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(600, UTC))
    assert track.stops(rows, Params(), span) == []


def test_the_track_view_returns_stops(client, user_a, world_a):
    device = world_a["device"]
    Position.objects.filter(device=device).delete()
    for t, lat, lon, speed, course, _valid, ignition in drive_park_drive():
        make_position(
            device,
            minutes=t / 60,
            latitude=lat,
            longitude=lon,
            speed=speed,
            course=course,
            attributes={"ignition": ignition},
        )
    client.force_login(user_a)
    data = client.get(track_url(device, **AROUND_T0)).json()
    assert len(data["stops"]) == 1 and data["stops"][0]["duration_s"] == 600.0


def test_layers_contain_only_the_users_organisations_objects(client, user_a, world_a, world_b):
    for world in (world_a, world_b):
        Beacon.objects.filter(pk=world["beacon"].pk).update(point=Point(24.95, 60.17))
    client.force_login(user_a)
    data = client.get(reverse("live-layers")).json()
    org = world_a["organization"].pk
    for name in ("geofences", "pois", "tasks", "beacons"):
        features = data[name]["features"]
        assert features, name
        assert {f["properties"]["org"] for f in features} == {org}, name
    names = {f["properties"]["name"] for f in data["geofences"]["features"]}
    assert names == {"a depot", "a road"}


def test_layers_describe_circles_and_corridors_with_their_size(client, user_a, world_a):
    client.force_login(user_a)
    data = client.get(reverse("live-layers")).json()
    road = next(f for f in data["geofences"]["features"] if f["properties"]["name"] == "a road")
    assert road["geometry"]["type"] == "LineString" and road["properties"]["width_m"] == 30
    assert road["properties"]["colour"] == "#3388ff"  # each shape in its own colour on the live map
    assert data["pois"]["features"][0]["properties"]["colour"] == "#e4572e"
    task = data["tasks"]["features"][0]
    assert task["geometry"]["coordinates"] == [24.95, 60.17]
    assert task["properties"]["device"] == world_a["device"].pk and task["properties"]["status"] == "created"


def test_old_closed_tasks_are_left_off_the_map(client, user_a, world_a):
    Task.objects.filter(pk=world_a["task"].pk).update(status="completed", updated=T0 - timedelta(days=3))
    client.force_login(user_a)
    assert client.get(reverse("live-layers")).json()["tasks"]["features"] == []


def test_a_superuser_sees_every_organisations_layers(client, superuser, world_a, world_b):
    client.force_login(superuser)
    data = client.get(reverse("live-layers")).json()
    assert len(data["geofences"]["features"]) == 4
