"""Addresses (fleet.geo.geocoding): the fallback order, organisation scoping, the streets table, and the
provider path against a real local HTTP server answering like Nominatim and Photon, faults included."""

import json
import time
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.core.cache import cache as shared
from django.core.management import CommandError, call_command
from django.utils import timezone

from fleet.geo import geocoding
from fleet.geo.geocoding import cache, fill, streets
from fleet.geo.geocoding.providers import Unreadable, nominatim_text, photon_text
from fleet.geo.models import POI, CachedAddress, Geofence, Street
from tests.conftest import make_device
from tests.geo.geocoder import Fake, Geocoder

# A made-up block: Testikatu runs east-west along 60.2000, Toinenkatu north-south along 24.9000.
LAT, LON = 60.2000, 24.9500
TESTIKATU = [(24.9400, 60.2000), (24.9600, 60.2000)]
TOINENKATU = [(24.9000, 60.1900), (24.9000, 60.2100)]
UA = "fleet-tests/0.1 (ops@example.com)"


@pytest.fixture(autouse=True)
def quiet_provider(settings):
    """No provider unless a test starts one; the run's lock, pacing and hold start clear."""
    settings.GEOCODER_URL = ""
    shared.delete_many([fill.LOCK, fill.NEXT_AT, fill.HOLD])
    yield
    shared.delete_many([fill.LOCK, fill.NEXT_AT, fill.HOLD])


@pytest.fixture
def geocoder(settings):
    """geocoder(kind="nominatim", places={(lat, lon): details}) starts the fake on a free port and points the
    settings at it (fast pacing unless a test sets GEOCODER_RATE)."""
    started: list[Geocoder] = []

    def start(kind: str = "nominatim", places: dict | None = None) -> Fake:
        server = Geocoder(Fake(kind, places or {}))
        started.append(server)
        settings.GEOCODER_URL, settings.GEOCODER_KIND = server.url, kind
        settings.GEOCODER_RATE, settings.GEOCODER_TIMEOUT_S, settings.GEOCODER_BATCH = 100.0, 2.0, 50
        settings.GEOCODER_USER_AGENT, settings.GEOCODER_LANGUAGE = UA, ""
        settings.GEOCODER_ALLOW_PRIVATE_NETWORKS = True
        return server.fake

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def block(db):
    streets.replace("test", [("Testikatu", TESTIKATU), ("Toinenkatu", TOINENKATU)])


def nominatim_place(road: str, number: str = "", city: str = "Helsinki") -> dict:
    return {"name": "", "address": {"road": road, "house_number": number, "city": city, "country": "Suomi"}}


def square(lat: float, lon: float, half: float) -> Polygon:
    return Polygon.from_bbox((lon - half, lat - half, lon + half, lat + half))


def cached(lat: float, lon: float, text: str, state=CachedAddress.State.DONE) -> CachedAddress:
    (cell,) = cache.cell_of([lat], [lon]).tolist()
    row, _ = CachedAddress.objects.update_or_create(
        provider=cache.provider(),
        cell=cell,
        defaults={"latitude": lat, "longitude": lon, "text": text, "state": state, "fetched": timezone.now()},
    )
    return row


# --- the fallback order


def test_a_geofence_beats_a_poi_beats_the_provider_beats_the_street(org_a, block, settings):
    settings.GEOCODER_URL = "http://geocoder.invalid"  # configured: its cache is read, never asked here
    near = (LAT + 0.0003, LON)  # 33 m north of Testikatu
    assert geocoding.address(org_a, *near) == "Near Testikatu"
    cached(*near, "Testikatu 7, Helsinki")
    assert geocoding.address(org_a, *near) == "Testikatu 7, Helsinki"
    POI.objects.create(organization=org_a, name="Kesko Kamppi", point=Point(LON, LAT + 0.0004), radius_m=50)
    assert geocoding.address(org_a, *near) == "At Kesko Kamppi"
    Geofence.objects.create(organization=org_a, name="Depot North", geometry=square(*near, 0.001))
    assert geocoding.address(org_a, *near) == "Inside Depot North"


def test_nothing_known_is_empty_and_bad_coordinates_are_empty(org_a, block):
    far = (LAT + 0.01, LON)  # 1.1 km from any street
    points = [far, (None, None), (float("nan"), LON), (91.0, LON), (LAT, 181.0), ("60", LON), (LAT, LON)]
    assert geocoding.addresses(org_a, points) == ["", "", "", "", "", "", "Near Testikatu"]
    assert geocoding.addresses(org_a, []) == []


def test_the_smallest_geofence_and_the_nearest_poi_name_a_point(org_a, db):
    Geofence.objects.create(organization=org_a, name="Helsinki", geometry=square(LAT, LON, 0.05))
    Geofence.objects.create(organization=org_a, name="Depot", geometry=square(LAT, LON, 0.001))
    Geofence.objects.create(organization=org_a, name="Old depot", geometry=square(LAT, LON, 0.0005),
                            retired=timezone.now())  # fmt: skip
    POI.objects.create(organization=org_a, name="Far door", point=Point(LON, LAT + 0.06), radius_m=200)
    POI.objects.create(organization=org_a, name="Near door", point=Point(LON, LAT + 0.0602), radius_m=200)
    inside, at = (LAT, LON), (LAT + 0.0603, LON)
    assert geocoding.addresses(org_a, [inside, at]) == ["Inside Depot", "At Near door"]


def test_a_circle_and_a_corridor_geofence_name_their_points(org_a, db):
    Geofence.objects.create(organization=org_a, name="Yard", kind="circle", radius_m=100, geometry=Point(LON, LAT))
    Geofence.objects.create(
        organization=org_a, name="Ring road", kind="corridor", width_m=40,
        geometry=streets.LineString(TOINENKATU, srid=4326),
    )  # fmt: skip
    assert geocoding.addresses(org_a, [(LAT + 0.0008, LON), (LAT, 24.9001), (LAT + 0.002, LON)]) == [
        "Inside Yard",
        "Inside Ring road",
        "",
    ]


def test_another_organisations_places_never_name_a_point(org_a, org_b, block):
    Geofence.objects.create(organization=org_b, name="B depot", geometry=square(LAT, LON, 0.001))
    POI.objects.create(organization=org_b, name="B customer", point=Point(LON, LAT), radius_m=100)
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"
    assert geocoding.address(org_b, LAT, LON) == "Inside B depot"


def test_the_nearest_street_within_150_m_names_a_point(org_a, block):
    points = [(LAT + 0.0010, LON), (LAT + 0.0014, LON), (LAT, 24.9005), (LAT + 0.0003, 24.9003)]
    # 111 m and 156 m north of Testikatu; 28 m east of Toinenkatu; nearer Toinenkatu (17 m) than Testikatu (33 m)
    assert geocoding.addresses(org_a, points) == ["Near Testikatu", "", "Near Toinenkatu", "Near Toinenkatu"]


def test_points_a_degree_apart_find_their_own_streets(org_a, block):
    streets.replace("north", [("Pohjoiskatu", [(25.94, 61.2), (25.96, 61.2)])])
    assert geocoding.addresses(org_a, [(61.2003, 25.95), (LAT, LON)]) == ["Near Pohjoiskatu", "Near Testikatu"]


# --- the streets table


def test_loading_a_source_again_replaces_its_streets_only(db, block):
    assert streets.replace("test", [("Uusikatu", TESTIKATU), ("", TOINENKATU), ("Point", [(1, 1), (1, 1)])]) == 1
    assert sorted(Street.objects.values_list("source", "name")) == [("test", "Uusikatu")]


def test_loadstreets_reads_named_ways_of_a_geojson_file(db, tmp_path, org_a):
    def way(properties: dict, kind: str | None, coordinates=None) -> dict:
        geometry = {"type": kind, "coordinates": coordinates} if kind else None
        return {"type": "Feature", "properties": properties, "geometry": geometry}

    features = [
        way({"name": "Testikatu", "highway": "residential"}, "LineString", [list(p) for p in TESTIKATU]),
        way({"name": "Kaksikatu"}, "MultiLineString", [[[24.0, 61.0], [24.1, 61.0]], [[24.2, 61.0], [24.3, 61.0]]]),
        way({"highway": "service"}, "LineString", [[24.0, 62.0], [24.1, 62.0]]),  # no name
        way({"name": "Broken"}, "LineString", [[999, 0], [1, 1]]),
        way({"name": "Nowhere"}, None),
    ]
    path = tmp_path / "helsinki-ways.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    call_command("loadstreets", str(path))
    names = list(Street.objects.filter(source="helsinki-ways.geojson").values_list("name", flat=True))
    assert sorted(names) == ["Kaksikatu", "Kaksikatu", "Testikatu"]
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"


@pytest.mark.parametrize("content", ["{not json", '{"type": "Feature"}', "[]"])
def test_loadstreets_refuses_a_file_it_cannot_read_and_keeps_the_streets(db, tmp_path, content, block):
    path = tmp_path / "test"
    path.write_text(content)
    with pytest.raises(CommandError, match="JSON|FeatureCollection"):
        call_command("loadstreets", str(path), "--source", "test")
    assert Street.objects.filter(source="test").count() == 2


def test_the_demo_streets_name_the_demo_area(org_a, db):
    from fleet.core.management.commands.seeddemo import DEMO_STREETS, demo_streets

    assert streets.replace(DEMO_STREETS, demo_streets()) > 500
    # Mid-points of long edges of Mannerheimintie and Unioninkatu in the simulators' road graph.
    points = [(60.170289, 24.937615), (60.175136, 24.950198)]
    assert geocoding.addresses(org_a, points) == ["Near Mannerheimintie", "Near Unioninkatu"]


def test_seeddemo_loads_the_demo_streets_once_however_often_it_runs(db):
    import io

    out = io.StringIO()
    call_command("seeddemo", stdout=out)
    count = Street.objects.count()
    call_command("seeddemo", stdout=out)
    assert Street.objects.count() == count > 500
    assert f"streets: {count} named segments" in out.getvalue()


# --- the provider: pure parsing


def test_nominatim_answers_become_one_line():
    assert nominatim_text(nominatim_place("Mannerheimintie", "12")) == "Mannerheimintie 12, Helsinki"
    assert nominatim_text({"name": "Kamppi", "address": {"suburb": "Kamppi"}}) == "Kamppi"
    assert (
        nominatim_text({"address": {}, "display_name": "Saari, Helsinki, Uusimaa, Suomi"}) == "Saari, Helsinki, Uusimaa"
    )
    assert nominatim_text({"error": "Unable to geocode"}) == ""
    assert nominatim_text(nominatim_place("<b>Katu</b>\n\x00 1")) == "<b>Katu</b> 1, Helsinki"  # text, escaped later
    for bad in ([], "x", None, {"address": []}, {"address": {}, "display_name": 7}):
        with pytest.raises(Unreadable):
            nominatim_text(bad)


def test_photon_answers_become_one_line():
    feature = {"properties": {"name": "Kesko", "street": "Urho Kekkosen katu", "housenumber": "1", "city": "Helsinki"}}
    assert photon_text({"type": "FeatureCollection", "features": [feature]}) == "Urho Kekkosen katu 1, Helsinki"
    assert photon_text({"features": [{"properties": {"name": "Kauppatori", "city": "Helsinki"}}]}) == (
        "Kauppatori, Helsinki"
    )
    assert photon_text({"features": []}) == ""
    for bad in ({}, [], {"features": [7]}, {"features": "x"}):
        with pytest.raises(Unreadable):
            photon_text(bad)


# --- the provider over HTTP


@pytest.mark.parametrize("kind", ["nominatim", "photon"])
def test_a_miss_is_asked_once_by_the_task_then_served_from_the_cache(org_a, block, geocoder, kind):
    place = nominatim_place("Testikatu", "7") if kind == "nominatim" else {"street": "Testikatu", "housenumber": "7",
                                                                             "city": "Helsinki"}  # fmt: skip
    fake = geocoder(kind, {(LAT, LON): place})
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"  # offline now, the cell queued
    assert fake.requests == []  # no request during the call
    assert fill.run() == {"pruned": 0, "asked": 1, "answered": 1}
    (request,) = fake.requests
    assert request.path == "/reverse" and request.user_agent == UA
    assert (float(request.query["lat"]), float(request.query["lon"])) == (LAT, LON)
    if kind == "nominatim":
        assert request.query["format"] == "jsonv2"
    assert geocoding.address(org_a, LAT + 0.00002, LON - 0.00002) == "Testikatu 7, Helsinki"  # same ~10 m cell
    assert fill.run() == {"pruned": 0}  # a cache hit queues nothing
    assert len(fake.requests) == 1


def test_nothing_there_is_remembered_and_the_street_answers(org_a, block, geocoder):
    fake = geocoder()
    geocoding.address(org_a, LAT, LON)
    assert fill.run()["empty"] == 1
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"
    fill.run()
    assert len(fake.requests) == 1


def test_the_language_is_asked_and_keys_the_cache(org_a, block, geocoder, settings):
    fake = geocoder("nominatim", {(LAT, LON): nominatim_place("Testgatan", city="Helsingfors")})
    settings.GEOCODER_LANGUAGE = "sv"
    geocoding.address(org_a, LAT, LON)
    fill.run()
    assert fake.requests[0].query["accept-language"] == "sv" and fake.requests[0].language == "sv"
    assert geocoding.address(org_a, LAT, LON) == "Testgatan, Helsingfors"
    settings.GEOCODER_LANGUAGE = ""
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"  # another language's answers are others


def test_a_report_style_batch_does_not_queue_when_told_not_to(org_a, block, geocoder):
    geocoder()
    geocoding.addresses(org_a, [(LAT, LON)], fetch=False)
    assert CachedAddress.objects.count() == 0


def test_a_429_holds_every_run_until_its_retry_after(org_a, block, geocoder):
    fake = geocoder("nominatim", {(LAT, LON): nominatim_place("Testikatu")})
    fake.faults.append(("status", 429, {"Retry-After": "2"}))
    geocoding.address(org_a, LAT, LON)
    assert fill.run()["rate_limited"] == 1
    assert fill.run()["held"] == 1 and len(fake.requests) == 1  # held: not asked
    row = CachedAddress.objects.get()
    assert (row.state, row.attempts) == ("pending", 0)  # the provider's limit, not the cell's fault
    time.sleep(2.1)
    assert fill.run()["answered"] == 1
    assert geocoding.address(org_a, LAT, LON) == "Testikatu, Helsinki"


def test_a_server_error_ends_the_run_and_the_cell_is_asked_again_later(org_a, block, geocoder):
    places = {(LAT, LON): nominatim_place("Testikatu"), (LAT, LON + 0.001): nominatim_place("Testikatu", "2")}
    fake = geocoder("nominatim", places)
    fake.faults.append(("status", 500))
    geocoding.addresses(org_a, [(LAT, LON), (LAT, LON + 0.001)])
    counts = fill.run()
    assert (counts["asked"], counts["errors"]) == (1, 1)  # the second cell waits for the next run
    failed = CachedAddress.objects.get(attempts=1)
    assert failed.error == "HTTP 500" and failed.next_try > timezone.now() + timedelta(seconds=50)
    assert fill.run()["answered"] == 1  # the other cell; the failed one is not due yet
    CachedAddress.objects.filter(pk=failed.pk).update(next_try=timezone.now())
    assert fill.run()["asked"] == 1
    assert CachedAddress.objects.filter(state="done").count() == 2


def test_garbage_counts_against_its_cell_only_and_the_run_goes_on(org_a, block, geocoder):
    fake = geocoder("nominatim", {(LAT, LON + 0.001): nominatim_place("Testikatu", "9")})
    fake.faults.append(("garbage",))
    geocoding.addresses(org_a, [(LAT, LON), (LAT, LON + 0.001)])
    counts = fill.run()
    assert (counts["asked"], counts["errors"], counts["answered"]) == (2, 1, 1)
    assert CachedAddress.objects.get(attempts=1).error.startswith("unreadable answer")


def test_a_timeout_is_counted_and_never_raised(org_a, block, geocoder, settings):
    fake = geocoder()
    settings.GEOCODER_TIMEOUT_S = 0.3
    fake.faults.append(("slow", 1.0))
    geocoding.address(org_a, LAT, LON)
    assert fill.run()["errors"] == 1
    assert CachedAddress.objects.get().error == "no answer within 0.3 s"


def test_a_cell_failing_again_and_again_is_given_up(org_a, block, geocoder):
    fake = geocoder()
    geocoding.address(org_a, LAT, LON)
    for _ in range(fill.MAX_ATTEMPTS):
        fake.faults.append(("status", 503))
        CachedAddress.objects.update(next_try=timezone.now())
        fill.run()
    row = CachedAddress.objects.get()
    assert (row.state, row.attempts, row.error) == ("failed", fill.MAX_ATTEMPTS, "HTTP 503")
    assert fill.run() == {"pruned": 0}
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"


def test_requests_keep_to_the_rate(org_a, block, geocoder, settings):
    fake = geocoder()
    settings.GEOCODER_RATE = 5.0
    geocoding.addresses(org_a, [(LAT, LON + k * 0.001) for k in range(4)])
    assert fill.run()["asked"] == 4
    gaps = [b.at - a.at for a, b in zip(fake.requests, fake.requests[1:], strict=False)]
    assert min(gaps) >= 0.18


def test_a_run_asks_at_most_its_batch_and_one_runs_at_a_time(org_a, block, geocoder, settings):
    fake = geocoder()
    settings.GEOCODER_BATCH = 2
    geocoding.addresses(org_a, [(LAT, LON + k * 0.001) for k in range(3)])
    assert fill.run()["asked"] == 2
    shared.add(fill.LOCK, 1, timeout=60)  # another worker's run
    assert fill.run() == {"busy": 1}
    shared.delete(fill.LOCK)
    assert fill.run()["asked"] == 1 and len(fake.requests) == 3


def test_a_geocoder_on_a_private_address_is_refused_when_not_allowed(org_a, block, geocoder, settings):
    fake = geocoder()
    settings.GEOCODER_ALLOW_PRIVATE_NETWORKS = False
    geocoding.address(org_a, LAT, LON)
    assert fill.run()["refused"] == 1
    assert fake.requests == [] and CachedAddress.objects.get().state == "pending"


def test_old_answers_expire_and_are_asked_again(org_a, block, geocoder, settings):
    fake = geocoder("nominatim", {(LAT, LON): nominatim_place("Testikatu", "3")})
    cached(LAT, LON, "Vanhakatu 1")
    CachedAddress.objects.update(fetched=timezone.now() - timedelta(days=settings.GEOCODER_CACHE_DAYS + 1))
    assert geocoding.address(org_a, LAT, LON) == "Vanhakatu 1"  # until the task prunes it
    assert fill.run()["pruned"] == 1
    assert geocoding.address(org_a, LAT, LON) == "Near Testikatu"
    fill.run()
    assert geocoding.address(org_a, LAT, LON) == "Testikatu 3, Helsinki" and len(fake.requests) == 1


def test_without_a_provider_the_task_does_nothing(org_a, block):
    geocoding.address(org_a, LAT, LON)
    assert CachedAddress.objects.count() == 0 and fill.run() == {}


# --- a device's last position


def test_the_last_address_is_the_vendors_when_it_sent_one(org_a, block):
    van = make_device(org_a, "Van 1")
    assert geocoding.last_address(van) == ""
    van.last_fix_time, van.last_latitude, van.last_longitude = timezone.now(), LAT, LON
    assert geocoding.last_address(van) == "Near Testikatu"
    van.last_attributes = {"address": "  Vendorinkatu   5 "}
    assert geocoding.last_address(van) == "Vendorinkatu 5"


def test_only_a_superuser_sees_the_cache_in_the_admin(client, superuser, user_a, org_a, block, settings):
    settings.GEOCODER_URL = "http://geocoder.invalid"
    geocoding.address(org_a, LAT, LON)
    url = "/admin/geo/cachedaddress/"
    client.force_login(user_a)
    assert client.get(url).status_code == 403
    client.force_login(superuser)
    assert client.get(url).status_code == 200 and "pending" in client.get(url).content.decode()
    assert client.get("/admin/geo/cachedaddress/add/").status_code == 403
