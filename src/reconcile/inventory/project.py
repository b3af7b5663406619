"""The project a command runs in: its root folder, its inventory and its embedded server.

The root is the nearest folder at or above the working directory that holds
`.reconcile/`, `automations/` or `.git`, so every command finds the same embedded
database and the same inventory from any subfolder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reconcile.inventory import loader
from reconcile.inventory.loader import discover

STATE_DIR = ".reconcile"
INVENTORY_DIR = loader.INVENTORY_DIR
MARKERS = (STATE_DIR, INVENTORY_DIR, ".git")


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the working directory) with a marker."""
    here = Path(os.path.abspath(start or Path.cwd()))
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in MARKERS):
            return folder
    return here


def default_db(root: Path | None = None) -> Path:
    """The embedded server's database: `.reconcile/server.db` in the project root."""
    return (root or find_root()) / STATE_DIR / "server.db"


def inventory_dir(root: Path | None = None) -> Path:
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


def covers_inventory(paths: Sequence[str], root: Path | None = None) -> bool:
    """True when `paths` name every file of the project's inventory (`automations/`).

    Only such a plan may delete: a managed object missing from a part of the
    inventory may well be declared in another part.
    """
    folder = inventory_dir(root)
    if not folder.is_dir():
        return False
    wanted = {path.resolve() for path in discover([str(folder)])}
    given = {path.resolve() for path in discover(paths)}
    return wanted <= given
