"""Loading an inventory with the cyclic garbage collector paused, and what it leaves."""

from __future__ import annotations

import gc
import weakref

from reconcile.inventory.load import collector_paused


def _in_generation(value: object, generation: int) -> bool:
    return any(found is value for found in gc.get_objects(generation))


def test_what_a_paused_block_built_goes_to_the_oldest_generation_unwalked() -> None:
    assert gc.isenabled()
    walks: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            walks.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with collector_paused():
            assert not gc.isenabled()
            kept = [[index] for index in range(5000)]
        assert gc.isenabled()
        assert walks == []
        # Nothing young is left to walk: the next collection of generation 0 would
        # otherwise go over the 5,000 lists again.
        assert gc.get_count()[0] < 50
        assert _in_generation(kept[-1], 2)
        assert not _in_generation(kept[-1], 0)
    finally:
        gc.callbacks.remove(seen)


class _Node:
    def __init__(self) -> None:
        self.other: object = self


def test_cycles_built_in_a_paused_block_are_still_collected() -> None:
    with collector_paused():
        node = _Node()
        gone = weakref.ref(node)
        del node
    assert gone() is not None  # a cycle: reference counting cannot free it
    gc.collect()
    assert gone() is None


def test_the_collector_stays_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
