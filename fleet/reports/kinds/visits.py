"""The visits report: when each vehicle entered and left each geofence and POI, how long it stayed, how
far it drove inside (Traccar's geofence enter / exit, Metrotec's POI report). The rules, with their
defaults (the module constants, overridable through ``options``), are in docs/reports-engine.md (Visits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain

import numpy as np
from django.utils import timezone

from fleet.core.geodesy import haversine_m
from fleet.geo.shapes import Place, places
from fleet.reports.engine import Params, Track
from fleet.reports.engine.motion import prepare, to_utc
from fleet.reports.ranges import iter_tracks
from fleet.reports.tables import DATETIME, DISTANCE, DURATION, INT, TEXT, Column, Report, Table
from fleet.tracking import store

MIN_FIXES = 2
MIN_DWELL_S = 0.0
BRIDGE_S = 300.0
INSIDE_AT_START, OPEN_AT_END = "inside at range start", "still inside at range end"


# ------------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """Consecutive valid fixes of one device inside one place. Indices count the device's valid fixes."""

    i0: int
    i1: int  # last fix inside
    t_in: float
    t_last: float
    t_out: float | None  # the first fix outside after the run; None: none seen (yet)
    first: tuple[float, float, float, bool]  # (t, lat, lon, moving) of the first fix inside
    last: tuple[float, float, float, bool]
    distance_m: float

    @property
    def fixes(self) -> int:
        return self.i1 - self.i0 + 1


@dataclass
class Fixes:
    """One window's valid fixes, with the per-step distance that counts (moving, no gap, prorated)."""

    offset: int  # index of the first fix among the device's valid fixes
    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    moving: np.ndarray
    step_m: np.ndarray  # len - 1

    @classmethod
    def from_track(cls, track: Track, offset: int, params: Params, start: float) -> Fixes:
        moving = prepare(track, params).moving_fix if len(track) else np.empty(0, dtype=bool)
        ok = track.valid & np.isfinite(track.lat) & np.isfinite(track.lon)
        t, lat, lon, moving = track.t[ok], track.lat[ok], track.lon[ok], moving[ok]
        step = step_metres(t[:-1], lat[:-1], lon[:-1], moving[:-1], t[1:], lat[1:], lon[1:], moving[1:], params, start)
        return cls(offset, t, lat, lon, moving, step)


def step_metres(ta, lata, lona, mova, tb, latb, lonb, movb, params: Params, start: float) -> np.ndarray:
    """Distance of steps a -> b that counts: a moving end, no no-data gap, the part after ``start``."""
    ta, tb = np.asarray(ta, dtype=float), np.asarray(tb, dtype=float)
    metres = haversine_m(lata, lona, latb, lonb)
    dt = tb - ta
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(dt > 0, np.clip((tb - start) / dt, 0.0, 1.0), (ta >= start).astype(float))
    counts = (np.asarray(mova) | np.asarray(movb)) & (dt < params.min_no_data_gap_s)
    return np.where(counts, metres * share, 0.0)


def window_runs(fx: Fixes, inside: np.ndarray) -> list[Run]:
    """Maximal runs of ``inside`` fixes in one window, vectorised; t_out None for a run reaching its end."""
    edges = np.diff(np.r_[0, inside.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    both = inside[:-1] & inside[1:]
    cum = np.r_[0.0, np.cumsum(np.where(both, fx.step_m, 0.0))]
    distance = cum[ends] - cum[starts]
    n = len(fx.t)
    runs = []
    for s, e, d in zip(starts.tolist(), ends.tolist(), distance.tolist(), strict=True):
        runs.append(
            Run(
                i0=fx.offset + s,
                i1=fx.offset + e,
                t_in=float(fx.t[s]),
                t_last=float(fx.t[e]),
                t_out=float(fx.t[e + 1]) if e + 1 < n else None,
                first=(float(fx.t[s]), float(fx.lat[s]), float(fx.lon[s]), bool(fx.moving[s])),
                last=(float(fx.t[e]), float(fx.lat[e]), float(fx.lon[e]), bool(fx.moving[e])),
                distance_m=d,
            )
        )
    return runs


def join(a: Run, b: Run, params: Params, start: float) -> Run:
    """One run from ``a`` and the later ``b`` (adjacent across a window edge, or across a bridged gap)."""
    (ta, lata, lona, mova), (tb, latb, lonb, movb) = a.last, b.first
    step = float(step_metres([ta], [lata], [lona], [mova], [tb], [latb], [lonb], [movb], params, start)[0])
    return Run(a.i0, b.i1, a.t_in, b.t_last, b.t_out, a.first, b.last, a.distance_m + step + b.distance_m)


def debounce(runs: list[Run], params: Params, start: float, min_fixes: int, bridge_s: float) -> list[Run]:
    """Join runs split by a window edge or by fewer than ``min_fixes`` outside fixes within ``bridge_s``;
    then drop runs of fewer than ``min_fixes`` fixes."""
    joined: list[Run] = []
    for run in runs:
        prev = joined[-1] if joined else None
        outside = run.i0 - prev.i1 - 1 if prev else None
        if prev is not None and (outside == 0 or (outside < min_fixes and run.t_in - prev.t_last <= bridge_s)):
            joined[-1] = join(prev, run, params, start)
        else:
            joined.append(run)
    return [r for r in joined if r.fixes >= min_fixes]


# ----------------------------------------------------------------------------------------------- visits


@dataclass
class Visit:
    place: Place
    enter: datetime  # clipped to the range start
    exit: datetime | None  # None: still inside at the range end
    dwell_s: float
    distance_m: float
    notes: list[str] = field(default_factory=list)


def visits_from_runs(place: Place, runs: list[Run], start: float, end: float, min_dwell_s: float) -> list[Visit]:
    until = min(end, timezone.now().timestamp())
    out = []
    for run in runs:
        if run.t_out is not None and run.t_out <= start:
            continue  # over before the range (seen in the fixes read before it)
        enter = max(run.t_in, start)
        leave = run.t_out if run.t_out is not None else max(until, enter)
        if leave - run.t_in < min_dwell_s:
            continue
        notes = ([INSIDE_AT_START] if run.t_in < start else []) + ([OPEN_AT_END] if run.t_out is None else [])
        out.append(
            Visit(
                place,
                to_utc(enter),
                to_utc(run.t_out) if run.t_out is not None else None,
                leave - enter,
                run.distance_m,
                notes,
            )
        )
    return out


def load_places(organization, options: dict) -> tuple[list[Place], list[str]]:
    """The organisation's geofences and POIs (only ``options["geofence"]`` / ``["poi"]`` when given), and
    notes on those skipped."""
    # a model instance (the report form's choice) or an id (a background job's options)
    geofence, poi = (getattr(x, "pk", x) for x in (options.get("geofence"), options.get("poi")))
    found, skipped = places(organization, geofence, poi)
    return found, [f"Geofence {g.name!r} has no usable shape and was skipped." for g in skipped]


def device_visits(
    device_id: int, places: list[Place], start: datetime, end: datetime, params: Params, tz: str, options: dict
) -> list[Visit]:
    """Every visit of one device to any of ``places`` overlapping [start, end), one local day in memory."""
    min_fixes = int(options.get("min_fixes", MIN_FIXES))
    a, b = start.timestamp(), end.timestamp()
    runs: dict[str, list[Run]] = {p.key: [] for p in places}
    days = (track for _, _, track in iter_tracks(device_id, start, end, margin=timedelta(0), tz=tz))
    offset = 0
    for track in chain([store.before(device_id, start, min_fixes)], days):  # inside at the start?
        fx = Fixes.from_track(track, offset, params, a)
        if len(fx.t) == 0:
            continue
        for place in places:
            pending = runs[place.key]
            if pending and pending[-1].t_out is None and pending[-1].i1 == offset - 1:
                # The first fix of this window ends the run, unless it is inside: then the run starting at it
                # is joined to this one in ``debounce`` and its exit is taken.
                pending[-1].t_out = float(fx.t[0])
            pending += window_runs(fx, place.contains(fx.lat, fx.lon, fx.t))
        offset += len(fx.t)
    visits = []
    for place in places:
        kept = debounce(runs[place.key], params, a, min_fixes, float(options.get("bridge_s", BRIDGE_S)))
        visits += visits_from_runs(place, kept, a, b, float(options.get("min_dwell_s", MIN_DWELL_S)))
    return visits


# ----------------------------------------------------------------------------------------------- report

VISIT_COLUMNS = [
    Column("device", "Device"),
    Column("place", "Place"),
    Column("place_kind", "Kind"),
    Column("enter", "Enter", DATETIME),
    Column("exit", "Exit", DATETIME),
    Column("dwell_s", "Dwell", DURATION),
    Column("distance_m", "Distance inside", DISTANCE, 2),
    Column("note", "Note"),
]
TOTAL_COLUMNS = [
    Column("place", "Place", TEXT),
    Column("place_kind", "Kind"),
    Column("visits", "Visits", INT),
    Column("devices", "Vehicles", INT),
    Column("dwell_s", "Total dwell", DURATION),
    Column("distance_m", "Distance inside", DISTANCE, 2),
]


def visits_report(organization, devices, start, end, options=None, progress=None) -> Report:
    """Visits of ``devices`` to the organisation's geofences and POIs in [start, end) (kind "visits")."""
    options = dict(options or {})
    devices = list(devices)
    params = Params.for_org(organization)
    places, notes = load_places(organization, options)
    found: list[tuple[object, Visit]] = []
    for done, device in enumerate(devices, start=1):
        found += [
            (device, v) for v in device_visits(device.pk, places, start, end, params, organization.timezone, options)
        ]
        if progress:
            progress(done, len(devices))
    found.sort(key=lambda dv: (dv[0].name, dv[0].pk, dv[1].enter, dv[1].place.name))
    rows = [
        {
            "device": device.name,
            "place": v.place.name,
            "place_kind": v.place.kind,
            "enter": v.enter,
            "exit": v.exit,
            "dwell_s": v.dwell_s,
            "distance_m": v.distance_m,
            "note": "; ".join(v.notes),
        }
        for device, v in found
    ]
    totals = place_totals(places, found)
    open_count = sum(1 for r in rows if r["exit"] is None)
    min_fixes = int(options.get("min_fixes", MIN_FIXES))
    notes.append(
        f"A visit needs at least {min_fixes} consecutive fixes inside; enter = first fix inside, "
        "exit = first fix outside."
    )
    if open_count:
        notes.append(f"{open_count} visit(s) still open at the range end: dwell counted to the range end.")
    if not places:
        notes.append("The organisation has no geofences or POIs to report on.")
    visits = Table(
        "visits",
        "Visits",
        VISIT_COLUMNS,
        rows,
        totals={
            "device": "Total",
            "dwell_s": sum(r["dwell_s"] for r in rows),
            "distance_m": sum(r["distance_m"] for r in rows),
        },
    )
    return Report(
        "visits",
        "Geofence and POI visits",
        organization.pk,
        start,
        end,
        [d.pk for d in devices],
        [visits, Table("totals", "Totals per place", TOTAL_COLUMNS, totals)],
        notes=notes,
    )


def place_totals(places: list[Place], found: list[tuple[object, Visit]]) -> list[dict]:
    """One row per place with at least one visit, in the places' order (geofences, then POIs, by name)."""
    out = []
    for place in places:
        mine = [(device, v) for device, v in found if v.place.key == place.key]
        if mine:
            out.append(
                {
                    "place": place.name,
                    "place_kind": place.kind,
                    "visits": len(mine),
                    "devices": len({device.pk for device, _ in mine}),
                    "dwell_s": sum(v.dwell_s for _, v in mine),
                    "distance_m": sum(v.distance_m for _, v in mine),
                }
            )
    return out
