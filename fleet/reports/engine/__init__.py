"""The report engine: trips, stops and summaries from a device's track, in numpy, without Django.

``params`` (the organisation's parameters), ``distance`` and ``motion`` (per-fix and per-interval arrays),
``detect`` (trips, stops, summaries, and joining the windows of a long range). The rules are in
docs/reports-engine.md.
"""

from fleet.reports.engine.clean import outliers
from fleet.reports.engine.detect import (
    NoData,
    Stop,
    SummaryRow,
    Trip,
    WindowResult,
    combine_summaries,
    continues,
    day_windows,
    detect,
    detect_window,
    join_windows,
    no_data,
    stitch,
    summary,
)
from fleet.reports.engine.params import Params
from fleet.tracking.track import Track

__all__ = [
    "NoData",
    "Params",
    "Stop",
    "SummaryRow",
    "Track",
    "Trip",
    "WindowResult",
    "combine_summaries",
    "continues",
    "day_windows",
    "detect",
    "detect_window",
    "join_windows",
    "no_data",
    "outliers",
    "stitch",
    "summary",
]
