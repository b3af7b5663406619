"""Fixtures for the embedded server: a database path, the in-process app, a populated team,
and the same team on a live server (uvicorn on 127.0.0.1, as `reconcile serve` runs it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.server.admin import listen
from reconcile.server.app import create_app
from tests.server.helpers import InProcess, World, build_world
from tests.server.live import HttpClient, running


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "server.db"


@pytest.fixture
def client(db_path: Path) -> Iterator[InProcess]:
    app = create_app(db_path)
    yield InProcess(app)
    app.state.service.close()


@pytest.fixture
def world(client: InProcess) -> World:
    return build_world(client)


@pytest.fixture
def live_world(db_path: Path) -> Iterator[World]:
    """The populated team on `reconcile serve`'s protocol and default limits, over HTTP."""
    with running(db_path, limits=listen.Limits()) as live:
        yield build_world(HttpClient(live))  # type: ignore[arg-type]
