"""`reconcile validate` and `reconcile schema`: the inventory, checked without a server."""

from __future__ import annotations

import sys

import click

from reconcile.cli.exits import EXIT_INVALID
from reconcile.cli.options import root_options, strict_option
from reconcile.core.errors import InvalidInventory, Issue
from reconcile.core.model import Inventory
from reconcile.inventory import project
from reconcile.inventory.load import load_checked
from reconcile.inventory.schema import schema_text
from reconcile.render import issues as issue_render


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(issue_render.FORMATS),
    default="text",
    show_default=True,
    help="github prints ::error annotations for pull requests.",
)
@strict_option
@root_options
def validate(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check the inventory under PATHS (default: automations/) without contacting a server.

    \b
    Examples:
      reconcile validate
      reconcile validate automations/team.yaml --strict
      reconcile validate --format github      # annotations in a pull request
    """
    try:
        inventory, warnings = load_checked(paths or project.default_paths(), strict)
    except InvalidInventory as invalid:
        count = len(invalid.issues)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        click.echo(issue_render.render(invalid.issues, fmt, summary, invalid.warnings), nl=False)
        sys.exit(EXIT_INVALID)
    counts = ", ".join(
        counted(len(items), noun)
        for items, noun in (
            (inventory.secrets, "secret"),
            (inventory.webhooks, "webhook"),
            (inventory.automations, "automation"),
        )
    )
    summary = f"valid: {counts}{warned(warnings)}"
    click.echo(issue_render.render([], fmt, summary, warnings), nl=False)


def counted(count: int, noun: str) -> str:
    """`1 webhook`, `2 webhooks`, `0 webhooks`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def warned(warnings: list[Issue]) -> str:
    if not warnings:
        return ""
    count = len(warnings)
    return f"; {count} warning{'s' if count != 1 else ''} (errors with --strict)"


def load_noted(paths: tuple[str, ...], strict: bool) -> Inventory:
    """The inventory, its warnings shown on stderr (stdout may be a JSON plan)."""
    inventory, warnings = load_checked(paths, strict)
    if warnings:
        text = issue_render.render([], "text", warned(warnings)[2:], warnings)
        click.echo(text, err=True, nl=False)
    return inventory


@click.command("schema")
def schema_command() -> None:
    """Print the inventory's JSON Schema (for editors and other tools)."""
    click.echo(schema_text(), nl=False)


COMMANDS = (validate, schema_command)
