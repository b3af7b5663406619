"""The project file (`reconcile.yaml`): the repository's inventories, each with its folder,
its server and the variable of its key, and which one a command works on (`--env`,
`--root`, or the paths it is given). Without the file there is one inventory, as ever.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconcile.core.errors import UsageError
from reconcile.inventory.loader import load_files
from reconcile.inventory.schema import did_you_mean, human_path

if TYPE_CHECKING:  # jsonschema is imported only where a project file is read
    from jsonschema import Draft202012Validator

PROJECT_FILE = "reconcile.yaml"
STATE_DIR = ".reconcile"
EMBEDDED = "embedded"
DEFAULT_KEY_ENV = "WANDB_API_KEY"


@dataclass(frozen=True)
class Root:
    """One inventory of the project file: its name, folder, server (None: embedded),
    the environment variable of its API key, and its embedded database."""

    name: str
    folder: Path
    server: str | None
    key_env: str
    db: Path

    def shown(self) -> str:
        """The folder for messages, relative to the working directory, with a slash."""
        return _shown(self.folder) + "/"


@dataclass(frozen=True)
class Project:
    """The project file's inventories, in the order written."""

    path: Path
    roots: tuple[Root, ...]

    def names(self) -> list[str]:
        return [root.name for root in self.roots]


ACTIVE: ContextVar[Root | None] = ContextVar("reconcile_root", default=None)


def active() -> Root | None:
    """The inventory the running command works on, when the project file names any."""
    return ACTIVE.get()


@cache
def _schema() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    text = resources.files("reconcile").joinpath("data/project.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def load(folder: Path) -> Project | None:
    """The project file in `folder`, or None when there is none; UsageError when invalid."""
    path = folder / PROJECT_FILE
    if not path.is_file():
        return None
    documents, issues = load_files([path])
    if issues:
        raise UsageError(str(issues[0]))
    data = documents[0].data
    from jsonschema.exceptions import best_match

    error = best_match(_schema().iter_errors(data))
    if error is not None:
        where = human_path(tuple(error.absolute_path)) or "the file"
        raise UsageError(f"{_shown(path)}: {where}: {error.message}")
    roots = tuple(_root(folder, name, spec) for name, spec in data["inventories"].items())
    _check_apart(path, roots)
    return Project(path, roots)


def _root(folder: Path, name: str, spec: dict[str, Any]) -> Root:
    server = spec.get("server", EMBEDDED)
    return Root(
        name=name,
        folder=Path(os.path.normpath(folder / spec["folder"])),
        server=None if server == EMBEDDED else server,
        key_env=spec.get("api_key_env", DEFAULT_KEY_ENV),
        db=folder / STATE_DIR / name / "server.db",
    )


def _check_apart(path: Path, roots: tuple[Root, ...]) -> None:
    """Folders may not hold one another: a file would belong to two inventories."""
    for index, one in enumerate(roots):
        for other in roots[index + 1 :]:
            if _within(one.folder, other.folder) or _within(other.folder, one.folder):
                raise UsageError(
                    f"{_shown(path)}: inventories {one.name} ({one.shown()}) and "
                    f"{other.name} ({other.shown()}) overlap; give each its own folder"
                )


def select(
    project: Project | None, env: str | None, root: str | None, paths: Sequence[str]
) -> Root | None:
    """The inventory a command works on: `--env NAME`, `--root PATH`, else the one the
    paths lie in, else the only one; None without a project file."""
    if project is None:
        if env is not None or root is not None:
            option = f"--env {env}" if env is not None else f"--root {root}"
            raise UsageError(
                f"{option}: there is no {PROJECT_FILE} in the project to name inventories in"
            )
        return None
    chosen = _by_env(project, env) if env is not None else None
    if root is not None:
        by_root = _by_root(project, root)
        if chosen is not None and by_root != chosen:
            raise UsageError(
                f"--root {root} is inventory {by_root.name}, but --env {env} is {chosen.name}"
            )
        chosen = by_root
    if chosen is None:
        return _by_paths(project, paths)
    for given in paths:
        if not _within(_absolute(given), chosen.folder):
            raise UsageError(f"{given} is not in inventory {chosen.name} ({chosen.shown()})")
    return chosen


def _by_env(project: Project, env: str) -> Root:
    for root in project.roots:
        if root.name == env:
            return root
    names = project.names()
    raise UsageError(
        f"--env {env}: {_shown(project.path)} names no such inventory "
        f"(it names {', '.join(names)}){did_you_mean(env, names)}"
    )


def _by_root(project: Project, given: str) -> Root:
    """The inventory whose folder is `given`, holds it, or lies in it (only one may)."""
    path = _absolute(given)
    found = [r for r in project.roots if _within(path, r.folder) or _within(r.folder, path)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"--root {given}: {_no_inventory(project)}")
    names = ", ".join(r.name for r in found)
    raise UsageError(f"--root {given} holds several inventories ({names}); choose one")


def _by_paths(project: Project, paths: Sequence[str]) -> Root:
    if not paths:
        here = Path.cwd()
        around = [r for r in project.roots if _within(here, r.folder) or _within(r.folder, here)]
        if len(around) == 1:  # run in one inventory's folder, or the only one
            return around[0]
        raise UsageError(
            f"{_shown(project.path)} names {len(project.roots)} inventories "
            f"({', '.join(project.names())}): choose one with --env NAME"
        )
    found: dict[str, Root] = {}
    for given in paths:
        path = _absolute(given)
        holding = [r for r in project.roots if _within(path, r.folder) or _within(r.folder, path)]
        if not holding:
            raise UsageError(f"{given} is in no inventory: {_no_inventory(project)}")
        found.update((r.name, r) for r in holding)
    if len(found) > 1:
        raise UsageError(
            f"the paths are in {len(found)} inventories ({', '.join(found)}): "
            "give the paths of one, or choose it with --env NAME"
        )
    return next(iter(found.values()))


def _no_inventory(project: Project) -> str:
    listed = ", ".join(f"{r.name} ({r.shown()})" for r in project.roots)
    return f"{_shown(project.path)} names {listed}"


def _absolute(given: str) -> Path:
    return Path(os.path.abspath(given))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
