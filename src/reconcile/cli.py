"""The `reconcile` command line: the only module that prints or exits.

Exit codes: 0 success, 1 the inventory (or a plan) has problems, 2 usage errors.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from reconcile import __version__
from reconcile.errors import InvalidInventory, ReconcileError, UsageError
from reconcile.inventory import DEFAULT_PATHS, load_inventory
from reconcile.render import issues as issue_render
from reconcile.schema import schema_text

EXIT_INVALID = 1
EXIT_USAGE = 2


class _Group(click.Group):
    """Turns the package's exceptions into messages and exit codes, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_USAGE)
        except ReconcileError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_INVALID)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
def cli() -> None:
    """Webhook automations as code for Weights & Biases."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(issue_render.FORMATS),
    default="text",
    show_default=True,
    help="github prints ::error annotations for pull requests.",
)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check the inventory under PATHS (default: automations/) without contacting a server."""
    try:
        inventory = load_inventory(paths or DEFAULT_PATHS)
    except InvalidInventory as invalid:
        count = len(invalid.issues)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        click.echo(issue_render.render(invalid.issues, fmt, summary), nl=False)
        sys.exit(EXIT_INVALID)
    summary = (
        f"valid: {len(inventory.secrets)} secrets, {len(inventory.webhooks)} webhooks, "
        f"{len(inventory.automations)} automations"
    )
    click.echo(issue_render.render([], fmt, summary), nl=False)


@cli.command("schema")
def schema_command() -> None:
    """Print the inventory's JSON Schema (for editors and other tools)."""
    click.echo(schema_text(), nl=False)


def main() -> None:
    """Console-script entry point."""
    cli()
