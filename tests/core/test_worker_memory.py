"""A Celery worker child hands the heap pages a task freed back to the system after the task (glibc's
``malloc_trim``), so its RSS follows what it holds, not its highest peak so far. Run in a fresh interpreter:
the heap of this test process is whatever the suite left in it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import os
import fleet.celery  # connects the task_postrun handler (FLEET_MALLOC_TRIM_S read at import)
from celery.signals import task_postrun

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

junk = [bytes(3000) for _ in range(100_000)]  # ~300 MB from malloc's heap (pymalloc takes only <= 512 B)
kept = junk[::100]  # a task's result: 1 % of what it allocated, spread over the heap
del junk
before = rss_mb()
task_postrun.send(sender=None)
print(round(before), round(rss_mb()))
"""


def rss_around_a_task(trim_s: str) -> tuple[int, int]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "fleet.settings"}
    env["FLEET_MALLOC_TRIM_S"] = trim_s
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    before, after = out.stdout.split()
    return int(before), int(after)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_pages_a_task_freed_go_back_to_the_system_after_it():
    before, after = rss_around_a_task("0.000001")
    assert before > 250 and after < before / 3  # seen: 324 -> 39 MB
    before, after = rss_around_a_task("0")  # switched off: the peak stays
    assert before > 250 and after > before * 0.9
