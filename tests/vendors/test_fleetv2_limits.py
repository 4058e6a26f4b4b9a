"""fleet-v2's rate limits, counted at the simulator: two processes syncing two accounts of one API key never
send more than the vendor's window allows and never get a 429 (the shared bucket and the vendor's headers
keep them under it). The vendor's window is 60 s; here the simulator and the connector count over 6 s
(FLEETV2_RATE_WINDOW_S), the same limits at ten times the pace."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet.simulators.fleetv2.limits import SlidingWindows
from fleet.vendors.models import SyncRun
from tests.conftest import make_org
from tests.vendors.test_faults import _this_database_url
from tests.vendors.test_fleetv2_sync import API_KEY, account_on, fleetv2

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW_S = 6.0
RUN_S = 24.0  # four windows

SYNC_LOOP = """
import sys, time, django
django.setup()
from fleet.vendors import sync
from fleet.vendors.models import VendorAccount
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    sync.sync_account(VendorAccount.objects.get(pk=int(sys.argv[1])))
"""


@pytest.fixture(autouse=True)
def short_window(settings):
    settings.FLEETV2_RATE_WINDOW_S = WINDOW_S


def test_two_processes_sharing_one_api_key_stay_inside_the_vendors_window_and_get_no_429(simulator):
    sim = fleetv2(simulator, devices=8, history=1200, rate_window=WINDOW_S)
    org = make_org("limits")
    accounts = [account_on(sim, org=org, name=f"fleetv2-{k}", token=API_KEY) for k in (1, 2)]
    env = {
        **os.environ,
        "DATABASE_URL": _this_database_url(),
        "FLEETV2_RATE_WINDOW_S": str(WINDOW_S),
        "DJANGO_SETTINGS_MODULE": "fleet.settings",
    }
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SYNC_LOOP, str(a.pk), str(RUN_S)],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for a in accounts
    ]
    deadline = time.monotonic() + RUN_S + 60
    for proc in procs:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    truth = sim.truth()
    assert sim.stats()["rate_limited"] == 0
    assert truth["limits"]["busiest"] <= 60
    assert truth["limits"]["busiest"] >= 40, "the two processes did not push at the limit"
    for account in accounts:
        runs = SyncRun.objects.filter(account=account)
        assert runs.filter(status="ok").count() >= 2
        assert not runs.filter(error__icontains="rate limited").exists()


def test_the_simulators_window_refuses_the_61st_request_and_says_when_to_retry():
    windows = SlidingWindows(60.0)
    verdicts = [windows.check("a", (), now=1000.0 + k * 0.5) for k in range(61)]
    assert all(v.allowed for v in verdicts[:60]) and not verdicts[60].allowed
    assert [v.remaining for v in verdicts[:3]] == [59, 58, 57]
    assert verdicts[60].retry_after == 30  # the first request leaves the window at 1060
    assert windows.check("b", (), now=1030.0).allowed  # another client has its own window
    assert windows.check("a", (), now=1060.01).allowed
    assert windows.busiest("a") == 60


def test_company_wide_lists_have_their_own_stricter_window():
    windows = SlidingWindows(60.0)
    verdicts = [windows.check("a", ("company-lists",), now=1000.0 + k) for k in range(21)]
    assert all(v.allowed for v in verdicts[:20]) and not verdicts[20].allowed
    assert verdicts[0].limit == 20 and verdicts[0].remaining == 19
    assert windows.check("a", (), now=1021.0).allowed  # other endpoints still have room
