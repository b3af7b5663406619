"""Fixtures for the embedded server: a database path, the in-process app, a populated team."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.server.app import create_app
from tests.server.helpers import InProcess, World, build_world


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
