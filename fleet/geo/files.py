"""Geofences and POIs read from uploaded GeoJSON and KML files: the file is checked as a whole (size, format,
feature count; KML through defusedxml with no DTD, so no entity expansion and no external entity), then each
feature on its own, so one bad feature is a refusal with its number, name and reason, never the end of the rest.

The file formats (properties, ExtendedData names, circles and corridors) are those ``fleet.geo.export`` writes,
described in docs/geofences.md."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BYTES = 2 * 1024 * 1024
MAX_FEATURES = 1000
MAX_POINTS = 10_000  # corners or points of one feature
TEXT_FIELDS = ("name", "description", "colour", "calendar", "kind", "purpose", "address", "contact_name")
TEXT_FIELDS += ("contact_phone",)
NUMBER_FIELDS = ("radius_m", "width_m", "speed_limit_kmh", "dwell_s")


class FileRefused(ValueError):
    """The whole file cannot be read; the message says why in plain words."""


@dataclass
class Feature:
    """One feature of a file: its number (from 1), name, GeoJSON-style geometry and properties (text or numbers,
    as the file had them), or the reason it cannot be read."""

    number: int
    name: str = ""
    geometry: dict | None = None
    properties: dict = field(default_factory=dict)
    error: str = ""

    @property
    def label(self) -> str:
        return f"feature {self.number}" + (f" ({self.name})" if self.name else "")


def read(filename: str, data: bytes) -> list[Feature]:
    """The features of a GeoJSON or KML file (told apart by the name's ending, else by the first character)."""
    if len(data) > MAX_BYTES:
        raise FileRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    name = filename.lower()
    if name.endswith(".kml") or (not name.endswith((".json", ".geojson")) and data.lstrip()[:1] == b"<"):
        return read_kml(data)
    return read_geojson(data)


def _count(n: int) -> None:
    if n > MAX_FEATURES:
        raise FileRefused(f"the file has {n} features; at most {MAX_FEATURES} are read from one file")


# ----------------------------------------------------------------------------------------------------- GeoJSON
def read_geojson(data: bytes) -> list[Feature]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise FileRefused("the file is not GeoJSON (not readable as JSON)") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileRefused("the file is not a GeoJSON FeatureCollection or Feature")
    _count(len(doc["features"]))
    return [_geojson_feature(n, f) for n, f in enumerate(doc["features"], start=1)]


def _geojson_feature(number: int, raw: object) -> Feature:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        return Feature(number, error="not a GeoJSON Feature")
    props = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
    feature = Feature(number, name=_text(props.get("name")), properties=_properties(props))
    geometry = raw.get("geometry")
    if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str):
        feature.error = "no geometry"
    else:
        feature.geometry = {"type": geometry["type"], "coordinates": geometry.get("coordinates")}
    return feature


def _text(value: object) -> str:
    """Text without NUL characters (PostgreSQL refuses them), trimmed."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def _properties(raw: dict) -> dict:
    """The properties fleet reads, "color" taken as "colour"; other names are ignored."""
    raw = {**raw, "colour": raw.get("colour", raw.get("color"))}
    props = {k: _text(raw[k]) for k in TEXT_FIELDS if isinstance(raw.get(k), str)}
    props |= {k: raw[k] for k in NUMBER_FIELDS if raw.get(k) is not None}
    return props


# --------------------------------------------------------------------------------------------------------- KML
def read_kml(data: bytes) -> list[Feature]:
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise FileRefused("the KML file declares a DTD or entities, which are not accepted") from None
    except (ParseError, ValueError):
        raise FileRefused("the file is not KML (not well-formed XML)") from None
    if _local(root.tag) != "kml":
        raise FileRefused("the file is not KML (its root element is not <kml>)")
    placemarks = [e for e in root.iter() if _local(e.tag) == "Placemark"]
    _count(len(placemarks))
    return [_placemark(n, p) for n, p in enumerate(placemarks, start=1)]


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(node: Element, name: str) -> Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _child_text(node: Element, name: str) -> str:
    child = _child(node, name)
    return (child.text or "").strip() if child is not None else ""


def _placemark(number: int, node: Element) -> Feature:
    props = _extended_data(node)
    if description := _child_text(node, "description"):
        props.setdefault("description", description)
    feature = Feature(number, name=_child_text(node, "name"), properties=_properties(props))
    geometries = [g for g in node if _local(g.tag) in ("Point", "LineString", "Polygon", "MultiGeometry")]
    try:
        if len(geometries) != 1:
            raise ValueError("no geometry" if not geometries else "several geometries")
        feature.geometry = _kml_geometry(geometries[0], props)
    except ValueError as exc:
        feature.error = str(exc)
    return feature


def _extended_data(node: Element) -> dict:
    """ExtendedData's <Data name><value> and <SchemaData><SimpleData name>, as text."""
    extended = _child(node, "ExtendedData")
    found: dict[str, str] = {}
    if extended is None:
        return found
    for item in extended.iter():
        name = item.get("name")
        if _local(item.tag) == "Data" and name:
            found[name] = _child_text(item, "value")
        elif _local(item.tag) == "SimpleData" and name:
            found[name] = (item.text or "").strip()
    return found


def _kml_geometry(node: Element, props: dict) -> dict:
    kind = _local(node.tag)
    if kind == "Point":
        return {"type": "Point", "coordinates": _coordinates(node)[0]}
    if kind == "LineString":
        return {"type": "LineString", "coordinates": _coordinates(node)}
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": _rings(node)}
    parts = [g for g in node if _local(g.tag) in ("Point", "LineString", "Polygon", "MultiGeometry")]
    types = sorted(_local(g.tag) for g in parts)
    if len(parts) == 1:
        return _kml_geometry(parts[0], props)
    if types == ["Point", "Polygon"] and "radius_m" in props:  # a circle: its centre and a drawn outline
        return _kml_geometry(next(g for g in parts if _local(g.tag) == "Point"), props)
    raise ValueError("a MultiGeometry of several shapes (give each shape its own Placemark)")


def _rings(polygon: Element) -> list[list[list[float]]]:
    rings = []
    for boundary in polygon:
        if _local(boundary.tag) in ("outerBoundaryIs", "innerBoundaryIs"):
            ring = _child(boundary, "LinearRing")
            rings.append(_coordinates(ring) if ring is not None else [])
    if not rings or _local(next(b for b in polygon if _local(b.tag).endswith("BoundaryIs")).tag) != "outerBoundaryIs":
        raise ValueError("a Polygon without an outer boundary")
    return rings


def _coordinates(node: Element) -> list[list[float]]:
    """KML "lon,lat[,alt]" tuples separated by white space."""
    text = _child_text(node, "coordinates")
    points = []
    for chunk in text.split():
        try:
            points.append([float(v) for v in chunk.split(",")][:2])
        except ValueError:
            raise ValueError(f"unreadable coordinates {chunk[:40]!r}") from None
        if len(points[-1]) != 2:
            raise ValueError(f"unreadable coordinates {chunk[:40]!r} (expected longitude,latitude)")
        if len(points) > MAX_POINTS:
            raise ValueError(f"more than {MAX_POINTS} points")
    if not points:
        raise ValueError("no coordinates")
    return points


# ---------------------------------------------------------------------------------------------- geometry → WKT
def wkt_of(geometry: dict) -> tuple[str, str]:
    """(WKT, "") of a GeoJSON-style Point, LineString or Polygon, or ("", why not) in plain words. The shape
    itself (ranges, self-intersection) is checked after, by ``fleet.geo.validation.checked_wkt``."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    try:
        if kind == "Point":
            return f"POINT ({_pair(coords)})", ""
        if kind == "LineString":
            return f"LINESTRING ({_line(coords, 2, 'a line needs at least 2 points')})", ""
        if kind == "Polygon":
            if not isinstance(coords, list) or not coords:
                raise ValueError("too few points: a polygon needs at least 3 corners")
            rings = ", ".join(f"({_ring(r)})" for r in coords)
            return f"POLYGON ({rings})", ""
    except ValueError as exc:
        return "", str(exc)
    return "", f"a {kind or 'shape without a type'} is not a shape fleet keeps (Point, LineString or Polygon)"


def _pair(value: object) -> str:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise ValueError("a point is not [longitude, latitude]")
    x, y = value[0], value[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y)):
        raise ValueError("coordinates are not numbers")
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise ValueError("coordinates out of range (longitude -180..180, latitude -90..90)")
    return f"{x!r} {y!r}"


def _line(points: object, least: int, too_few: str) -> str:
    if not isinstance(points, list):
        raise ValueError("coordinates are not a list of points")
    if len(points) > MAX_POINTS:
        raise ValueError(f"more than {MAX_POINTS} points")
    pairs = [_pair(p) for p in points]
    if len(dict.fromkeys(pairs)) < least:
        raise ValueError(f"too few points: {too_few}")
    return ", ".join(pairs)


def _ring(points: object) -> str:
    text = _line(points, 3, "a polygon needs at least 3 corners")
    pairs = text.split(", ")
    return text if pairs[0] == pairs[-1] else f"{text}, {pairs[0]}"
