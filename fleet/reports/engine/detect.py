"""Trips, stops and summaries from a device's track: pure functions over numpy arrays.

Everything is UTC epoch seconds inside; rows carry timezone-aware UTC datetimes; km/h, metres, seconds,
litres. The rules (what moves, what is a trip, a stop, a summary) are in docs/reports-engine.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from fleet.reports.engine.distance import average_kmh
from fleet.reports.engine.motion import (
    GPS,
    ODOMETER,
    Counters,
    Prepared,
    at,
    cumulative_time,
    distance_profile,
    extents,
    movements,
    prepare,
    sources,
    stop_spans,
    to_epoch,
    to_utc,
)
from fleet.reports.engine.params import Params
from fleet.tracking.track import Track


@dataclass
class Trip:
    start_index: int  # fix where the trip starts in the track (may lie before range_start if clipped)
    end_index: int  # fix where it ends (may lie after range_end if clipped)
    start_time: datetime  # clipped to the range
    end_time: datetime
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    duration_s: float  # driving time: start to end, short halts included
    max_speed: float  # km/h
    average_speed: float  # km/h, distance / duration
    spent_fuel_l: float | None
    clipped_start: bool  # began before range_start (the range cuts it)
    clipped_end: bool  # still running at range_end (the range cuts it)
    distance_source: str = GPS  # "odometer" or "gps"


@dataclass
class Stop:
    start_index: int
    end_index: int
    start_time: datetime
    end_time: datetime
    lat: float
    lon: float
    duration_s: float
    idle_s: float  # ignition on while stopped
    engine_hours_s: float | None  # from the engine-hours counter, else ignition-on time, else unknown
    clipped_start: bool
    clipped_end: bool


@dataclass
class NoData:
    """A silence of at least the no-data gap across which the vehicle moved at least the stop radius (or an
    implausible jump the following fixes confirmed): neither a stop nor a trip; its straight-line distance
    is reported on its own."""

    start_index: int  # the last fix before the silence
    end_index: int  # the first fix after it
    start_time: datetime  # clipped to the range
    end_time: datetime
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    distance_m: float  # straight line, the part inside the range (prorated in time when clipped)
    duration_s: float
    clipped_start: bool
    clipped_end: bool


@dataclass
class SummaryRow:
    start: datetime  # the window: the range, or one local day of it
    end: datetime
    day: date | None
    distance_m: float  # everything driven (movements too short to be trips included)
    driving_s: float
    idle_s: float
    stopped_s: float
    max_speed: float
    average_speed: float  # distance / driving time, km/h
    engine_hours_s: float | None
    spent_fuel_l: float | None
    trips: int
    stops: int
    first_start: datetime | None
    last_stop: datetime | None
    no_data_s: float = 0.0  # driving + idle + stopped + no data = the window's length
    no_data_distance_m: float = 0.0  # straight-line distance across no-data spans
    outliers: int = 0  # implausible fixes ignored


# ----------------------------------------------------------------------------------------------- detect


def _overlaps(s_t, e_t, a: float, b: float):
    return ((e_t > a) & (s_t < b)) | ((e_t == s_t) & (s_t >= a) & (s_t < b))


def _interp_point(track: Track, p: Prepared, when: float, fix: int, exact: bool) -> tuple[float, float]:
    if exact or not p.located.any():
        return float(track.lat[fix]), float(track.lon[fix])
    ok = p.located
    return float(np.interp(when, track.t[ok], track.lat[ok])), float(np.interp(when, track.t[ok], track.lon[ok]))


def _fix_speeds(p: Prepared, s: int, e: int, cs: float, ce: float) -> float:
    """The highest speed at the fixes a span's steps lead into (s + 1 .. e), inside [cs, ce]."""
    lo = max(s + 1, int(np.searchsorted(p.t, cs, side="right")))
    hi = min(e, int(np.searchsorted(p.t, ce, side="right")) - 1)
    return float(p.speed[lo : hi + 1].max()) if hi >= lo else 0.0


def _span(track: Track, p: Prepared, s: int, e: int, a: float, b: float) -> dict:
    """The fields a trip and a no-data span share: fixes s..e clipped to [a, b), their ends interpolated."""
    t = p.t
    cs, ce = max(t[s], a), min(t[e], b)
    start_lat, start_lon = _interp_point(track, p, cs, s, cs == t[s])
    end_lat, end_lon = _interp_point(track, p, ce, e, ce == t[e])
    return {
        "start_index": s,
        "end_index": e,
        "start_time": to_utc(cs),
        "end_time": to_utc(ce),
        "start_lat": start_lat,
        "start_lon": start_lon,
        "end_lat": end_lat,
        "end_lon": end_lon,
        "duration_s": float(ce - cs),
        "clipped_start": bool(t[s] < a),
        "clipped_end": bool(t[e] > b),
    }


def detect(
    track: Track, params: Params, range_start, range_end, prepared: Prepared | None = None
) -> tuple[list[Trip], list[Stop]]:
    """Trips and stops of ``track`` overlapping [range_start, range_end) (datetimes or epoch seconds).
    ``prepared``: ``motion.prepare(track, params)``, when the caller has it (to share it with ``summary``)."""
    a, b = to_epoch(range_start), to_epoch(range_end)
    p, starts, ends, trip_sources = extents(track, params, prepared)
    if p.n == 0:
        return [], []
    t = p.t
    counters = Counters(track, params)
    profile = distance_profile(p, starts, ends, trip_sources)

    trips: list[Trip] = []
    selected = np.flatnonzero(_overlaps(t[starts], t[ends], a, b))
    for k in selected.tolist():
        s, e = int(starts[k]), int(ends[k])
        cs, ce = max(t[s], a), min(t[e], b)
        distance = float(at(p, profile, ce) - at(p, profile, cs))
        trips.append(
            Trip(
                **_span(track, p, s, e, a, b),
                distance_m=distance,
                max_speed=_fix_speeds(p, s, e, cs, ce),
                average_speed=average_kmh(distance, float(ce - cs)),
                spent_fuel_l=counters.fuel_spent(cs, ce, s, e),
                distance_source=trip_sources[k],
            )
        )

    stop_starts, stop_ends = stop_spans(p, starts, ends)
    idle_cum = cumulative_time(p, p.ign_on[:-1] & p.stay)
    stops: list[Stop] = []
    located = np.flatnonzero(p.located)
    for s, e in zip(stop_starts.tolist(), stop_ends.tolist(), strict=True):
        if not _overlaps(t[s], t[e], a, b):
            continue
        cs, ce = max(t[s], a), min(t[e], b)
        idle = float(at(p, idle_cum, ce) - at(p, idle_cum, cs))
        hours = counters.engine_hours(cs, ce)
        if hours is None and p.ign_known[s : e + 1].any():
            hours = idle
        j = int(np.searchsorted(located, s))
        place = int(located[j]) if j < len(located) and located[j] <= e else s
        stops.append(
            Stop(
                start_index=s,
                end_index=e,
                start_time=to_utc(cs),
                end_time=to_utc(ce),
                lat=float(track.lat[place]),
                lon=float(track.lon[place]),
                duration_s=float(ce - cs),
                idle_s=idle,
                engine_hours_s=hours,
                clipped_start=bool(t[s] < a),
                clipped_end=bool(t[e] > b),
            )
        )
    return trips, stops


def no_data(track: Track, params: Params, range_start, range_end, prepared: Prepared | None = None) -> list[NoData]:
    """The no-data spans of ``track`` overlapping [range_start, range_end), clipped; a clipped span's distance
    is the part of its straight line inside the range, in proportion to time."""
    a, b = to_epoch(range_start), to_epoch(range_end)
    p = prepared if prepared is not None else prepare(track, params)
    out: list[NoData] = []
    t = p.t
    for s, e, metres in zip(p.gap_starts.tolist(), p.gap_ends.tolist(), p.gap_m.tolist(), strict=True):
        if not _overlaps(t[s], t[e], a, b):
            continue
        cs, ce = max(t[s], a), min(t[e], b)
        share = (ce - cs) / (t[e] - t[s]) if t[e] > t[s] else 1.0
        out.append(NoData(**_span(track, p, s, e, a, b), distance_m=float(metres * share)))
    return out


# ---------------------------------------------------------------------------------------------- summary


def day_windows(range_start, range_end, tz) -> list[tuple[float, float, date]]:
    """[start, end) of each local day of ``tz`` (a name or ZoneInfo) overlapping the range, in epoch
    seconds, clipped to the range. Days are local midnight to local midnight, so a DST day lasts 23 or 25 h.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    a, b = to_epoch(range_start), to_epoch(range_end)
    if b <= a:
        return []
    day = datetime.fromtimestamp(a, zone).date()
    windows = []
    while True:
        begin = datetime.combine(day, time(), tzinfo=zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).timestamp()
        if begin >= b:
            return windows
        windows.append((max(a, begin), min(b, end), day))
        day += timedelta(days=1)


def summary(
    track: Track,
    trips: list[Trip],
    stops: list[Stop],
    params: Params,
    range_start,
    range_end,
    split_days_tz=None,
    prepared: Prepared | None = None,
) -> list[SummaryRow]:
    """One row for the range, or one per local day of ``split_days_tz``, from ``detect``'s output.

    * distance: everything driven, movements too short to be trips included (each movement from its sane
      odometer, else from GPS); never parked wander (a stay) nor a no-data span (``no_data_distance_m``).
    * driving_s: time moving; idle_s: time in stays with the ignition on; stopped_s: the rest of the stays;
      no_data_s: the rest of the window (no-data spans, before the first and after the last fix). The four
      add up to the window's length.
    * average_speed: distance / driving_s (km/h). max_speed: the highest speed at a fix a moving step leads to.
    * engine_hours_s: from the engine-hours counter when reported, else ignition-on time, else None.
    * spent_fuel_l: fuel-level drops (refuels excluded), None without fuel data.
    * trips / stops: trips (stops) whose (clipped) start lies in the window: one already under way at the
      range start counts in the first window, and a trip across midnight on the day it began, so days add
      up to the range. first_start / last_stop: the first real departure (not clipped_start) and the last
      real arrival (not clipped_end) in the window.
    * outliers: implausible fixes (``clean.outliers``) in the window, ignored everywhere.
    """
    a, b = to_epoch(range_start), to_epoch(range_end)
    windows = day_windows(a, b, split_days_tz) if split_days_tz else [(a, b, None)]
    p = prepared if prepared is not None else prepare(track, params)
    counters = Counters(track, params)
    trip_start = np.array([tr.start_time.timestamp() for tr in trips])
    trip_end = np.array([tr.end_time.timestamp() for tr in trips])
    stop_start = np.array([st.start_time.timestamp() for st in stops])
    if p.n:
        move_starts, move_ends = movements(p)
        odo_ok, _ = sources(p, move_starts, move_ends)
        profile = distance_profile(p, move_starts, move_ends, [ODOMETER if ok else GPS for ok in odo_ok.tolist()])
        driving_cum = cumulative_time(p, p.moving)
        idle_cum = cumulative_time(p, p.stay & p.ign_on[:-1])
        stay_cum = cumulative_time(p, p.stay)
        ign_cum = cumulative_time(p, p.ign_on[:-1] & ~p.no_data)
        moving_fix = np.r_[False, p.moving]
        gap_times = (p.t[p.gap_starts], p.t[p.gap_ends])

    rows = []
    for wa, wb, day in windows:
        distance = driving = idle = stopped = gap_m = 0.0
        max_speed = 0.0
        hours = fuel = None
        outliers = 0
        if p.n:
            distance = float(at(p, profile, wb) - at(p, profile, wa))
            driving = float(at(p, driving_cum, wb) - at(p, driving_cum, wa))
            idle = float(at(p, idle_cum, wb) - at(p, idle_cum, wa))
            stopped = float(at(p, stay_cum, wb) - at(p, stay_cum, wa)) - idle
            lo, hi = np.searchsorted(p.t, [wa, wb], side="left")
            speeds = p.speed[lo:hi][moving_fix[lo:hi]]
            max_speed = float(speeds.max()) if len(speeds) else 0.0
            outliers = int(p.outlier[lo:hi].sum())
            hours = counters.engine_hours(wa, wb)
            if hours is None and p.ign_known.any():
                hours = float(at(p, ign_cum, wb) - at(p, ign_cum, wa))
            fuel = counters.fuel_spent(wa, wb, 0, p.n - 1)
            gap_m = _prorated(*gap_times, p.gap_m, wa, wb)
        started = [tr for tr, ts in zip(trips, trip_start, strict=True) if wa <= ts < wb]
        first = [tr.start_time for tr in started if not tr.clipped_start]
        ended = [tr for tr, te in zip(trips, trip_end, strict=True) if wa < te <= wb and not tr.clipped_end]
        stop_count = sum(1 for st, ss in zip(stops, stop_start, strict=True) if wa <= ss < wb)
        rows.append(
            SummaryRow(
                start=to_utc(wa),
                end=to_utc(wb),
                day=day,
                distance_m=distance,
                driving_s=driving,
                idle_s=idle,
                stopped_s=stopped,
                max_speed=max_speed,
                average_speed=average_kmh(distance, driving),
                engine_hours_s=hours,
                spent_fuel_l=fuel,
                trips=len(started),
                stops=stop_count,
                first_start=min(first) if first else None,
                last_stop=max(tr.end_time for tr in ended) if ended else None,
                no_data_s=max(0.0, (wb - wa) - driving - idle - stopped),
                no_data_distance_m=gap_m,
                outliers=outliers,
            )
        )
    return rows


def _prorated(starts: np.ndarray, ends: np.ndarray, values: np.ndarray, a: float, b: float) -> float:
    """The sum of ``values`` of spans [starts, ends], each in proportion to its time inside [a, b)."""
    if len(starts) == 0:
        return 0.0
    inside = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None)
    length = ends - starts
    share = np.where(length > 0, inside / np.where(length > 0, length, 1.0), (starts >= a) & (starts < b))
    return float((values * share).sum())


def _add_optional(x: float | None, y: float | None) -> float | None:
    return y if x is None else x if y is None else x + y


def combine_summaries(rows: list[SummaryRow]) -> SummaryRow:
    """One row for consecutive windows (e.g. the days of a range, or the windows of a chunked report)."""
    if not rows:
        raise ValueError("nothing to combine")
    distance = sum(r.distance_m for r in rows)
    driving = sum(r.driving_s for r in rows)
    hours = fuel = None
    for r in rows:
        hours, fuel = _add_optional(hours, r.engine_hours_s), _add_optional(fuel, r.spent_fuel_l)
    firsts = [r.first_start for r in rows if r.first_start]
    lasts = [r.last_stop for r in rows if r.last_stop]
    return SummaryRow(
        start=rows[0].start,
        end=rows[-1].end,
        day=None,
        distance_m=distance,
        driving_s=driving,
        idle_s=sum(r.idle_s for r in rows),
        stopped_s=sum(r.stopped_s for r in rows),
        max_speed=max(r.max_speed for r in rows),
        average_speed=average_kmh(distance, driving),
        engine_hours_s=hours,
        spent_fuel_l=fuel,
        trips=sum(r.trips for r in rows),
        stops=sum(r.stops for r in rows),
        first_start=min(firsts) if firsts else None,
        last_stop=max(lasts) if lasts else None,
        no_data_s=sum(r.no_data_s for r in rows),
        no_data_distance_m=sum(r.no_data_distance_m for r in rows),
        outliers=sum(r.outliers for r in rows),
    )


def stitch(rows: list[Trip] | list[Stop] | list[NoData]) -> list:
    """Join trips (or stops) that chunked detection cut at a window boundary.

    Rows from consecutive windows, in time order: a row clipped at its end and the next row clipped at its
    start at the same instant are one trip (stop). Indices of a stitched row refer to different chunks'
    tracks: the start index to the first, the end index to the last.
    """
    out: list = []
    for row in rows:
        prev = out[-1] if out else None
        if prev is not None and prev.clipped_end and row.clipped_start and prev.end_time == row.start_time:
            out[-1] = _join(prev, row)
        else:
            out.append(row)
    return out


def _join(x, y):
    duration = x.duration_s + y.duration_s
    common = {
        "start_index": x.start_index,
        "end_index": y.end_index,
        "start_time": x.start_time,
        "end_time": y.end_time,
        "duration_s": duration,
        "clipped_start": x.clipped_start,
        "clipped_end": y.clipped_end,
    }
    if isinstance(x, NoData):
        return NoData(
            **common,
            start_lat=x.start_lat,
            start_lon=x.start_lon,
            end_lat=y.end_lat,
            end_lon=y.end_lon,
            distance_m=x.distance_m + y.distance_m,
        )
    if isinstance(x, Stop):
        return Stop(
            **common,
            lat=x.lat,
            lon=x.lon,
            idle_s=x.idle_s + y.idle_s,
            engine_hours_s=_add_optional(x.engine_hours_s, y.engine_hours_s),
        )
    distance = x.distance_m + y.distance_m
    return Trip(
        **common,
        start_lat=x.start_lat,
        start_lon=x.start_lon,
        end_lat=y.end_lat,
        end_lon=y.end_lon,
        distance_m=distance,
        max_speed=max(x.max_speed, y.max_speed),
        average_speed=average_kmh(distance, duration),
        spent_fuel_l=_add_optional(x.spent_fuel_l, y.spent_fuel_l),
        distance_source=x.distance_source if x.distance_source == y.distance_source else GPS,
    )


# ---------------------------------------------------------------------------------------------- windows


class WindowResult(NamedTuple):
    """Trips, stops, summary rows and no-data spans of a window (or of windows joined)."""

    trips: list[Trip]
    stops: list[Stop]
    rows: list[SummaryRow]
    gaps: list[NoData]


def detect_window(track: Track, params: Params, win_start, win_end, tz=None) -> WindowResult:
    """One window of a long range: trips, stops and no-data spans of the track (loaded with the data around
    the window) clipped to the window, and its summary rows (one per local day of ``tz``, else one)."""
    prepared = prepare(track, params)  # shared by detection and the summary
    win_trips, win_stops = detect(track, params, win_start, win_end, prepared)
    rows = summary(track, win_trips, win_stops, params, win_start, win_end, tz, prepared)
    return WindowResult(win_trips, win_stops, rows, no_data(track, params, win_start, win_end, prepared))


def join_windows(results: Iterable[WindowResult]) -> WindowResult:
    """Consecutive windows' results as one: trips, stops and no-data spans cut at a window boundary stitched
    back together, summary rows concatenated (a trip or stop continuing from the previous window counts
    there only)."""
    trips: list[Trip] = []
    stops: list[Stop] = []
    rows: list[SummaryRow] = []
    gaps: list[NoData] = []
    for win_trips, win_stops, win_rows, win_gaps in results:
        if continues(trips, win_trips):
            win_rows[0].trips -= 1
        if continues(stops, win_stops):
            win_rows[0].stops -= 1
        rows.extend(win_rows)
        trips.extend(win_trips)
        stops.extend(win_stops)
        gaps.extend(win_gaps)
    return WindowResult(stitch(trips), stitch(stops), rows, stitch(gaps))


def continues(before: list, now: list) -> bool:
    """Whether the first trip (stop) of ``now`` goes on from the last of ``before``: cut at the edge between
    two consecutive windows."""
    return bool(
        before and now and before[-1].clipped_end and now[0].clipped_start and before[-1].end_time == now[0].start_time
    )
