"""Fixtures: the fake GitHub on 127.0.0.1, GitHub's environment pointing at it, and plans."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from tests.github.fake import REPOSITORY, TOKEN, FakeGitHub, serving

GOLDEN = Path(__file__).resolve().parents[1] / "render" / "golden" / "plan.json"
GITHUB_ENVS = (
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "GITHUB_EVENT_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "RECONCILE_GITHUB_AUTHOR",
)


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGitHub]:
    """The fake, with GITHUB_* set as a workflow would, and tmp_path as working directory."""
    for name in GITHUB_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with serving() as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        yield fake


def golden_plan() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(GOLDEN.read_text("utf-8"))
    return document


def variant(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `document` with `changes`, and a fingerprint of its own."""
    changed = {**copy.deepcopy(document), **changes}
    if changed["changes"] == [] and "has_changes" not in changes:
        changed["has_changes"] = False
    changed.pop("fingerprint")
    text = json.dumps(changed, sort_keys=True)
    changed["fingerprint"] = hashlib.sha256(text.encode()).hexdigest()
    return changed


def no_changes() -> dict[str, Any]:
    return variant(golden_plan(), changes=[], summary={"create": 0, "delete": 0, "update": 0})


def save(document: dict[str, Any], name: str = "plan.json") -> Path:
    path = Path(name)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def in_ascii_locale(script: str, *args: str) -> str:
    """What Python prints running `script` under the C locale without UTF-8 mode, where
    text files are read as ASCII by default (as a Windows runner reads them as cp1252)."""
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        check=False,
        encoding="utf-8",
    )
    return done.stdout + done.stderr
