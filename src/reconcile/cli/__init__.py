"""The command line: one module per command group; exit codes in one place.

`reconcile.cli:main` is the console script's entry point; `cli` is the click group.
"""

from __future__ import annotations

from reconcile.cli.app import cli, main

__all__ = ["cli", "main"]
