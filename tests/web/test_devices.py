"""The device list (search, filters, sort, pages, local times) and a device's page (history by range, reports)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from fleet.tracking.models import Device, DeviceGroup
from fleet.web import devices as page
from tests.conftest import T0, make_account, make_device, make_position

URL = reverse("device-list")


def names(response) -> list[str]:
    return [d.name for d in response.context["page"]]


def fix(device: Device, ago: timedelta | None, speed: float = 0.0, ignition: bool | None = None) -> Device:
    """Give the device a last fix ``ago`` before now (None: no fix)."""
    device.last_fix_time = None if ago is None else datetime.now(UTC) - ago
    device.last_latitude, device.last_longitude = (None, None) if ago is None else (60.17, 24.94)
    device.last_speed = speed
    device.last_attributes = {} if ignition is None else {"ignition": ignition}
    device.save()
    return device


@pytest.fixture
def fleet_a(org_a):
    """Four devices of two vendors and two groups, one in each state the list can tell."""
    datatrak, metrotec = make_account(org_a, "dt"), make_account(org_a, "mt", kind="metrotec")
    north = DeviceGroup.objects.create(organization=org_a, name="North")
    south = DeviceGroup.objects.create(organization=org_a, name="South")
    return {
        "moving": fix(make_device(org_a, "Alpha", datatrak, group=north, plate="ABC-123"), timedelta(minutes=1), 50),
        "idle": fix(make_device(org_a, "Bravo", datatrak, group=south), timedelta(minutes=2), 0, True),
        "stale": fix(make_device(org_a, "Charlie", metrotec, group=north, vendor_id="XYZ-9"), timedelta(hours=3)),
        "nofix": fix(make_device(org_a, "Delta", metrotec), None),
        "north": north,
    }


def test_the_list_shows_every_device_of_the_users_organisations_only(client, user_a, fleet_a, world_b):
    client.force_login(user_a)
    response = client.get(URL)
    assert names(response) == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert world_b["device"].name not in response.content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"q": "abc-1"}, ["Alpha"]),  # plate
        ({"q": "xyz"}, ["Charlie"]),  # vendor id
        ({"q": "bra"}, ["Bravo"]),  # name
        ({"vendor": "metrotec"}, ["Charlie", "Delta"]),
        ({"state": "moving"}, ["Alpha"]),
        ({"state": "idle"}, ["Bravo"]),
        ({"state": "stale"}, ["Charlie"]),
        ({"state": "nofix"}, ["Delta"]),
        ({"state": "stopped"}, []),
    ],
)
def test_the_list_searches_and_filters(client, user_a, fleet_a, query, expected):
    client.force_login(user_a)
    assert names(client.get(URL, query)) == expected


def test_the_list_filters_by_group(client, user_a, fleet_a):
    client.force_login(user_a)
    assert names(client.get(URL, {"group": fleet_a["north"].pk})) == ["Alpha", "Charlie"]


def test_a_device_stopped_with_ignition_off_is_stopped(client, user_a, fleet_a):
    fix(fleet_a["idle"], timedelta(minutes=2), 0, False)
    client.force_login(user_a)
    assert names(client.get(URL, {"state": "stopped"})) == ["Bravo"]


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("name", ["Alpha", "Bravo", "Charlie", "Delta"]),
        ("-name", ["Delta", "Charlie", "Bravo", "Alpha"]),
        ("last_fix", ["Alpha", "Bravo", "Charlie", "Delta"]),  # newest first, never-fixed last
        ("-last_fix", ["Delta", "Charlie", "Bravo", "Alpha"]),
        ("vendor", ["Alpha", "Bravo", "Charlie", "Delta"]),  # datatrak before metrotec
        ("state", ["Alpha", "Bravo", "Charlie", "Delta"]),  # moving, idle, stale, nofix
    ],
)
def test_the_list_sorts(client, user_a, fleet_a, sort, expected):
    client.force_login(user_a)
    assert names(client.get(URL, {"sort": sort})) == expected


def test_another_organisations_group_and_bad_values_are_ignored_with_a_message(client, user_a, fleet_a, world_b):
    client.force_login(user_a)
    bad = {"group": world_b["devicegroup"].pk, "state": "flying", "sort": "colour", "vendor": "nope", "page": "x"}
    response = client.get(URL, bad)
    assert response.status_code == 200
    assert names(response) == ["Alpha", "Bravo", "Charlie", "Delta"]
    shown = [str(m) for m in response.context["messages"]]
    assert len([m for m in shown if m.startswith("Ignored")]) == 4
    assert any("no page x" in m for m in shown)


def test_the_list_pages(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(page, "PER_PAGE", 2)
    for n in range(5):
        make_device(org_a, f"Van {n}")
    client.force_login(user_a)
    first = client.get(URL)
    assert names(first) == ["Van 0", "Van 1"] and "page=2" in first.content.decode()
    assert names(client.get(URL, {"page": 3})) == ["Van 4"]
    assert names(client.get(URL, {"page": 99})) == ["Van 4"]  # the last page, with a message


def test_the_list_shows_times_in_the_organisations_time_zone(client, user_a, org_a):
    org_a.timezone = "Europe/Helsinki"
    org_a.save()
    device = make_device(org_a, "Van")
    Device.objects.filter(pk=device.pk).update(last_fix_time=datetime(2026, 7, 1, 9, 30, tzinfo=UTC))
    client.force_login(user_a)
    body = client.get(URL).content.decode()
    assert "2026-07-01 12:30:00" in body and "(Europe/Helsinki)" in body  # UTC+3 in summer


def detail(device, **query) -> str:
    return reverse("device-detail", args=[device.pk]) + ("?" + "&".join(f"{k}={v}" for k, v in query.items()))


def test_the_device_page_pages_through_a_range_newest_first(client, user_a, org_a, monkeypatch):
    monkeypatch.setattr(page, "HISTORY_PAGE", 3)
    device = make_device(org_a, "Van")
    for minute in range(7):
        make_position(device, minutes=minute)
    client.force_login(user_a)
    # 8:00 to 8:05 UTC, so the fix at 8:06 is outside; naive times are in the organisation's zone (UTC here)
    response = client.get(detail(device, **{"from": "2026-11-20T08:00", "to": "2026-11-20T08:05:30"}))
    times = [row[0] for row in response.context["history"].rows]
    assert times == [T0 + timedelta(minutes=m) for m in (5, 4, 3)]
    older = response.context["older_query"]
    second = client.get(reverse("device-detail", args=[device.pk]) + "?" + older)
    assert [row[0] for row in second.context["history"].rows] == [T0 + timedelta(minutes=m) for m in (2, 1, 0)]
    assert second.context["older_query"] == ""


def test_the_device_page_shows_its_times_in_the_organisations_zone(client, user_a, org_a):
    org_a.timezone = "Europe/Helsinki"
    org_a.save()
    device = make_device(org_a, "Van")
    make_position(device)  # 08:00 UTC = 10:00 in Helsinki in November
    client.force_login(user_a)
    body = client.get(detail(device, **{"from": "2026-11-20T09:00", "to": "2026-11-20T11:00"})).content.decode()
    assert "2026-11-20 10:00:00" in body


def test_the_device_page_links_to_every_report_of_the_device_for_the_ranges_days(client, user_a, world_a):
    device = world_a["device"]
    client.force_login(user_a)
    response = client.get(detail(device, **{"from": "2026-11-19T22:00", "to": "2026-11-20T10:00"}))
    links = dict(response.context["reports"])
    assert set(links) >= {"Trips", "Stops", "Summary", "Events", "Route", "Visits", "Tasks", "Charts", "Replay"}
    assert f"device={device.pk}" in links["Trips"] and "start=2026-11-19" in links["Trips"]
    assert "end=2026-11-20" in links["Trips"]
    trips = client.get(links["Trips"])  # the report opens on the device
    assert trips.status_code == 200 and trips.context["form"].cleaned_data["devices"] == [device]


def test_a_bad_range_on_the_device_page_is_a_message_not_an_error(client, user_a, world_a):
    client.force_login(user_a)
    for query in ({"from": "soon"}, {"from": "2026-11-20T10:00", "to": "2026-11-20T09:00"}, {"before": "x"}):
        response = client.get(detail(world_a["device"], **query))
        assert response.status_code == 200
        assert any("Ignored" in str(m) or "could not be used" in str(m) for m in response.context["messages"])


def test_another_organisations_device_page_is_404(client, user_a, world_a, world_b):
    client.force_login(user_a)
    assert client.get(reverse("device-detail", args=[world_b["device"].pk])).status_code == 404


def test_the_card_and_the_device_page_say_where_the_device_is(client, user_a, org_a, org_b):
    from django.contrib.gis.geos import Polygon

    from fleet.geo.models import Geofence

    van = fix(make_device(org_a, "Van"), timedelta(minutes=1))
    Geofence.objects.create(
        organization=org_a, name="<i>Yard</i>", geometry=Polygon.from_bbox((24.93, 60.16, 24.95, 60.18))
    )
    Geofence.objects.create(
        organization=org_b, name="B yard", geometry=Polygon.from_bbox((24.939, 60.169, 24.941, 60.171))
    )
    client.force_login(user_a)
    answer = client.get(reverse("device-address", args=[van.pk]))
    assert answer.json() == {"device": van.pk, "lat": 60.17, "lon": 24.94, "address": "Inside <i>Yard</i>"}
    body = client.get(reverse("device-detail", args=[van.pk])).content.decode()
    assert "60.17000, 24.94000 · Inside &lt;i&gt;Yard&lt;/i&gt;" in body
    never = fix(make_device(org_a, "Never"), None)
    assert client.get(reverse("device-address", args=[never.pk])).json()["address"] == ""
    other = fix(make_device(org_b, "B van"), timedelta(minutes=1))
    assert client.get(reverse("device-address", args=[other.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("device-address", args=[van.pk])).status_code == 302
