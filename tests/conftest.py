"""Shared fixtures (an isolated working directory holding inventory files) and the
suite's Hypothesis profile."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis's deadline per example and its too-slow check are wall-clock limits, which a
# busy machine misses (the suite's two workers and other work share the cores); no test
# here is about speed (bench/ is).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

WriteFiles = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture
def write_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteFiles:
    """Write files (dedented text, or raw bytes) under tmp_path/automations and cd there."""
    monkeypatch.chdir(tmp_path)

    def write(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "automations"
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return root

    return write
