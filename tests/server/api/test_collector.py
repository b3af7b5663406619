"""The collector is off while any query runs, back on when none does, and still
collects on a server that is never idle."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from reconcile.server.api.collector import Collector


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def _held_open(collector: Collector) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """A pause held by another thread until `release` is set."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with collector.paused():
            entered.set()
            release.wait(60)  # a bound against a hang: the test releases it

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(60)
    return entered, release, thread


def test_off_while_paused_and_on_after() -> None:
    collector = Collector()
    with collector.paused():
        assert gc.isenabled() is False
    assert gc.isenabled() is True


def test_on_again_only_when_the_last_pause_ends() -> None:
    collector = Collector()
    _, release, thread = _held_open(collector)
    with collector.paused():
        assert gc.isenabled() is False
    assert gc.isenabled() is False  # the other thread's query still runs
    release.set()
    thread.join(60)
    assert gc.isenabled() is True


def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with Collector().paused():
        pass
    assert gc.isenabled() is False


def _young_collections_beside_a_long_pause(max_pause: float) -> int:
    """Young collections made when a short pause ends while another is still held."""
    collector = Collector(max_pause=max_pause)
    _, release, thread = _held_open(collector)
    before = gc.get_stats()[0]["collections"]
    with collector.paused():
        pass
    after = gc.get_stats()[0]["collections"]
    release.set()
    thread.join(60)
    return after - before


def test_a_server_never_idle_still_collects_its_young_objects() -> None:
    assert _young_collections_beside_a_long_pause(max_pause=0.0) == 1
    assert gc.isenabled() is True


def test_within_the_pause_limit_nothing_is_collected() -> None:
    assert _young_collections_beside_a_long_pause(max_pause=60.0) == 0
