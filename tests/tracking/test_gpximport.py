"""GPX import's checks at the edge: real tracks, hostile points and files, time zones, the parser and encodings."""

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import gpxpy
import pytest

from fleet.core.geodesy import M_PER_DEG, haversine_m
from fleet.tracking.gpximport import GpxError, import_gpx, parse
from fleet.tracking.models import Position
from tests.conftest import make_device

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "real-tracks"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
STEP_KMH = 0.001 * M_PER_DEG / 60 * 3.6  # 0.001 degrees of latitude a minute


def trkpt(lat="60.000", lon="25.000", time: str | None = "2026-11-20T08:00:00Z", inner: str = "") -> str:
    return f'<trkpt lat="{lat}" lon="{lon}">{inner}{f"<time>{time}</time>" if time else ""}</trkpt>'


def make_gpx(*points: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<gpx version="1.1" creator="test" '
        f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{"".join(points)}</trkseg></trk></gpx>'
    ).encode()


def stored(device) -> list[tuple]:
    rows = Position.objects.filter(device=device).order_by("fix_time")
    return list(rows.values_list("fix_time", "latitude", "longitude", "altitude", "speed", "course"))


# ------------------------------------------------------------------------------------------ real tracks


def test_the_bus_track_imports_fully(org_a):
    bus = make_device(org_a, "304")

    result = import_gpx(bus, (TRACKS / "bus-304-limerick.gpx").read_bytes())

    assert result.summary() == "2144 points read, 2144 stored, 0 duplicates, 0 rejected"
    rows = stored(bus)
    assert (rows[0][0], rows[-1][0]) == (
        datetime(2019, 2, 18, 7, 45, 50, tzinfo=UTC),
        T0.replace(2019, 2, 18, 9, 0, 26),
    )
    assert all(0 <= speed < 120 for *_, speed, _ in rows)


def test_the_hike_whose_every_fix_is_dated_1901_is_refused_with_the_reason(org_a):
    with pytest.raises(GpxError, match=r"^every track point was rejected \(fix time before 2000: 184\)$"):
        import_gpx(make_device(org_a), (TRACKS / "hike-mojstrovka-bad-time.gpx").read_bytes())
    assert not Position.objects.exists()


def hike_retimed(kept: int) -> bytes:
    """The hike with its first ``kept`` fixes dated 10 s apart from the file's own time; the rest stay in 1901."""
    count = 0

    def retime(match: re.Match) -> str:
        nonlocal count
        count += 1
        moment = datetime(2010, 12, 14, 6, 17, 4, tzinfo=UTC) + timedelta(seconds=10 * (count - 1))
        return f"<time>{moment:%Y-%m-%dT%H:%M:%SZ}</time>" if count <= kept else match.group(0)

    return re.sub(r"<time>1901-[^<]*</time>", retime, (TRACKS / "hike-mojstrovka-bad-time.gpx").read_text()).encode()


def test_the_hikes_1901_fixes_are_rejected_with_a_reason_and_the_rest_kept(org_a):
    walker = make_device(org_a, "Walker")

    result = import_gpx(walker, hike_retimed(kept=100))

    assert (result.read, result.stored, result.rejected) == (184, 100, 84)
    assert dict(result.reasons) == {"fix time before 2000": 84}
    (_, lat_a, lon_a, *_), (_, lat_b, lon_b, alt, speed, _) = stored(walker)[-2:]
    assert speed == pytest.approx(float(haversine_m(lat_a, lon_a, lat_b, lon_b)) / 10 * 3.6)
    assert 1600 < alt < 2100


# ------------------------------------------------------------------------------------------ hostile points


@pytest.mark.parametrize(
    ("lat", "lon", "time", "reason"),
    [
        ("60.001", "inf", "2026-11-20T08:01:00Z", "not a finite number"),
        ("60.001", "-Infinity", "2026-11-20T08:01:00Z", "not a finite number"),
        ("NaN", "25.000", "2026-11-20T08:01:00Z", "not a finite number"),
        ("1e999", "25.000", "2026-11-20T08:01:00Z", "not a finite number"),
        ("95.0", "25.000", "2026-11-20T08:01:00Z", "latitude out of range"),
        ("60.001", "180.5", "2026-11-20T08:01:00Z", "longitude out of range"),
        ("60.001", "25.000", "1901-12-13T20:45:52Z", "fix time before 2000"),
        ("60.001", "25.000", "2999-01-01T00:00:00Z", "fix time in the future"),
        ("60.001", "25.000", "2026-11-20T08:01:00+99:00", "time out of range"),
        ("60.001", "25.000", "0001-01-01T00:00:00+01:00", "time out of range"),
    ],
)
def test_a_bad_point_is_rejected_with_its_reason_and_never_costs_a_neighbour(org_a, lat, lon, time, reason):
    van = make_device(org_a)
    gpx = make_gpx(trkpt("60.000"), trkpt(lat, lon, time), trkpt("60.002", time="2026-11-20T08:02:00Z"))

    result = import_gpx(van, gpx)

    assert (result.read, result.stored, result.rejected, dict(result.reasons)) == (3, 2, 1, {reason: 1})
    (t0, lat0, _, _, v0, c0), (t2, lat2, _, _, v2, c2) = stored(van)
    assert (t0, t2, lat0, lat2) == (T0, T0 + timedelta(minutes=2), 60.0, 60.002)
    assert v0 == 0.0 and c0 is None  # the first point of a segment: no step leads into it
    assert v2 == pytest.approx(STEP_KMH, rel=1e-4)  # the step from the previous usable point, two minutes back
    assert c2 == pytest.approx(0.0)


def test_a_speed_or_course_in_the_file_that_is_not_a_finite_number_is_derived_instead(org_a):
    van = make_device(org_a)
    gpx = make_gpx(  # GPX 1.0 has <speed> (m/s) and <course> in the point itself
        trkpt("60.000", inner="<speed>-3</speed><course>1e999</course>"),
        trkpt("60.001", time="2026-11-20T08:01:00Z", inner="<speed>nan</speed><course>inf</course>"),
        trkpt("60.002", time="2026-11-20T08:02:00Z", inner="<speed>2.5</speed><course>370</course>"),
    ).replace(b"GPX/1/1", b"GPX/1/0")

    result = import_gpx(van, gpx.replace(b'version="1.1"', b'version="1.0"'))

    assert (result.stored, result.rejected) == (3, 0)
    speeds, courses = zip(*[(v, c) for *_, v, c in stored(van)], strict=True)
    assert speeds == pytest.approx([0.0, STEP_KMH, 9.0], rel=1e-4)
    assert courses[0] is None and courses[1:] == pytest.approx((0.0, 10.0))


def test_an_elevation_that_is_not_finite_or_out_of_range_is_dropped_and_the_point_kept(org_a):
    van = make_device(org_a)
    elevations = ["inf", "NaN", "-612", "25000", "8848.86", "-420"]
    points = [
        trkpt(f"60.00{i}", time=f"2026-11-20T08:0{i}:00Z", inner=f"<ele>{ele}</ele>")
        for i, ele in enumerate(elevations)
    ]

    result = import_gpx(van, make_gpx(*points))

    assert [alt for _, _, _, alt, _, _ in stored(van)] == [None, None, None, None, 8848.86, -420.0]
    assert dict(result.elevations_dropped) == {"not a finite number": 2, "out of range": 2}
    assert result.summary().endswith("; 4 elevations dropped (not a finite number: 2, out of range: 2)")


def test_a_file_without_times_is_an_error(org_a):
    gpx = make_gpx(trkpt(time=None), trkpt("60.001", time=None), trkpt("60.002", time="not a time"))
    with pytest.raises(GpxError, match="^no track point has a time$"):
        import_gpx(make_device(org_a), gpx)


def test_a_file_whose_points_are_all_rejected_is_an_error_with_the_reasons(org_a):
    gpx = make_gpx(trkpt(lon="inf"), trkpt("95", time="2026-11-20T08:01:00Z"), trkpt(time=None))
    with pytest.raises(GpxError) as error:
        import_gpx(make_device(org_a), gpx)
    assert str(error.value) == (
        "every track point was rejected (latitude out of range: 1, no time: 1, not a finite number: 1)"
    )


# ------------------------------------------------------------------------------------------ time zones

# Two times written without a zone around one in UTC: 10:00 and 10:02 in Helsinki (UTC+2 in November).
ZONELESS = make_gpx(
    trkpt("60.000", time="2026-11-20T10:00:00"),
    trkpt("60.001", time="2026-11-20T08:01:00Z"),
    trkpt("60.002", time="2026-11-20T10:02:00.500"),
)


def test_times_without_a_zone_are_read_as_utc_and_the_result_says_so(org_a):
    van = make_device(org_a)

    result = import_gpx(van, ZONELESS)

    assert [t for t, *_ in stored(van)] == [
        T0.replace(minute=1),
        T0.replace(hour=10),
        T0.replace(hour=10, minute=2, microsecond=500_000),
    ]
    assert result.summary() == (
        "3 points read, 3 stored, 0 duplicates, 0 rejected; 2 times had no time zone: read as UTC"
    )


def test_times_without_a_zone_are_read_in_the_zone_given(org_a):
    van = make_device(org_a)

    result = import_gpx(van, ZONELESS, ZoneInfo("Europe/Helsinki"))

    rows = stored(van)
    assert [t for t, *_ in rows] == [T0, T0.replace(minute=1), T0.replace(minute=2, microsecond=500_000)]
    assert result.summary().endswith("; 2 times had no time zone: read as Europe/Helsinki")
    assert rows[1][4] == pytest.approx(STEP_KMH, rel=1e-4)  # steps between the converted times


def test_one_time_without_a_zone_is_counted_in_the_singular(org_a):
    gpx = make_gpx(trkpt(time="2026-11-20T08:00:00"))
    assert import_gpx(make_device(org_a), gpx).summary().endswith("; 1 time had no time zone: read as UTC")


# ------------------------------------------------------------------------------------------ hostile files

LAUGHS = "".join(
    f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "ha"}">' for i in range(10)
)  # ten levels of ten: 2 * 10^9 characters once expanded

HOSTILE_PROLOGS = {
    "billion laughs": f"<!DOCTYPE gpx [{LAUGHS}]>",
    "quadratic blowup": f'<!DOCTYPE gpx [<!ENTITY big "{"x" * 50_000}">]>',
    "external entity": '<!DOCTYPE gpx [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>',
    "external DTD": '<!DOCTYPE gpx SYSTEM "http://127.0.0.1:9/gpx.dtd">',
    "parameter entity": '<!DOCTYPE gpx [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x">%remote;]>',
}


@pytest.mark.parametrize("name", HOSTILE_PROLOGS)
def test_a_file_with_a_document_type_is_refused_before_any_entity_is_expanded(org_a, name):
    body = {"billion laughs": "&l9;", "quadratic blowup": "&big;" * 400, "external entity": "&passwd;"}.get(name, "")
    gpx = make_gpx(trkpt(inner=f"<name>{body}</name>"), prolog=HOSTILE_PROLOGS[name])

    with pytest.raises(GpxError, match=r"^the file declares a document type \(DTD\), which GPX files do not use$"):
        import_gpx(make_device(org_a), gpx)
    assert not Position.objects.exists()


@pytest.mark.parametrize("encoding", ["punycode", "hex", "UTF-7", "cp037"])
def test_an_encoding_other_than_utf8_utf16_or_latin1_is_refused_by_name(org_a, encoding):
    gpx = make_gpx(trkpt()).replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    with pytest.raises(GpxError, match=f"^encoding '{encoding}' is not accepted: use UTF-8$"):
        import_gpx(make_device(org_a), gpx)


# ------------------------------------------------------------------------------------------ the parser


@pytest.mark.parametrize("name", ["bus-304-limerick.gpx", "car-visnjan-croatia.gpx", "hike-mojstrovka-bad-time.gpx"])
def test_the_parser_reads_every_real_track_as_gpxpy_does(name):
    data = (TRACKS / name).read_bytes()
    ours = parse(data)
    theirs = [segment.points for track in gpxpy.parse(data.decode()).tracks for segment in track.segments]

    assert [len(s) for s in ours] == [len(s) for s in theirs]
    for a, b in zip(itertools.chain(*ours), itertools.chain(*theirs), strict=True):
        assert (a.latitude, a.longitude, a.elevation, a.time, a.satellites, a.hdop, a.speed, a.course) == (
            b.latitude,
            b.longitude,
            b.elevation,
            b.time,
            b.satellites,
            b.horizontal_dilution,
            b.speed,
            b.course,
        )


def test_a_speed_extension_counts_at_any_depth_under_any_prefix_and_the_first_with_text_wins():
    extensions = (
        "<extensions><x:TrackPointExtension xmlns:x='urn:x'><x:Speed></x:Speed><x:deep><y:speed xmlns:y='urn:y'>"
        "4.5</y:speed></x:deep><x:speed>9</x:speed><x:course>nan</x:course></x:TrackPointExtension></extensions>"
    )
    [[point]] = parse(make_gpx(trkpt(inner=f"<ele> 12.5 </ele><ele>99</ele>{extensions}<speed>3</speed>")))
    assert (point.elevation, point.extension_speed, point.extension_course, point.speed) == (12.5, 4.5, None, None)


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("<ele>high</ele>", "track point 1 has <ele> 'high', not a number"),
        ("<sat>7.5</sat>", "track point 1 has <sat> '7.5', not a whole number"),
        (f"<hdop>{'9' * 2000}</hdop>", "track point 1 has <hdop> a value too long to read, not a number"),
    ],
)
def test_a_value_that_is_not_a_number_makes_the_file_invalid_as_gpxpy_has_it(inner, message):
    with pytest.raises(GpxError, match=f"^invalid GPX: {re.escape(message)}$"):
        parse(make_gpx(trkpt(inner=inner)))


NAMED = make_gpx(trkpt(inner="<name>Kärkölä – Ääkkönen</name>"), trkpt("60.001", time="2026-11-20T08:01:00Z"))


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("UTF-8 with a byte order mark", b"\xef\xbb\xbf" + NAMED),
        ("UTF-16, little end first", NAMED.decode().replace("UTF-8", "UTF-16").encode("utf-16-le")),
        ("UTF-16 with a byte order mark", NAMED.decode().replace("UTF-8", "UTF-16").encode("utf-16")),
        ("UTF-16 without a declaration", NAMED.decode().replace(' encoding="UTF-8"', "").encode("utf-16-be")),
        ("ISO-8859-1", NAMED.decode().replace("–", "-").replace("UTF-8", "ISO-8859-1").encode("latin-1")),
        ("latin1", NAMED.decode().replace("–", "-").replace("UTF-8", "latin1").encode("latin-1")),
    ],
)
def test_a_file_in_utf16_or_latin1_imports_as_its_utf8_original(org_a, encoding, data):
    assert import_gpx(make_device(org_a), data).summary() == "2 points read, 2 stored, 0 duplicates, 0 rejected"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (NAMED.decode().encode("utf-16"), "the file declares encoding 'UTF-8' but is UTF-16 text"),
        (NAMED.replace(b"UTF-8", b"UTF-16"), "the file declares encoding 'UTF-16' but is UTF-8 text"),
        (NAMED.replace(b"UTF-8", b"US-ASCII"), "not US-ASCII text (byte 170)"),
        (b"\xef\xbb\xbf" + NAMED.replace(b"UTF-8", b"ISO-8859-1"), "declares encoding 'ISO-8859-1' but is UTF-8 text"),
    ],
)
def test_a_file_whose_bytes_contradict_its_declared_encoding_is_refused(data, message):
    with pytest.raises(GpxError, match=re.escape(message)):
        parse(data)
