"""Reading GeoJSON and KML uploads: whole-file refusals (size, format, DTDs and entities, feature count), each
feature's reasons in plain words, and parsers that never fail on hostile bytes in any other way."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.geo import files
from fleet.geo.files import FileRefused, read, read_geojson, read_kml, wkt_of

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&lol9;</name></Placemark></kml>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&secret;</name>
<Point><coordinates>24.9,60.1</coordinates></Point></Placemark></kml>"""


def kml(*placemarks: str) -> bytes:
    body = "".join(f"<Placemark>{p}</Placemark>" for p in placemarks)
    return (
        f'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>{body}</Document></kml>'.encode()
    )


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_a_kml_with_a_dtd_or_entities_is_refused_unexpanded(data):
    with pytest.raises(FileRefused, match="declares a DTD or entities"):
        read("evil.kml", data)


def test_a_file_over_the_size_limit_is_refused():
    with pytest.raises(FileRefused, match="larger than 2 MB"):
        read("big.geojson", b" " * (files.MAX_BYTES + 1))


def test_a_file_with_too_many_features_is_refused():
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}}
    doc = {"type": "FeatureCollection", "features": [feature] * (files.MAX_FEATURES + 1)}
    with pytest.raises(FileRefused, match="1001 features; at most 1000"):
        read_geojson(json.dumps(doc).encode())
    with pytest.raises(FileRefused, match="at most 1000"):
        read_kml(kml(*["<Point><coordinates>1,2</coordinates></Point>"] * 1001))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not readable as JSON"),
        (b'{"type": "Polygon", "coordinates": []}', "not a GeoJSON FeatureCollection"),
        (b"<kml><Placemark>", "not well-formed XML"),
        (b"<gpx></gpx>", "root element is not <kml>"),
    ],
)
def test_a_file_that_is_not_geojson_or_kml_is_refused_in_plain_words(data, reason):
    with pytest.raises(FileRefused, match=reason):
        read("upload", data)


def test_kml_placemarks_give_names_geometry_and_extended_data():
    found = read_kml(
        kml(
            "<name>Depot</name><description>Gate 2</description>"
            '<ExtendedData><Data name="colour"><value>#ff0000</value></Data></ExtendedData>'
            "<Polygon><outerBoundaryIs><LinearRing><coordinates>24.9,60.1,0 24.95,60.1,0 24.95,60.15,0 24.9,60.1,0"
            "</coordinates></LinearRing></outerBoundaryIs></Polygon>",
            '<name>Road</name><ExtendedData><SchemaData><SimpleData name="width_m">40</SimpleData></SchemaData>'
            "</ExtendedData><LineString><coordinates>24.9,60.2 24.95,60.21</coordinates></LineString>",
            "<name>Nothing</name>",
            "<Point><coordinates>24.9;60.1</coordinates></Point>",
        )
    )
    depot, road, nothing, bad = found
    assert (depot.name, depot.properties, depot.geometry["type"]) == (
        "Depot",
        {"colour": "#ff0000", "description": "Gate 2"},
        "Polygon",
    )
    assert depot.geometry["coordinates"][0][1] == [24.95, 60.1]
    assert road.properties == {"width_m": "40"} and road.geometry["coordinates"] == [[24.9, 60.2], [24.95, 60.21]]
    assert (nothing.label, nothing.error) == ("feature 3 (Nothing)", "no geometry")
    assert bad.error.startswith("unreadable coordinates") and bad.label == "feature 4"


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "too few points"),
        ({"type": "LineString", "coordinates": [[0, 0], [0, 0]]}, "too few points"),
        ({"type": "Point", "coordinates": [0, 91]}, "coordinates out of range"),
        ({"type": "Point", "coordinates": ["1", 2]}, "coordinates are not numbers"),
        ({"type": "Point", "coordinates": [float("nan"), 2]}, "coordinates are not numbers"),
        ({"type": "Point", "coordinates": [1]}, "not [longitude, latitude]"),
        ({"type": "MultiPoint", "coordinates": [[1, 2]]}, "a MultiPoint is not a shape fleet keeps"),
    ],
)
def test_a_geometry_that_cannot_become_wkt_says_why(geometry, reason):
    wkt, why = wkt_of(geometry)
    assert wkt == "" and reason in why


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"type": st.just("Feature"), "geometry": json_values, "properties": json_values | st.just({})}
        ),
        max_size=5,
    )
)
def test_any_geojson_features_read_as_features_or_reasons(features):
    doc = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    for feature in read_geojson(doc):
        if feature.geometry is not None:
            wkt, why = wkt_of(feature.geometry)
            assert bool(wkt) != bool(why)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_hostile_bytes_are_a_refusal_or_features_never_a_crash(data):
    for name in ("x.kml", "x.geojson"):
        try:
            features = read(name, data)
        except FileRefused:
            continue
        assert all(isinstance(f, files.Feature) for f in features)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,-e \n", max_size=80), st.sampled_from(["Point", "LineString", "Polygon"]))
def test_any_kml_coordinates_text_is_read_or_refused_with_a_reason(text, kind):
    inner = f"<coordinates>{text}</coordinates>"
    if kind == "Polygon":
        inner = f"<outerBoundaryIs><LinearRing>{inner}</LinearRing></outerBoundaryIs>"
    (feature,) = read_kml(kml(f"<{kind}>{inner}</{kind}>"))
    assert (feature.geometry is None) == bool(feature.error)
    if feature.geometry is not None:
        wkt, why = wkt_of(feature.geometry)
        assert bool(wkt) != bool(why)
