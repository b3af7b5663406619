"""The `reconcile` command group: logging, the command modules, the console script.

Each command group lives in its own module (`init`, `inventory`, `plan`, `export`, `github`,
`runtime`, `events`; the server's in `reconcile.server.admin`); `exits` turns
exceptions into exit codes.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

import click

from reconcile import __version__
from reconcile.cli import adopt, events, export, github, init, inventory, plan, runtime
from reconcile.cli.exits import ExitCodes
from reconcile.cli.options import add_root_options
from reconcile.core import logsafe


class _Group(ExitCodes):
    """The server's commands load on first use, so the client commands start quickly."""

    lazy: ClassVar[dict[str, str]] = {"serve": "serve", "server": "server"}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, verbose_first(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            from reconcile.server.admin import commands

            found: click.Command = getattr(commands, self.lazy[cmd_name])
            return add_root_options(found)
        return super().get_command(ctx, cmd_name)


_VERBOSE = re.compile(r"-v+|--verbose")


def verbose_first(args: list[str]) -> list[str]:
    """`reconcile validate -v` as `reconcile -v validate`: -v is the group's option, and
    people put it after the command. Nothing after `--` moves (it is an argument there)."""
    start = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
    end = args.index("--") if "--" in args[start:] else len(args)
    moved = [arg for arg in args[start:end] if _VERBOSE.fullmatch(arg)]
    if not moved:
        return args
    kept = [arg for arg in args[start:end] if not _VERBOSE.fullmatch(arg)]
    return [*moved, *args[:start], *kept, *args[end:]]


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
def cli(verbose: int) -> None:
    """Webhook automations as code for Weights & Biases."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logsafe.configure(level, logging.Formatter("%(levelname)s %(name)s: %(message)s"))


for _module in (init, inventory, plan, export, adopt, github, runtime, events):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
