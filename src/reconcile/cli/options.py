"""Command-line options shared by the command modules: the server a command talks to, --strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def target_options(command: Any) -> Any:
    """`--server URL` and `--db PATH`: a remote W&B server, or the embedded one's database."""
    command = click.option(
        "--server",
        metavar="URL",
        help="W&B server (default: RECONCILE_SERVER, else WANDB_BASE_URL, else embedded).",
    )(command)
    return click.option(
        "--db",
        type=click.Path(path_type=Path),
        default=None,
        help="Database of the embedded server [default: .reconcile/server.db in the project root].",
    )(command)


def strict_option(command: Any) -> Any:
    return click.option(
        "--strict", is_flag=True, help="Treat warnings (likely mistakes) as errors."
    )(command)
