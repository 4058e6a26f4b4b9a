"""Fixtures shared by the report tests: a logged-in client and hand-built drives."""

import html
import math
import re
from datetime import datetime, timedelta

import pytest

from fleet.core.geodesy import EARTH_RADIUS_M
from fleet.tracking.models import Position
from tests.reports.test_kinds import HEL, drive_day

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


def cell_texts(row: str) -> list[str]:
    """The text a reader sees in each ``<td>`` of a table_view row (links and escapes undone)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]


@pytest.fixture
def alice(client, user_a):
    client.force_login(user_a)
    return client


@pytest.fixture
def hel_world(world_a):
    """Org A in Europe/Helsinki; its van drives test_kinds' hand-built day (and nothing else)."""
    org = world_a["organization"]
    org.timezone = HEL
    org.save()
    Position.objects.filter(device=world_a["device"]).delete()  # drive_day has its own fix at T0
    drive_day(world_a["device"])
    return world_a


def drive(van, start: datetime, minutes: int, idle_after_min: int = 0) -> None:
    """Parked with ignition off 10 min before ``start``, then ``minutes`` at 36 km/h (600 m a minute) with
    ignition on, then ``idle_after_min`` minutes standing with the engine on, then parked with it off."""
    fixes = [(start - timedelta(minutes=10), 60.0, 0.0, False)]
    lat = 60.0
    for m in range(minutes):
        fixes.append((start + timedelta(minutes=m), lat, 36.0, True))
        lat += 600 / M_PER_DEG
    end = start + timedelta(minutes=minutes)
    fixes += [(end + timedelta(minutes=m), lat, 0.0, True) for m in range(0, idle_after_min, 10)]
    fixes += [(end + timedelta(minutes=idle_after_min + m), lat, 0.0, False) for m in range(0, 60, 10)]
    Position.objects.bulk_create(
        Position(device=van, fix_time=ts, latitude=la, longitude=25.0, speed=v, attributes={"ignition": ign})
        for ts, la, v, ign in fixes
    )
