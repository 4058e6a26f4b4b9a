"""Arrival at a task's destination, read from positions."""

import numpy as np

from fleet.dispatch.arrival import first_arrival


def test_first_arrival_needs_two_fixes_in_a_row():
    t = np.array([0.0, 60, 120, 180, 240])
    lat = np.array([60.0, 60.001, 60.0, 60.0, 60.01])  # 60.001 is 111 m away: outside a 100 m radius
    lon = np.full(5, 25.0)
    assert first_arrival(t, lat, lon, (60.0, 25.0), 100, after=0) == 120.0  # fix 0 alone is no stay
    assert first_arrival(t, lat, lon, (60.0, 25.0), 100, after=0, min_fixes=1) == 0.0
    assert first_arrival(t, lat, lon, (60.0, 25.0), 100, after=200) is None  # the stay ended at 180
