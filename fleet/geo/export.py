"""Geofences and POIs written as a GeoJSON FeatureCollection or a KML document, in the forms ``fleet.geo.files``
reads back: a circle is a Point with ``radius_m`` (in KML also its outline as a polygon, for other programs), a
corridor a LineString with ``width_m``."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from fleet.core.geodesy import destination
from fleet.geo.models import POI, Geofence

KML_NS = "http://www.opengis.net/kml/2.2"
CIRCLE_CORNERS = 72  # of a circle's outline in KML: within 0.1 % of the radius


def geofence_properties(g: Geofence) -> dict:
    props = {"name": g.name, "kind": g.kind, "colour": g.colour, "description": g.description}
    props |= {"radius_m": g.radius_m, "width_m": g.width_m, "speed_limit_kmh": g.speed_limit_kmh}
    props |= {"dwell_s": g.dwell_s, "calendar": g.calendar}
    return {k: v for k, v in props.items() if v not in (None, "")}


def poi_properties(p: POI) -> dict:
    props = {"name": p.name, "purpose": p.purpose, "colour": p.colour, "radius_m": p.radius_m}
    props |= {"description": p.description, "address": p.address}
    props |= {"contact_name": p.contact_name, "contact_phone": p.contact_phone}
    return {k: v for k, v in props.items() if v not in (None, "")}


def _geometry(geometry) -> dict:
    return {"type": geometry.geom_type, "coordinates": geometry.coords}


def _feature(geometry, properties: dict) -> dict:
    return {"type": "Feature", "geometry": _geometry(geometry), "properties": properties}


def geojson(geofences: Iterable[Geofence] = (), pois: Iterable[POI] = ()) -> dict:
    features = [_feature(g.geometry, geofence_properties(g)) for g in geofences]
    features += [_feature(p.point, poi_properties(p)) for p in pois]
    return {"type": "FeatureCollection", "features": features}


def _kml_colour(colour: str, alpha: str) -> str:
    """KML writes aabbggrr."""
    rgb = colour.lstrip("#") if len(colour) == 7 else "3388ff"
    return f"{alpha}{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}"


class _Kml:
    def __init__(self, title: str) -> None:
        ET.register_namespace("", KML_NS)
        self.root = ET.Element(self.tag("kml"))
        self.document = self.sub(self.root, "Document")
        self.sub(self.document, "name", title)

    @staticmethod
    def tag(name: str) -> str:
        return f"{{{KML_NS}}}{name}"

    def sub(self, parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        node = ET.SubElement(parent, self.tag(name))
        if text is not None:
            node.text = text
        return node

    def placemark(self, props: dict, colour: str) -> ET.Element:
        mark = self.sub(self.document, "Placemark")
        self.sub(mark, "name", props.get("name", ""))
        if props.get("description"):
            self.sub(mark, "description", props["description"])
        style = self.sub(mark, "Style")
        self.sub(self.sub(style, "LineStyle"), "color", _kml_colour(colour, "ff"))
        self.sub(self.sub(style, "PolyStyle"), "color", _kml_colour(colour, "40"))
        data = self.sub(mark, "ExtendedData")
        for key, value in props.items():
            if key not in ("name", "description"):
                item = self.sub(data, "Data")
                item.set("name", key)
                self.sub(item, "value", str(value))
        return mark

    def coordinates(self, parent: ET.Element, name: str, points) -> ET.Element:
        node = self.sub(parent, name)
        self.sub(node, "coordinates", " ".join(f"{x!r},{y!r}" for x, y in points))
        return node

    def polygon(self, parent: ET.Element, rings) -> None:
        polygon = self.sub(parent, "Polygon")
        for i, ring in enumerate(rings):
            boundary = self.sub(polygon, "outerBoundaryIs" if i == 0 else "innerBoundaryIs")
            self.coordinates(boundary, "LinearRing", ring)

    def text(self) -> bytes:
        return ET.tostring(self.root, encoding="utf-8", xml_declaration=True)


def circle_ring(lat: float, lon: float, radius_m: float) -> list[tuple[float, float]]:
    """A circle's outline as (lon, lat) corners, closed."""
    ring = [destination(lat, lon, 360.0 * i / CIRCLE_CORNERS, radius_m)[::-1] for i in range(CIRCLE_CORNERS)]
    return [*ring, ring[0]]


def kml(geofences: Iterable[Geofence] = (), pois: Iterable[POI] = (), title: str = "fleet") -> bytes:
    doc = _Kml(title)
    for g in geofences:
        mark = doc.placemark(geofence_properties(g), g.colour)
        shape = g.geometry
        if g.kind == Geofence.Kind.CIRCLE:
            multi = doc.sub(mark, "MultiGeometry")
            doc.coordinates(multi, "Point", [shape.coords])
            doc.polygon(multi, [circle_ring(shape.y, shape.x, g.radius_m or 0.0)])
        elif shape.geom_type == "LineString":
            doc.coordinates(mark, "LineString", shape.coords)
        elif shape.geom_type == "MultiPolygon":
            multi = doc.sub(mark, "MultiGeometry")
            for part in shape.coords:
                doc.polygon(multi, part)
        else:
            doc.polygon(mark, shape.coords)
    for p in pois:
        mark = doc.placemark(poi_properties(p), p.colour)
        doc.coordinates(mark, "Point", [p.point.coords])
    return doc.text()
