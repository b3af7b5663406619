"""The `reconcile` command group: logging, the command modules, the console script.

Each command group lives in its own module (`init`, `inventory`, `plan`, `export`, `github`,
`runtime`, `events`; the server's in `reconcile.server.admin`); `exits` turns
exceptions into exit codes.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from typing import ClassVar

import click

from reconcile import __version__
from reconcile.cli.exits import ExitCodes
from reconcile.cli.options import add_root_options
from reconcile.core import logsafe

# httpx imports its own command-line tool at import when rich and pygments are installed
# (0.05 s of every command that talks HTTP); reconcile never runs it. With the module
# marked absent, httpx's `from ._main import main` fails as it does without them, and
# httpx defines its stand-in.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# Each command's module, imported only when the command runs: `reconcile validate` need
# not import the HTTP client, the server or the runtime (0.3-0.4 s of a cold start).
# `tests/cli/test_cli.py` checks this table against the modules' COMMANDS.
COMMAND_MODULES: dict[str, str] = {
    "init": "reconcile.cli.init",
    "validate": "reconcile.cli.inventory",
    "schema": "reconcile.cli.inventory",
    "plan": "reconcile.cli.plan",
    "apply": "reconcile.cli.plan",
    "unlock": "reconcile.cli.plan",
    "export": "reconcile.cli.export",
    "import": "reconcile.cli.adopt",
    "forget": "reconcile.cli.adopt",
    "github": "reconcile.cli.github",
    "render": "reconcile.cli.runtime",
    "webhook": "reconcile.cli.runtime",
    "receive": "reconcile.cli.runtime",
    "emit": "reconcile.cli.events",
    "history": "reconcile.cli.events",
    "redeliver": "reconcile.cli.events",
    "deliver": "reconcile.cli.events",
    "serve": "reconcile.server.admin.commands",
    "server": "reconcile.server.admin.commands",
}


class _Group(ExitCodes):
    """Commands load on first use (`COMMAND_MODULES`), so each starts quickly."""

    lazy: ClassVar[dict[str, str]] = COMMAND_MODULES

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, verbose_first(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module = importlib.import_module(self.lazy[cmd_name])
            commands = getattr(module, "COMMANDS", None)
            if commands is None:  # the server's module names its commands
                found: click.Command = getattr(module, cmd_name)
                return add_root_options(found)
            named: click.Command = next(c for c in commands if c.name == cmd_name)
            return named
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


def main() -> None:
    """Console-script entry point."""
    cli()
