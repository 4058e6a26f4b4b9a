"""The cyclic garbage collector paused while a request builds a large result (fleet/core/gcpause.py)."""

import gc
import threading

import pytest

from fleet.core.gcpause import gc_paused, with_gc_paused


@pytest.fixture(autouse=True)
def collector_on():
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_on_again_after():
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_on_again():
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("the report failed")
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outer_one():
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_a_pause_never_turns_on_a_collector_that_was_off():
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_in_two_threads_hold_until_the_last_ends():
    first_in, second_in, first_out, second_may_end = (threading.Event() for _ in range(4))
    seen = {}

    def first():
        with gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with gc_paused():
            second_in.set()
            first_out.wait(5)
            seen["after the first ended"] = gc.isenabled()
            second_may_end.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_out.wait(5)
    second_may_end.set()
    for t in threads:
        t.join(5)
    assert seen == {"after the first ended": False}
    assert gc.isenabled()


def test_the_decorator_pauses_for_the_call_and_keeps_its_result_and_name():
    @with_gc_paused
    def view(x):
        """A view."""
        return x, gc.isenabled()

    assert view(3) == (3, False)
    assert view.__name__ == "view" and view.__doc__ == "A view."
    assert gc.isenabled()
