"""The reports bench in its short mode (about 30 s; it skips the baselines unless their venv exists already).

Like every bench test (``test_benches``), it asserts that the bench measured something and judged its goal,
not the goal itself; it runs on SpatiaLite and on PostGIS, whichever the suite uses.
"""

import pytest
from django.db import connection

from tests.bench.test_benches import run_bench


@pytest.mark.django_db
def test_reports_bench():
    figures = run_bench("reports.py")
    detection, page = figures["detection"], figures["trips_page"]
    assert detection["positions"] == 20_000 and detection["ours_s"] > 0 and detection["ours_stops"] > 0
    assert page["database"] == connection.vendor and page["positions"] > 40_000 and page["trips"] > 0
    assert page["read_s"] > 0 and page["detect_range_s"] > 0
    if "trackintel" in detection:  # the baselines' venv is there: their figures are too
        assert detection["trackintel"]["ratio"] > 0 and 0 <= detection["trackintel"]["their_stops_matched"] <= 1
    else:
        assert "not installed" in figures["reason"] and figures["goal_met"] is False
