"""Fixtures for the server runtime: a populated team (see tests/server) and a receiver."""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.server.app import create_app
from tests.server.helpers import InProcess, World, build_world
from tests.server.runtime.receiver import Receiver


@pytest.fixture
def client(tmp_path: Path) -> Iterator[InProcess]:
    app = create_app(tmp_path / "server.db")
    yield InProcess(app)
    app.state.service.close()


@pytest.fixture
def world(client: InProcess) -> World:
    return build_world(client)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(autouse=True)
def fast_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_DELIVERY_TIME_SCALE", "0.01")


# Longer than any runtime test runs, even R1 at full size on a loaded machine.
HANG_LIMIT = 600.0


@pytest.fixture(autouse=True)
def no_endless_hang() -> Iterator[None]:
    """A test still running after HANG_LIMIT seconds prints every thread's stack and ends
    the run, instead of hanging it forever."""
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()
