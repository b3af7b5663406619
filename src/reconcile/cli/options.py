"""Command-line options shared by the command modules: the server a command talks to, --strict."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)`, without a repr of its result. On Python 3.11,
    `asyncio.run` ends by putting back the SIGINT handler, and `signal` builds a message
    naming the old one, which holds the main task: the task's repr includes its result,
    so a plan of 10,000 automations was printed in full to a string nobody reads
    (0.2-0.4 s of a cold `plan`; bench/README.md). The result goes out beside the task."""
    kept: list[T] = []

    async def main() -> None:
        kept.append(await coroutine)

    asyncio.run(main())
    return kept[0]


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
