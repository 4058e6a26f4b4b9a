"""Features read from a file (``fleet.geo.files``) become geofences or POIs of one organisation, each checked
(geometry through ``checked_wkt``, fields through the model's validation) and saved through ``fleet.geo.services``
on its own: what was imported and what was refused, with the reason, for the person who uploaded the file."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError

from fleet.core.models import Organization
from fleet.geo import services
from fleet.geo.files import Feature, wkt_of
from fleet.geo.models import POI, Geofence
from fleet.geo.validation import checked_wkt

KIND_OF = {"Polygon": Geofence.Kind.POLYGON, "Point": Geofence.Kind.CIRCLE, "LineString": Geofence.Kind.CORRIDOR}
REASONS = {  # checked_wkt's reasons, in the words of a person who drew the shape
    "area: self-intersecting": "self-intersecting: its edges cross each other",
    "area: coordinates out of range": "coordinates out of range (longitude -180..180, latitude -90..90)",
    "area: empty": "the shape is empty",
    "area: a corridor needs two points": "too few points: a line needs at least 2 points",
}


class Refused(ValueError):
    pass


@dataclass
class Outcome:
    imported: list[str] = field(default_factory=list)  # names
    refused: list[tuple[str, str]] = field(default_factory=list)  # (feature label, reason)


def checked_geometry(kind: str, geometry: dict) -> GEOSGeometry:
    """The feature's geometry as the kind needs it, or ``Refused`` in plain words."""
    wkt, reason = wkt_of(geometry)
    if not reason:
        wkt, reason = checked_wkt(kind, wkt)
    if reason:
        raise Refused(REASONS.get(reason, reason.removeprefix("area: ")))
    return GEOSGeometry(wkt, srid=4326)


def _number(props: dict, key: str) -> float | None:
    value = props.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refused(f"{key} is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number) or isinstance(value, bool):
        raise Refused(f"{key} is not a number: {str(value)[:40]!r}")
    return number


def _texts(props: dict, *keys: str) -> dict:
    return {k: props[k] for k in keys if props.get(k)}


def geofence_from(organization: Organization, feature: Feature) -> Geofence:
    kind = KIND_OF.get((feature.geometry or {}).get("type"))
    if kind is None:
        raise Refused(wkt_of(feature.geometry or {})[1] or "not a shape fleet keeps")
    props = feature.properties
    geofence = Geofence(organization=organization, kind=kind, name=feature.name or f"Imported {feature.label}")
    geofence.geometry = checked_geometry(kind, feature.geometry)
    geofence.radius_m = _number(props, "radius_m") if kind == Geofence.Kind.CIRCLE else None
    geofence.width_m = _number(props, "width_m") if kind == Geofence.Kind.CORRIDOR else None
    geofence.speed_limit_kmh = _number(props, "speed_limit_kmh")
    dwell = _number(props, "dwell_s")
    if dwell is not None and not 0 <= dwell < 2**31:
        raise Refused("dwell_s must be 0 or more seconds")
    geofence.dwell_s = round(dwell or 0)
    for key, value in _texts(props, "description", "colour", "calendar").items():
        setattr(geofence, key, value)
    return geofence


def poi_from(organization: Organization, feature: Feature) -> POI:
    geometry = feature.geometry or {}
    if geometry.get("type") != "Point":
        raise Refused(f"a POI is a point, not a {geometry.get('type') or 'shape without a type'}")
    props = feature.properties
    poi = POI(organization=organization, name=feature.name or f"Imported {feature.label}")
    poi.point = checked_geometry("circle", geometry)
    poi.radius_m = _number(props, "radius_m") or poi.radius_m
    fields = _texts(props, "description", "colour", "purpose", "address", "contact_name", "contact_phone")
    for key, value in fields.items():
        setattr(poi, key, value)
    return poi


def _plain(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in error.message_dict.items())
    return " ".join(error.messages)


def _load(features: list[Feature], build, save) -> Outcome:
    outcome = Outcome()
    for feature in features:
        try:
            if feature.error:
                raise Refused(feature.error)
            obj = save(build(feature))
        except Refused as exc:
            outcome.refused.append((feature.label, str(exc)))
        except ValidationError as exc:
            outcome.refused.append((feature.label, _plain(exc)))
        else:
            outcome.imported.append(obj.name)
    return outcome


def import_geofences(organization: Organization, features: list[Feature]) -> Outcome:
    return _load(features, lambda f: geofence_from(organization, f), services.save_geofence)


def import_pois(organization: Organization, features: list[Feature]) -> Outcome:
    return _load(features, lambda f: poi_from(organization, f), services.save_poi)
