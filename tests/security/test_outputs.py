"""Whatever numbers the database holds (NaN or ±Infinity in a float column: ingest refuses them, but a
database accepts them), every output stays valid: JSON with null, blank spreadsheet cells, GPX/KML that parse."""

import csv
import io
import json
import math
import re
from xml.etree import ElementTree as ET

import gpxpy
import openpyxl
import pytest
from channels.db import database_sync_to_async
from django.contrib.gis.geos import Point
from django.db import connection
from django.urls import reverse

from fleet.geo.models import Geofence
from fleet.tracking.models import Device, Position
from tests.conftest import make_device
from tests.live.conftest import close_layer, connect, decode_snapshot, private_channel_layer  # noqa: F401 - a fixture
from tests.reports.test_kinds import at, drive_day

INF = float("inf")
DAY = {"preset": "custom", "start": "2026-11-20", "end": "2026-11-20"}
# (course, altitude, accuracy) of four extra fixes while the van is parked; SQLite stores a NaN as NULL.
ODD = [(INF, -INF, INF), (-INF, INF, math.nan), (math.nan, math.nan, -INF), (1e308 * 10, 12.0, 3.0)]


def strict_json(text: str | bytes):
    """``json.loads`` that refuses NaN and Infinity, as a browser's ``JSON.parse`` does."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def data_script(body: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', body, re.S)
    assert match, f"no #{element_id} in the page"
    return strict_json(match.group(1))


def store_odd_fixes(device: Device) -> None:
    lat, lon = Position.objects.filter(device=device, fix_time=at(9, 0)).values_list("latitude", "longitude").get()
    fixed = {"latitude": lat, "longitude": lon, "speed": 0.0, "attributes": {"ignition": False}}
    Position.objects.bulk_create(
        Position(device=device, fix_time=at(9, 1 + i), course=course, altitude=altitude, accuracy=accuracy, **fixed)
        for i, (course, altitude, accuracy) in enumerate(ODD)
    )
    with connection.cursor() as cursor:  # and one written by hand, the way another tool might
        cursor.execute(
            "UPDATE tracking_position SET course = %s, altitude = %s WHERE device_id = %s AND fix_time = %s",
            [INF, -INF, device.pk, at(9, 0)],
        )
    Device.objects.filter(pk=device.pk).update(
        last_fix_time=at(9, 4), last_latitude=lat, last_longitude=lon, last_speed=0.0, last_course=INF
    )


@pytest.fixture
def van(world_a):
    device = make_device(world_a["organization"], "Odd van")
    drive_day(device)
    store_odd_fixes(device)
    return device


@pytest.fixture
def alice(client, user_a):
    client.force_login(user_a)
    return client


def test_the_database_really_holds_non_finite_numbers(van):
    courses = Position.objects.filter(device=van, fix_time__gte=at(9, 0), fix_time__lte=at(9, 4))
    assert any(c is not None and math.isinf(c) for c in courses.values_list("course", flat=True))


def test_track_json_writes_null_for_every_non_finite_number(alice, van):
    url = reverse("device-track", args=[van.pk])
    response = alice.get(url, {"from": "2026-11-20T07:00:00Z", "to": "2026-11-20T12:00:00Z"})
    assert response.status_code == 200
    data = strict_json(response.content)
    odd = [p for p in data["positions"] if at(9, 0).timestamp() <= p[0] <= at(9, 4).timestamp()]
    assert len(odd) == 5 and all(p[4] is None for p in odd)  # course


@pytest.mark.parametrize("kind", ["route", "trips", "stops", "summary"])
def test_the_report_page_and_its_map_data_stay_valid(alice, van, kind):
    response = alice.get(reverse("reports:report", args=[kind]), {**DAY, "device": van.pk})
    assert response.status_code == 200
    body = response.content.decode()
    assert not re.search(r">\s*-?(inf|nan)\b", body.lower())  # no cell reads "inf" or "nan"
    if kind in ("route", "trips", "stops"):
        data_script(body, "report-map-data")


def test_the_route_xlsx_leaves_non_finite_cells_blank(alice, van):
    response = alice.get(reverse("reports:export", args=["route", "xlsx"]), {**DAY, "device": van.pk})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    course, altitude = header.index("Course (°)"), header.index("Altitude (m)")
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    odd = [r for r in rows if r[0] is not None and r[0].hour == 9 and r[0].minute <= 4]
    assert len(odd) == 5
    assert [r[course] for r in odd] == [None] * 5
    assert [r[altitude] for r in odd] == [None, None, None, None, 12.0]


def test_the_route_csv_leaves_non_finite_cells_empty(alice, van):
    response = alice.get(reverse("reports:export", args=["route", "csv"]), {**DAY, "device": van.pk})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    cells = {cell.lower() for row in csv.reader(io.StringIO(text)) for cell in row}
    assert not cells & {"inf", "-inf", "nan"}


def test_gpx_and_kml_of_the_route_parse(alice, van):
    gpx = alice.get(reverse("reports:export", args=["route", "gpx"]), {**DAY, "device": van.pk})
    assert gpx.status_code == 200
    points = gpxpy.parse(gpx.content.decode()).tracks[0].segments[0].points
    assert all(p.elevation is None or math.isfinite(p.elevation) for p in points)
    assert any(p.elevation == 12.0 for p in points)
    kml = alice.get(reverse("reports:export", args=["route", "kml"]), {**DAY, "device": van.pk})
    assert kml.status_code == 200 and ET.fromstring(kml.content).tag.endswith("kml")  # noqa: S314 - our own output


def test_chart_data_and_the_fleet_charts_stay_valid_json(alice, van):
    response = alice.get(reverse("reports:chart-data"), {**DAY, "device": van.pk})
    assert response.status_code == 200
    series = {s["key"]: s for s in strict_json(response.content)["series"]}
    assert all(v is None or math.isfinite(v) for v in series["altitude"]["v"])
    page = alice.get(reverse("reports:charts"), DAY)
    assert page.status_code == 200
    assert data_script(page.content.decode(), "fleet-data")["devices"] >= 1


def test_the_map_layers_write_null_for_a_non_finite_radius(alice, van, org_a):
    Geofence.objects.create(organization=org_a, name="Huge", kind="circle", radius_m=INF, geometry=Point(25, 60))
    response = alice.get(reverse("live-layers"))
    assert response.status_code == 200
    [huge] = [f for f in strict_json(response.content)["geofences"]["features"] if f["properties"]["name"] == "Huge"]
    assert huge["properties"]["radius_m"] is None


def test_the_device_pages_render(alice, van):
    assert alice.get(reverse("device-detail", args=[van.pk])).status_code == 200
    assert alice.get(reverse("device-list")).status_code == 200
    assert alice.get(reverse("device-replay", args=[van.pk])).status_code == 200


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_live_snapshot_writes_null_for_a_non_finite_course(user_a, org_a):
    device = await database_sync_to_async(make_device)(org_a, "Odd van")
    await database_sync_to_async(drive_day)(device)
    await database_sync_to_async(store_odd_fixes)(device)
    communicator = await connect(user_a)
    try:
        await communicator.receive_from()  # config
        snapshot = strict_json(await communicator.receive_from())
    finally:
        await communicator.disconnect()
        await close_layer()
    [entry] = [d for d in decode_snapshot([snapshot]) if d["id"] == device.pk]
    assert entry["course"] is None and entry["lat"] is not None
