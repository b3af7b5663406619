"""The exception tree and the `Issue` value every user-facing problem becomes.

    ReconcileError                 base of everything this package raises on purpose
    ├── InvalidInventory           the inventory has issues; carries all of them
    ├── UsageError                 the command line asks for something impossible
    └── ServerError                a backend answered with a failure (later issues)

Library code raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconcile.core.model import Location


@dataclass(frozen=True, order=True)
class Issue:
    """One problem found in the inventory, at a place in a file."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ReconcileError(Exception):
    """Base of all errors raised on purpose by reconcile."""


class InvalidInventory(ReconcileError):
    """Raised when loading or validating found problems; `issues` holds all of them, sorted."""

    def __init__(self, issues: list[Issue], warnings: list[Issue] | None = None) -> None:
        self.issues = sorted(issues)
        self.warnings = sorted(warnings or [])
        super().__init__(f"{len(self.issues)} problem(s) in the inventory")


class UsageError(ReconcileError):
    """Raised when arguments or the environment make a command impossible to run."""


class ServerError(ReconcileError):
    """Raised when a server answers a request with a failure."""
