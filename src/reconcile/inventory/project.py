"""The project a command runs in: its root folder, its inventory and its embedded server.

The root is the nearest folder at or above the working directory that holds
`reconcile.yaml`, `.reconcile/`, `automations/` or `.git`, so every command finds the
same embedded database and the same inventory from any subfolder. When `reconcile.yaml`
names inventories, the one a command works on (`roots.active()`) has its own folder and
embedded database.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reconcile.inventory import loader, roots
from reconcile.inventory.loader import discover

STATE_DIR = ".reconcile"
INVENTORY_DIR = loader.INVENTORY_DIR
MARKERS = (roots.PROJECT_FILE, STATE_DIR, INVENTORY_DIR, ".git")


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the working directory) with a
    project file, else the nearest with a marker."""
    here = Path(os.path.abspath(start or Path.cwd()))
    # A project file above an `automations/` still makes its folder the root.
    for folder in (here, *here.parents):
        if (folder / roots.PROJECT_FILE).is_file():
            return folder
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in MARKERS):
            return folder
    return here


def default_db(root: Path | None = None) -> Path:
    """The embedded server's database: `.reconcile/server.db` in the project root (the
    chosen inventory's own with a project file)."""
    chosen = roots.active()
    if chosen is not None and root is None:
        return chosen.db
    return (root or find_root()) / STATE_DIR / "server.db"


def inventory_dir(root: Path | None = None) -> Path:
    """The inventory's folder: the chosen inventory's with a project file, else `automations/`."""
    chosen = roots.active()
    if chosen is not None:
        return chosen.folder
    return (root or find_root()) / INVENTORY_DIR


def default_paths(root: Path | None = None) -> tuple[str, ...]:
    """The whole inventory, as a path relative to the working directory when possible."""
    return (shown(inventory_dir(root)),)


def shown(path: Path) -> str:
    """A path for messages: relative to the working directory (`../x` included)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


def inventory_shown(root: Path | None = None) -> str:
    """The inventory's folder for messages, with a slash: `automations/`, `envs/prod/`."""
    return shown(inventory_dir(root)) + "/"


def covers_inventory(paths: Sequence[str], root: Path | None = None) -> bool:
    """True when `paths` name every file of the project's inventory (`automations/`, or
    the chosen inventory's folder).

    Only such a plan may delete: a managed object missing from a part of the
    inventory may well be declared in another part.
    """
    folder = inventory_dir(root)
    if not folder.is_dir():
        return False
    wanted = {path.resolve() for path in discover([str(folder)])}
    given = {path.resolve() for path in discover(paths)}
    return wanted <= given


def project_file(root: Path | None = None) -> roots.Project | None:
    """The project's `reconcile.yaml`, read and checked; None when there is none."""
    return roots.load(root or find_root())
