"""The demo's offline street map: build_basemap writes the committed archive byte for byte, in the Protomaps
basemap layout that the maps' style draws (earth, then roads with kind, kind_detail and name)."""

import gzip
import io
import math
from pathlib import Path

import mapbox_vector_tile
from django.core.management import call_command
from pmtiles.reader import MmapSource, Reader

from fleet.simulators.basemap import OUTPUT


def tile_at(lat: float, lon: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2
    return z, int((lon + 180) / 360 * n), int(y * n)


def read(path: Path, z: int, x: int, y: int) -> dict:
    with path.open("rb") as fh:
        data = Reader(MmapSource(fh)).get(z, x, y)
    return mapbox_vector_tile.decode(gzip.decompress(data)) if data else {}


def test_the_committed_archive_is_what_the_command_builds(tmp_path):
    built = tmp_path / "streets.pmtiles"
    out = io.StringIO()
    call_command("build_basemap", output=built, stdout=out)
    assert f"Wrote {built}: 36 tiles" in out.getvalue()
    assert built.read_bytes() == OUTPUT.read_bytes()  # rebuild and commit it when the road graph changes


def test_a_street_tile_holds_land_and_named_streets_by_kind():
    tile = read(OUTPUT, *tile_at(60.1675, 24.9500, 15))  # Esplanadi
    assert [f["properties"] for f in tile["earth"]["features"]] == [{"kind": "earth"}]
    roads = tile["roads"]["features"]
    names = {f["properties"].get("name") for f in roads}
    assert {"Pohjoisesplanadi", "Eteläesplanadi", "Unioninkatu"} <= names
    kinds = {(f["properties"]["kind"], f["properties"]["kind_detail"]) for f in roads}
    assert ("major_road", "primary") in kinds and ("minor_road", "residential") in kinds
    assert {f["geometry"]["type"] for f in roads} <= {"LineString", "MultiLineString"}


def test_far_out_tiles_show_only_the_land_and_minor_streets_come_at_zoom_12():
    assert "roads" not in read(OUTPUT, *tile_at(60.17, 24.94, 9))
    z11 = {f["properties"]["kind"] for f in read(OUTPUT, *tile_at(60.17, 24.94, 11))["roads"]["features"]}
    assert "minor_road" not in z11 and "major_road" in z11
    assert read(OUTPUT, *tile_at(52.52, 13.40, 15)) == {}  # Berlin: nothing


def test_the_header_says_where_and_how_deep():
    with OUTPUT.open("rb") as fh:
        reader = Reader(MmapSource(fh))
        header, metadata = reader.header(), reader.metadata()
    assert (header["min_zoom"], header["max_zoom"]) == (0, 15)
    assert 24.9 < header["min_lon_e7"] / 1e7 < header["max_lon_e7"] / 1e7 < 25.0
    assert "OpenStreetMap" in metadata["attribution"]
