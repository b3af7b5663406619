"""Command-line options shared by the command modules: the server a command talks to, --strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from reconcile.core.model import Kind, ResourceKey


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
