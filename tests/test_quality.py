"""Lint, types and the import direction between layers are part of the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "reconcile"

LINT_IMPORTS = "from importlinter.cli import lint_imports_command as run; run()"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the contracts in `root`'s pyproject.toml, over `root`'s src/."""
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        check=False,
    )


def test_imports_follow_the_pipeline() -> None:
    """The layers, the forbidden imports and the acyclic folders of pyproject.toml hold."""
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 8 kept, 0 broken." in done.stdout


def test_a_back_edge_breaks_the_import_contract(tmp_path: Path) -> None:
    """A copy of the source with one import running back up the pipeline fails the check."""
    shutil.copytree(SRC, tmp_path / "src" / "reconcile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # The runtime sits below the inventory: it must not reach up into it.
    slack = tmp_path / "src" / "reconcile" / "runtime" / "slack.py"
    slack.write_text(slack.read_text("utf-8") + "\nfrom reconcile.inventory import credentials\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Contracts: 6 kept, 2 broken." in done.stdout
    assert "reconcile.runtime is not allowed to import reconcile.inventory" in done.stdout
    assert "- reconcile.runtime.slack -> reconcile.inventory.credentials" in done.stdout
    assert "- .runtime -> .inventory (1 import)" in done.stdout


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
