"""Fixtures for real clients against the server: a loopback receiver.

The delivery schedule keeps its real timeouts here: a compressed one would time
attempts out while the SDK keeps the cores busy, and exactly-once is what is tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.runtime.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
