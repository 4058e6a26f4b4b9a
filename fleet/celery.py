import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleet.settings")

app = Celery("fleet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _trace_memory() -> None:
    """``FLEET_TRACE_MEMORY=<seconds>``: each worker child traces its Python allocations and logs, at most every
    that many seconds after a task, the 15 source lines whose allocations grew most since its first task (an
    operator's tool for a worker whose memory grows; tracing slows the worker, so it is off by default)."""
    every = float(os.environ.get("FLEET_TRACE_MEMORY") or 0)
    if every <= 0:
        return
    import logging
    import time
    import tracemalloc

    from celery.signals import task_postrun, worker_process_init

    log = logging.getLogger("fleet.memory")
    first: dict = {}

    @worker_process_init.connect(weak=False)
    def start(**_kw) -> None:
        tracemalloc.start(1)

    @task_postrun.connect(weak=False)
    def report(task=None, **_kw) -> None:
        if not tracemalloc.is_tracing():
            return
        now = time.monotonic()
        if "snapshot" not in first:
            first.update(snapshot=tracemalloc.take_snapshot(), at=now, logged=now)
            return
        if now - first["logged"] < every:
            return
        first["logged"] = now
        grown = tracemalloc.take_snapshot().compare_to(first["snapshot"], "lineno")[:15]
        lines = "\n".join(f"  {stat}" for stat in grown)
        log.warning("pid %d, %.0f s after its first task (now %s):\n%s", os.getpid(), now - first["at"], task, lines)


_trace_memory()


def _return_freed_memory() -> None:
    """After a task, at most every ``FLEET_MALLOC_TRIM_S`` seconds (default 30; 0: never), glibc's
    ``malloc_trim(0)``: the pages a task's transient peak (a vendor's page of thousands of positions, a fleet
    report's arrays) freed go back to the system instead of staying in the child's heap. Without it each worker
    child's RSS climbed by its peaks (the soak: +360-400 MB per worker over an hour) while its live Python
    objects stayed a few MB (``FLEET_TRACE_MEMORY``). A C library without it: nothing is done."""
    every = float(os.environ.get("FLEET_MALLOC_TRIM_S", "30") or 0)
    if every <= 0:
        return
    import ctypes
    import ctypes.util
    import time

    from celery.signals import task_postrun

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    last = [time.monotonic()]

    @task_postrun.connect(weak=False)
    def trimmed(**_kw) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            trim(0)


_return_freed_memory()
