"""Python's cyclic garbage collector paused while a large short-lived result is built: a report page or
download (``with_gc_paused`` on the views), a live map's snapshot, an ingest batch (its containers per position
live until the batch ends), a chunk of rows read from SQLite.

A fleet's report allocates hundreds of thousands of objects that live until the page is rendered (6,000
devices, their summary rows, the decoded cache entries): each time the survivors grow by a quarter of the
heap, CPython runs a full collection over every object of the process — in a web process also the live
sockets' state — and a fleet summary met several of them (the soak's kept database: the page 0.42–0.58 s with
the collector on, 0.31–0.35 s paused). Reference counting still frees everything acyclic meanwhile; the
cycles wait for the next collection after the pause.

The collector is one per process, shared by every thread: the pause lasts while any thread holds one (a
count), and it is never turned on by a pause if it was off when the first one began. Nothing paused here
builds reference cycles on purpose; what another thread makes meanwhile waits for the pause's end.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Within the block the cyclic collector does not run (in any thread of the process)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


def with_gc_paused(view: Callable) -> Callable:
    """A view (or any function) run inside ``gc_paused()``."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        with gc_paused():
            return view(*args, **kwargs)

    return wrapped
