"""Command-line options shared by the command modules: the server a command talks to, the
inventory it works on (`--env`, `--root`), --strict."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from reconcile.core.model import Kind, ResourceKey
from reconcile.inventory import project, roots

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
    """`--server URL` and `--db PATH`: a remote W&B server, or the embedded one's database;
    and the inventory's `--env`/`--root`, which also choose a server."""
    command = root_options(command)
    command = click.option(
        "--server",
        metavar="URL",
        help="W&B server (default: the inventory's in reconcile.yaml, else RECONCILE_SERVER, "
        "else WANDB_BASE_URL, else embedded).",
    )(command)
    return click.option(
        "--db",
        type=click.Path(path_type=Path),
        default=None,
        help="Database of the embedded server [default: .reconcile/server.db in the project root].",
    )(command)


def root_options(command: Any) -> Any:
    """`--env NAME` and `--root PATH`: which inventory of reconcile.yaml the command works
    on (default: the one its paths lie in, or the only one). Goes below @click.command."""

    @functools.wraps(command)
    def run(*args: Any, env: str | None, root: str | None, **kwargs: Any) -> Any:
        found = project.project_file()
        # Empty counts as not given: a workflow passes its matrix value even when empty.
        chosen = roots.select(found, env or None, root or None, kwargs.get("paths") or ())
        token = roots.ACTIVE.set(chosen)
        try:
            return command(*args, **kwargs)
        finally:
            roots.ACTIVE.reset(token)

    run = click.option(
        "--root",
        metavar="PATH",
        help="The inventory of reconcile.yaml whose folder is, holds or lies in PATH.",
    )(run)
    return click.option(
        "--env", metavar="NAME", help="The inventory of reconcile.yaml named NAME."
    )(run)


def add_root_options(command: click.Command) -> click.Command:
    """`--env`/`--root` on a command made elsewhere (the server's, which may not import
    the command line): its embedded database is then the inventory's."""
    if command.callback is None or any(p.name == "env" for p in command.params):
        return command
    wrapped = root_options(command.callback)
    command.params.extend(reversed(wrapped.__click_params__))
    del wrapped.__click_params__
    command.callback = wrapped
    return command


KINDS = ("secret", "webhook", "automation")


def only_option(command: Any) -> Any:
    """`--only KIND/ENTITY/NAME`, repeatable: narrow the plan (and apply) to these objects."""
    return click.option(
        "--only",
        metavar="KIND/ENTITY/NAME",
        multiple=True,
        callback=_selection,
        help="Only this object (repeatable), for emergencies; apply takes it only with the "
        "--fingerprint of a plan made with the same --only.",
    )(command)


def _selection(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> frozenset[ResourceKey] | None:
    keys = set()
    for value in values:
        kind, _, rest = value.partition("/")
        entity, _, name = rest.partition("/")
        if kind not in KINDS or not entity or not name:
            raise click.BadParameter(
                f"{value}: give KIND/ENTITY/NAME, KIND one of {', '.join(KINDS)} "
                "(for example automation/ml-platform/page-on-failure)",
                param_hint="--only",
            )
        keys.add(ResourceKey(cast(Kind, kind), entity, name))
    return frozenset(keys) if keys else None


def strict_option(command: Any) -> Any:
    return click.option(
        "--strict", is_flag=True, help="Treat warnings (likely mistakes) as errors."
    )(command)
