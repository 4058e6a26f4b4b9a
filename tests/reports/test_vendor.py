"""The vendor's own reports: parsing Traccar 4.2 report rows, pairing them with ours, and the vendor page against
the Data Trak simulator over real HTTP."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from fleet.reports.tables import Table
from fleet.reports.vendor import NO_ACCOUNT, NO_REPORTS, compare, vendor_reports
from fleet.vendors import sync
from fleet.vendors.datatrak import DataTrakConnector
from fleet.vendors.models import VendorAccount
from fleet.vendors.safectory import SafectoryConnector
from fleet.vendors.traccar import parse_stop_report, parse_summary_report, parse_trip_report
from tests.conftest import make_account, make_device, make_org, make_user
from tests.reports.conftest import cell_texts
from tests.simulators.conftest import login

approx = pytest.approx
EVER = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}


@pytest.fixture(autouse=True)
def fast_http(settings):
    settings.VENDOR_HTTP_TIMEOUT = 2.0
    settings.VENDOR_HTTP_ATTEMPTS = 2
    settings.VENDOR_INITIAL_HISTORY_S = 2 * 3600


def utc(hour, minute=0):
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


# --- parsing: Traccar 4.2 rows -> canonical units -----------------------------------------------------


def test_a_trip_row_is_read_in_kmh_seconds_and_metres():
    row = parse_trip_report(
        {
            "deviceId": 7,
            "deviceName": "Van",
            "distance": 12345.67,
            "averageSpeed": 20.0,
            "maxSpeed": 50.0,
            "spentFuel": 2.5,
            "startOdometer": 1000.0,
            "endOdometer": 13345.67,
            "duration": 1800000,
            "startTime": "2026-11-20T08:00:00.000+0000",
            "endTime": "2026-11-20T08:30:00.000+0000",
            "startLat": 60.1,
            "startLon": 24.9,
            "endLat": 60.2,
            "endLon": 25.0,
            "startAddress": None,
            "endAddress": None,
            "driverUniqueId": "0A1B2C3D4E",
            "driverName": "Aino Virtanen",
            "unknownField": 1,
        }
    )
    assert row["device_id"] == "7" and row["device_name"] == "Van"
    assert (row["start"], row["end"]) == (utc(8), utc(8, 30))
    assert row["duration_s"] == 1800.0
    assert row["distance_m"] == 12345.67
    assert row["average_speed"] == approx(37.04) and row["max_speed"] == approx(92.6)
    assert (row["start_lat"], row["end_lon"], row["spent_fuel_l"], row["driver"]) == (60.1, 25.0, 2.5, "Aino Virtanen")


def test_stop_rows_take_latitude_or_lat_and_engine_hours_in_ms():
    base = {
        "deviceId": 3,
        "deviceName": "Truck",
        "duration": 600500,
        "engineHours": 120000,
        "spentFuel": 0.4,
        "startTime": "2026-11-20T09:00:00.000+0000",
        "endTime": "2026-11-20T09:10:00.500+0000",
    }
    source = parse_stop_report({**base, "latitude": 60.5, "longitude": 25.5})  # what 4.2 sends
    swagger = parse_stop_report({**base, "lat": 60.5, "lon": 25.5})  # what its swagger documents
    assert source == swagger
    assert (source["lat"], source["lon"], source["duration_s"], source["engine_hours_s"]) == (60.5, 25.5, 600.5, 120.0)
    assert source["end"] == utc(9, 10) + timedelta(milliseconds=500)


def test_a_summary_row_is_read_in_kmh_and_seconds():
    row = parse_summary_report(
        {
            "deviceId": 3,
            "deviceName": "Truck",
            "distance": 5000.0,
            "averageSpeed": 10.0,
            "maxSpeed": 40.0,
            "spentFuel": None,
            "startOdometer": 0.0,
            "endOdometer": 5000.0,
            "engineHours": 3600000,
        }
    )
    assert row == {
        "device_id": "3",
        "device_name": "Truck",
        "distance_m": 5000.0,
        "average_speed": approx(18.52),
        "max_speed": approx(74.08),
        "engine_hours_s": 3600.0,
        "spent_fuel_l": None,
    }


def test_data_trak_offers_reports_and_safectory_does_not():
    assert "reports" in DataTrakConnector.capabilities
    assert "reports" not in SafectoryConnector.capabilities


# --- pairing ours with theirs -------------------------------------------------------------------------


def trip(device, start, end, distance):
    return {
        "device": device,
        "start": start,
        "end": end,
        "distance": distance,
        "duration": (end - start).total_seconds(),
    }


def test_trips_pair_by_device_and_overlap_and_big_differences_are_flagged():
    ours = Table(
        "trips",
        "Trips",
        [],
        [
            trip("Van A", utc(8), utc(8, 30), 10_000),
            trip("Van A", utc(9), utc(9, 10), 3000),
            trip("Van B", utc(8), utc(8, 20), 5000),
            trip("Van C", utc(11), utc(11, 40), 20_000),
        ],
    )
    theirs = Table(
        "vendor",
        "Vendor",
        [],
        [
            trip("Van A", utc(9, 2), utc(9, 20), 4000),  # overlaps our 09:00 trip: 1000 m more (> 100 m and > 10 %)
            trip("Van A", utc(8, 1), utc(8, 29), 10_050),  # our 08:00 trip: 50 m, -120 s (within 10 %)
            trip("Van B", utc(10), utc(10, 10), 2000),  # overlaps nothing of ours
            # our 11:00 trip runs across a 5-minute halt that ends the vendor's first trip: 19.5 km, 35 min in all
            trip("Van C", utc(11), utc(11, 15), 9000),
            trip("Van C", utc(11, 20), utc(11, 40), 10_500),
        ],
    )
    rows = compare("trips", ours, [theirs]).rows
    got = [
        (r["device"], r["start"], r["vendor_start"], r["count"], r["diff_distance"], r["diff_duration"], r["differs"])
        for r in rows
    ]
    assert got == [
        ("Van A", utc(8), utc(8, 1), "1 / 1", 50, -120, False),
        ("Van A", utc(9), utc(9, 2), "1 / 1", 1000, 480, True),
        ("Van B", utc(8), None, "1 / 0", None, None, True),
        ("Van B", None, utc(10), "0 / 1", None, None, True),
        # -500 m is within 10 % of 20 km; -300 s is not within 10 % of 2400 s (the halt is our driving time)
        ("Van C", utc(11), utc(11), "1 / 2", -500, -300, True),
    ]


def test_daily_summaries_pair_by_device_and_day():
    day1, day2 = date(2026, 11, 20), date(2026, 11, 21)
    ours = Table(
        "days",
        "Per day",
        [],
        [
            {"device": "Van", "day": day1, "distance": 1000.0, "engine_hours": 600.0},
            {"device": "Van", "day": day2, "distance": 2000.0, "engine_hours": 600.0},
        ],
    )
    theirs = Table(
        "vendor",
        "Vendor",
        [],
        [
            {"device": "Van", "day": day2, "distance": 2050.0, "engine_hours": 900.0},
            {"device": "Van", "day": day1, "distance": 1000.0, "engine_hours": 600.0},
        ],
    )
    rows = compare("summary", ours, [theirs]).rows
    assert [(r["day"], r["diff_distance"], r["diff_engine_hours"], r["differs"]) for r in rows] == [
        (day1, 0.0, 0.0, False),
        (day2, 50.0, 300.0, True),  # 300 s > 60 s and > 10 % of 900 s
    ]


# --- against the simulator ----------------------------------------------------------------------------


@pytest.fixture
def synced(simulator, org_a, user_a):
    """A Data Trak account of org A synced from a simulator with an hour of caught-up history."""
    sim = simulator("datatrak", devices=3, seed=5, history=3600, lag=0)
    account = VendorAccount.objects.create(
        organization=org_a,
        kind="datatrak",
        name="Data Trak",
        base_url=sim.url,
        credentials={"username": "demo", "password": "demo"},
    )
    run = sync.sync_account(account)
    assert run.status == "ok", run.error
    return sim, account


def test_the_connector_maps_the_simulators_rows(synced):
    sim, account = synced
    api = login(sim)
    ids = [d.vendor_id for d in _devices(account)]
    params = [("deviceId", i) for i in ids] + list(EVER.items())
    raw = {kind: api.get(f"/api/reports/{kind}", params=params).json() for kind in ("trips", "stops", "summary")}
    api.close()
    assert raw["trips"] and raw["stops"] and len(raw["summary"]) == len(ids)
    since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    with DataTrakConnector(account.pk, account.base_url, account.credentials) as connector:
        got = {kind: connector.reports(kind, since, until, ids) for kind in raw}
    for vendor, ours in zip(raw["trips"], got["trips"], strict=True):
        assert ours["device_id"] == str(vendor["deviceId"])
        assert ours["duration_s"] == vendor["duration"] / 1000
        assert ours["distance_m"] == vendor["distance"]
        assert ours["max_speed"] == approx(vendor["maxSpeed"] * 1.852)
        assert ours["average_speed"] == approx(vendor["averageSpeed"] * 1.852)
        assert (ours["end"] - ours["start"]).total_seconds() == ours["duration_s"]
    for vendor, ours in zip(raw["stops"], got["stops"], strict=True):
        assert (ours["lat"], ours["lon"]) == (vendor["latitude"], vendor["longitude"])
        assert ours["engine_hours_s"] == vendor["engineHours"] / 1000
    for vendor, ours in zip(raw["summary"], got["summary"], strict=True):
        assert ours["distance_m"] == vendor["distance"] and ours["max_speed"] == approx(vendor["maxSpeed"] * 1.852)


def _devices(account):
    from fleet.tracking.models import Device

    return list(Device.objects.filter(account=account).order_by("pk"))


def page(client, **query):
    return client.get(reverse("reports:vendor"), query)


def custom_range(**query):
    today = datetime.now(UTC).date()
    return {"preset": "custom", "start": str(today - timedelta(days=1)), "end": str(today), **query}


def test_the_page_shows_our_trips_and_the_vendors_side_by_side(synced, client, user_a):
    sim, account = synced
    device = _devices(account)[0]
    client.force_login(user_a)
    response = page(client, **custom_range(kind="trips", device=device.pk))
    assert response.status_code == 200
    ctx = response.context
    assert ctx["ours"]["name"] == "trips"
    (theirs,) = ctx["theirs"]
    table = theirs["table"]
    assert table.message == "" and table.vendor == "Data Trak (Traccar 4.2)"
    api = login(sim)
    raw = api.get("/api/reports/trips", params={"deviceId": device.vendor_id, **_range_params(ctx)}).json()
    api.close()
    assert raw, "the simulated hour has trips"
    assert [r["distance"] for r in table.rows] == approx([t["distance"] for t in sorted(raw, key=_start)])
    assert {r["device"] for r in table.rows} == {device.name}
    comparison = ctx["comparison"]
    column = [h["label"] for h in comparison["headers"]].index("Trips (ours / vendor)")
    counts = [[int(n) for n in cell_texts(row["cells"])[column].split(" / ")] for row in comparison["rows"]]
    assert sum(v for _, v in counts) == len(table.rows)  # every vendor trip is in one group
    assert sum(o for o, _ in counts) == ctx["ours"]["count"]
    html = response.content.decode()
    assert "Ours against the vendor" in html and 'id="table-trips"' in html


def _start(row):
    return row["startTime"]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _range_params(ctx) -> dict:
    """The page's custom range (yesterday and today, UTC) as the vendor's from / to."""
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return {"from": _iso(start), "to": _iso(start + timedelta(days=2))}


def test_the_summary_per_day_asks_the_vendor_for_each_day(synced, client, user_a):
    sim, account = synced
    client.force_login(user_a)
    response = page(client, **custom_range(kind="summary", split="day"))
    assert response.status_code == 200
    ctx = response.context
    assert ctx["ours"]["name"] == "days"
    (theirs,) = ctx["theirs"]
    rows = theirs["table"].rows
    devices = _devices(account)
    assert len(rows) == 2 * len(devices)  # yesterday and today, every device
    api = login(sim)
    for row in rows:
        device = next(d for d in devices if d.name == row["device"])
        start = datetime.combine(row["day"], datetime.min.time(), tzinfo=UTC)
        window = {"from": _iso(start), "to": _iso(start + timedelta(days=1))}
        (raw,) = api.get("/api/reports/summary", params={"deviceId": device.vendor_id, **window}).json()
        assert row["distance"] == raw["distance"]
        assert row["engine_hours"] == raw["engineHours"] / 1000
    api.close()
    comparison = ctx["comparison"]
    assert comparison["headers"][1]["label"] == "Day"
    assert comparison["count"] == len(rows)  # every one of our device-days found its vendor day


def test_a_vendor_without_reports_is_named_on_the_page(org_a, user_a, client):
    account = make_account(org_a, name="Indoor", kind="safectory")
    tag = make_device(org_a, "Tag 1", account)
    loose = make_device(org_a, "Imported van")
    client.force_login(user_a)
    response = page(client, **custom_range(kind="stops"))
    assert response.status_code == 200
    messages = {t["table"].account or t["table"].title: t["table"].message for t in response.context["theirs"]}
    assert messages == {"Indoor": NO_REPORTS, "No vendor account": NO_ACCOUNT}
    assert "Indoor: this vendor offers no reports" in response.content.decode()
    assert tag.pk and loose.pk


def test_a_vendor_error_is_a_message_not_a_500(org_a, user_a, client):
    account = make_account(org_a, name="Down", kind="datatrak")  # base_url http://127.0.0.1:1: nothing listens
    make_device(org_a, "Van", account, vendor_id="1")
    client.force_login(user_a)
    response = page(client, **custom_range(kind="trips"))
    assert response.status_code == 200
    (theirs,) = response.context["theirs"]
    assert theirs["table"].error and "connection failed" in theirs["table"].message
    assert 'role="alert"' in response.content.decode()


def test_without_the_rate_limiters_redis_the_vendor_is_not_asked_and_the_page_says_so(org_a, user_a, client, settings):
    from fleet.vendors import ratelimit

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: the per-account token bucket is unreachable
    account = make_account(org_a, name="Outdoor", kind="datatrak")
    make_device(org_a, "Van", account, vendor_id="1")
    client.force_login(user_a)
    ratelimit.client.cache_clear()
    ratelimit._script.cache_clear()
    try:
        response = page(client, **custom_range(kind="trips"))
    finally:
        ratelimit.client.cache_clear()  # the next user gets the real Redis again
        ratelimit._script.cache_clear()
    assert response.status_code == 200
    (theirs,) = response.context["theirs"]
    assert theirs["table"].error and "rate limiter" in theirs["table"].message


def test_vendor_reports_groups_devices_by_account(org_a):
    safectory = make_account(org_a, name="Indoor", kind="safectory")
    datatrak = make_account(org_a, name="Outdoor", kind="datatrak", enabled=False)
    devices = [make_device(org_a, "A", safectory), make_device(org_a, "B", datatrak), make_device(org_a, "C")]
    tables = vendor_reports("trips", devices, utc(0), utc(12))
    assert [(t.account, t.message, t.error) for t in tables] == [
        ("Indoor", NO_REPORTS, False),
        ("Outdoor", "the account is disabled: fix it in the admin to ask its server", True),
        ("", NO_ACCOUNT, False),
    ]
    with pytest.raises(ValueError):
        vendor_reports("visits", devices, utc(0), utc(12))


def test_another_organisations_device_or_group_is_404(org_a, user_a, client, db):
    org_b = make_org("b")
    foreign = make_device(org_b, "B van")
    client.force_login(user_a)
    assert page(client, **custom_range(kind="trips", device=foreign.pk)).status_code == 404
    from fleet.tracking.models import DeviceGroup

    group = DeviceGroup.objects.create(organization=org_b, name="B group")
    assert page(client, **custom_range(kind="trips", group=group.pk)).status_code == 404


def test_bad_queries_are_400_with_a_message(org_a, user_a, client):
    client.force_login(user_a)
    response = page(client, kind="route")
    assert response.status_code == 400 and "summary reports, not “route”" in response.content.decode()
    response = page(client, kind="trips", preset="custom", start="2026-11-30", end="2026-11-01")
    assert response.status_code == 400 and "before the start date" in response.content.decode()
    assert page(client).status_code == 200  # no query: the form alone


def test_the_page_needs_a_login(client, db):
    response = page(client, kind="trips")
    assert response.status_code == 302


def test_a_viewer_sees_the_page_too(django_user_model, org_a, client):
    viewer = make_user(django_user_model, "viewer", org_a, role="viewer", staff=False)
    client.force_login(viewer)
    assert page(client, **custom_range(kind="trips")).status_code == 200
