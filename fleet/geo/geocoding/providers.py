"""Reverse geocoding providers: Nominatim (``/reverse?format=jsonv2``) and Photon (``/reverse``, GeoJSON). Each is
a request (path and query) and a pure function from the answer's JSON to one line of text; an answer of the
wrong shape raises ``Unreadable``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_TEXT = 300
STREET_KEYS = ("road", "pedestrian", "footway", "cycleway", "path", "square", "street")
LOCALITY_KEYS = ("city", "town", "village", "hamlet", "municipality", "suburb", "district", "locality", "county")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Unreadable(ValueError):
    """The provider's answer is not what its API documents."""


@dataclass(frozen=True)
class Provider:
    kind: str
    query: Callable[[float, float, str], dict]  # (lat, lon, language) -> query parameters
    text: Callable[[object], str]  # the answer's JSON -> one line


def nominatim_query(lat: float, lon: float, language: str) -> dict:
    query = {"format": "jsonv2", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "zoom": 18, "addressdetails": 1}
    return {**query, "accept-language": language} if language else query


def nominatim_text(payload: object) -> str:
    """ "Mannerheimintie 12, Helsinki" from the address details; the display name when they say nothing;
    "" for Nominatim's {"error": "Unable to geocode"} (nothing there)."""
    if not isinstance(payload, dict):
        raise Unreadable("not a JSON object")
    if "error" in payload:
        return ""
    details = payload.get("address")
    if details is not None and not isinstance(details, dict):
        raise Unreadable("address is not an object")
    details = details or {}
    text = compose(
        payload.get("name"), _first(details, STREET_KEYS), details.get("house_number"), _first(details, LOCALITY_KEYS)
    )
    if text:
        return text
    display = payload.get("display_name")
    if display is not None and not isinstance(display, str):
        raise Unreadable("display_name is not text")
    return clean(", ".join((display or "").split(", ")[:3]))


def photon_query(lat: float, lon: float, language: str) -> dict:
    query = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "limit": 1}
    return {**query, "lang": language} if language else query


def photon_text(payload: object) -> str:
    """The first feature's "street housenumber, city" (its name when it has no street); "" for no feature."""
    features = payload.get("features") if isinstance(payload, dict) else None
    if not isinstance(features, list):
        raise Unreadable("not a GeoJSON FeatureCollection")
    if not features:
        return ""
    properties = features[0].get("properties") if isinstance(features[0], dict) else None
    if not isinstance(properties, dict):
        raise Unreadable("a feature without properties")
    locality = _first(properties, ("city", "town", "village", "district", "locality", "county"))
    return compose(properties.get("name"), properties.get("street"), properties.get("housenumber"), locality)


def compose(name, street, number, locality) -> str:
    """ "<street> <number>, <locality>", the name standing for the street when there is none."""
    line = " ".join(filter(None, (clean(street), clean(number)))) or clean(name)
    place = clean(locality)
    parts = [line] if place == line else [part for part in (line, place) if part]
    return clean(", ".join(parts))


def clean(value) -> str:
    """Text as one line: control characters gone, spaces collapsed, cut to MAX_TEXT; a non-string is ""."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return ""
    return " ".join(CONTROL.sub(" ", str(value)).split())[:MAX_TEXT]


def _first(mapping: dict, keys: tuple[str, ...]):
    return next((mapping[k] for k in keys if isinstance(mapping.get(k), str) and mapping[k].strip()), None)


PROVIDERS = {
    "nominatim": Provider("nominatim", nominatim_query, nominatim_text),
    "photon": Provider("photon", photon_query, photon_text),
}
