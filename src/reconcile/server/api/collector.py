"""The cyclic garbage collector, paused while queries run.

An answer is a tree of fresh objects freed by reference counting alone. While one is
built, the collector keeps walking it (and, as it grows, the whole heap) with the
interpreter held: about half of a large answer's time, in pauses during which no
other request runs (measured in bench/README.md). So the collector is off while any
query runs, and back on when none does. A server that is never idle still collects:
once the collector has been off for `MAX_PAUSE` seconds, the young objects are
collected when a query ends.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PAUSE = 2.0  # seconds


class Collector:
    """Pauses of the collector, counted across threads."""

    def __init__(self, max_pause: float = MAX_PAUSE) -> None:
        self.max_pause = max_pause
        self._lock = threading.Lock()
        self._count = 0
        self._was_enabled = False
        self._since = 0.0

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._count == 0:
                self._was_enabled = gc.isenabled()
                self._since = time.monotonic()
                gc.disable()
            self._count += 1
        try:
            yield
        finally:
            self._resume()

    def _resume(self) -> None:
        overdue = False
        with self._lock:
            self._count -= 1
            if self._count == 0:
                if self._was_enabled:
                    gc.enable()
            elif self._was_enabled and time.monotonic() - self._since > self.max_pause:
                overdue, self._since = True, time.monotonic()
        if overdue:
            gc.collect(0)


COLLECTOR = Collector()
