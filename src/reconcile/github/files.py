"""Reading what the workflow hands over: a plan saved by `plan --out`, an error text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconcile.core.errors import UsageError
from reconcile.github.body import is_fingerprint

_KEYS = ("changes", "conflicts", "unmanaged", "protected", "requires_force", "has_changes")


def read_plan(path: Path) -> dict[str, Any]:
    """The JSON plan in `path`; a UsageError naming the file when it is not one."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"{path}: cannot read a JSON plan ({error})") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path}: not a plan saved by `reconcile plan --out`")
    missing = [key for key in ("fingerprint", *_KEYS) if key not in document]
    if missing:
        raise UsageError(
            f"{path}: not a plan saved by `reconcile plan --out` (no {', '.join(missing)})"
        )
    if not is_fingerprint(document["fingerprint"]):
        raise UsageError(f"{path}: the plan's fingerprint is not 64 hex digits")
    return document


def read_error(path: Path) -> str:
    """The text of an error file (a failed step's stderr), undecodable bytes replaced."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise UsageError(f"{path}: cannot read the error file ({error.strerror})") from None
