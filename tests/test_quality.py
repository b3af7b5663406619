"""Lint, types and the import direction between layers are part of the suite."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "reconcile"

# module -> reconcile modules it must never import (directly)
FORBIDDEN = {
    "model": {"*"},
    "events": {"*"},
    "templating": {"*"},
    "yamlsafe": {"*"},
    "render": {"loader", "inventory", "server", "client", "cli"},
    "loader": {"schema", "semantics", "build", "inventory", "cli"},
    "schema": {"semantics", "build", "inventory", "cli"},
    "semantics": {"inventory", "cli"},
    "normalize": {"loader", "inventory", "client", "server", "cli"},
    "wire": {"loader", "inventory", "client", "server", "cli"},
    "plan": {"loader", "inventory", "client", "server", "cli", "target"},
    "apply": {"loader", "inventory", "client", "server", "cli", "target"},
    "export": {"loader", "inventory", "client", "server", "cli"},
    "client": {"loader", "inventory", "server", "cli", "session", "target"},
    "runtime": {"loader", "inventory", "server", "client", "cli", "session", "target"},
    # GitHub's side reads saved JSON plans; it never plans, applies or reads an inventory.
    "github": {"loader", "inventory", "server", "cli", "session", "target", "plan", "apply"},
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reconcile"):
            found.add(node.module.removeprefix("reconcile").lstrip("."))
            found.update(alias.name for alias in node.names if node.module == "reconcile")
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("reconcile.")
                for a in node.names
                if a.name.startswith("reconcile")
            )
    return {name.split(".")[0] for name in found if name}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_import_direction(layer: str) -> None:
    paths = (
        [SRC / f"{layer}.py"]
        if (SRC / f"{layer}.py").exists()
        else sorted((SRC / layer).glob("*.py"))
    )
    assert paths
    for path in paths:
        imported = _imports(path) - {"errors"} if layer == "render" else _imports(path)
        forbidden = FORBIDDEN[layer]
        bad = imported if "*" in forbidden else imported & forbidden
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_ruff_is_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


SKIPPING_IMPORT = "import" + "orskip"  # spelled apart so this file does not find itself


def test_the_sdk_compatibility_tests_cannot_skip() -> None:
    """`wandb` is a dev dependency: its absence fails the suite instead of skipping tests."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert [d for d in project["optional-dependencies"]["dev"] if d.startswith("wandb")] == [
        "wandb>=0.31,<0.32"
    ]
    skipping = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if SKIPPING_IMPORT in path.read_text("utf-8")
    ]
    assert skipping == []
    compat = (ROOT / "tests/server/test_sdk_compat.py").read_text("utf-8")
    assert "\nimport wandb\n" in compat
