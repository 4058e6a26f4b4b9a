"""The real GPS tracks in tests/fixtures/real-tracks (provenance and licences in its README) as engine Tracks:
one loader for the tests and for bench/real_tracks.py.

GPX files go through fleet's own GPX import (its checks and its speeds), as a user's upload would. GeoLife
reports no speed: its ``speed`` is NaN, as a receiver that sends none would give; a caller that needs speeds
derives them (see ``step_speeds``)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fleet.reports.engine import Track
from fleet.tracking import gpximport

TRACKS = Path(__file__).resolve().parent / "fixtures" / "real-tracks"
GPX_FILES = {"bus": "bus-304-limerick.gpx", "car": "car-visnjan-croatia.gpx", "hike": "hike-mojstrovka-bad-time.gpx"}
NAMES = ("bus", "car", "hike", "geolife")


def gpx(name: str) -> tuple[Track, gpximport.ImportResult]:
    """The GPX track ``name`` as GPX import reads it, with the import's counts (read, rejected, reasons)."""
    result = gpximport.ImportResult()
    segments = gpximport.parse((TRACKS / GPX_FILES[name]).read_bytes())
    fixes = sorted(gpximport.records(1, segments, result), key=lambda r: r.fix_time)
    track = Track(
        t=np.array([r.fix_time.timestamp() for r in fixes], dtype=float),
        lat=np.array([r.latitude for r in fixes], dtype=float),
        lon=np.array([r.longitude for r in fixes], dtype=float),
        speed=np.array([np.nan if r.speed is None else r.speed for r in fixes], dtype=float),
        altitude=np.array([np.nan if r.altitude is None else r.altitude for r in fixes], dtype=float),
    )
    return track, result


def geolife() -> Track:
    """The GeoLife user's five trajectories as one device's track (duplicate times dropped); speed unknown."""
    with (TRACKS / "geolife-beijing-demodata.csv").open() as f:
        rows = sorted(
            (datetime.fromisoformat(r["t"]).astimezone(UTC).timestamp(), float(r["Y"]), float(r["X"]))
            for r in csv.DictReader(f, delimiter=";")
        )
    t, lat, lon = (np.array(column) for column in zip(*rows, strict=True))
    t, keep = np.unique(t, return_index=True)
    return Track(t=t, lat=lat[keep], lon=lon[keep], speed=np.full(len(t), np.nan))


def load(name: str) -> Track:
    return geolife() if name == "geolife" else gpx(name)[0]


def step_speeds(track: Track) -> np.ndarray:
    """km/h of the step into each fix (equirectangular; 0 for the first), for callers that need a speed column."""
    lat, lon, t = track.lat, track.lon, track.t
    coslat = np.cos(np.radians(lat[:-1]))
    metres = np.hypot(np.diff(lat), np.diff(lon) * coslat) * 111_195
    return np.r_[0.0, metres / np.maximum(np.diff(t), 1) * 3.6]
