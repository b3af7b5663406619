"""The `reconcile` command line: the only module that prints or exits.

Exit codes: 0 success; 1 invalid inventory, failed apply or server error; 2 usage
error (and, with `plan --detailed-exitcode`, "there are changes"); 3 apply refused
the plan (it changed since review, has conflicts, or needs --force).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import click

from reconcile import __version__, export, session
from reconcile import target as targets
from reconcile.errors import InvalidInventory, Issue, ReconcileError, UsageError
from reconcile.inventory import DEFAULT_PATHS, load_checked, load_inventory
from reconcile.model import Inventory
from reconcile.plan import Change
from reconcile.render import issues as issue_render
from reconcile.render import plan_markdown, plan_text, report
from reconcile.schema import schema_text

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_REFUSED = 3


class _Group(click.Group):
    """Turns the package's exceptions into messages and exit codes, in one place.

    The server's commands load on first use, so the client commands start quickly.
    """

    lazy: ClassVar[dict[str, str]] = {"serve": "serve", "server": "server"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            from reconcile.server import commands

            found: click.Command = getattr(commands, self.lazy[cmd_name])
            return found
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_USAGE)
        except session.PlanRefused as error:
            click.echo(f"refused: {error}", err=True)
            sys.exit(EXIT_REFUSED)
        except InvalidInventory as invalid:
            text = issue_render.render(
                invalid.issues, "text", "the inventory is invalid", invalid.warnings
            )
            click.echo(text, err=True, nl=False)
            sys.exit(EXIT_INVALID)
        except ReconcileError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_INVALID)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
def cli(verbose: int) -> None:
    """Webhook automations as code for Weights & Biases."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def _strict_option(command: Any) -> Any:
    return click.option(
        "--strict", is_flag=True, help="Treat warnings (likely mistakes) as errors."
    )(command)


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
@_strict_option
def validate(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check the inventory under PATHS (default: automations/) without contacting a server."""
    try:
        inventory, warnings = load_checked(paths or DEFAULT_PATHS, strict)
    except InvalidInventory as invalid:
        count = len(invalid.issues)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        click.echo(issue_render.render(invalid.issues, fmt, summary, invalid.warnings), nl=False)
        sys.exit(EXIT_INVALID)
    summary = (
        f"valid: {len(inventory.secrets)} secrets, {len(inventory.webhooks)} webhooks, "
        f"{len(inventory.automations)} automations{_warned(warnings)}"
    )
    click.echo(issue_render.render([], fmt, summary, warnings), nl=False)


def _warned(warnings: list[Issue]) -> str:
    if not warnings:
        return ""
    count = len(warnings)
    return f"; {count} warning{'s' if count != 1 else ''} (errors with --strict)"


def _load(paths: tuple[str, ...], strict: bool) -> Inventory:
    """The inventory, its warnings shown on stderr (stdout may be a JSON plan)."""
    inventory, warnings = load_checked(paths or DEFAULT_PATHS, strict)
    if warnings:
        text = issue_render.render([], "text", _warned(warnings)[2:], warnings)
        click.echo(text, err=True, nl=False)
    return inventory


@cli.command("schema")
def schema_command() -> None:
    """Print the inventory's JSON Schema (for editors and other tools)."""
    click.echo(schema_text(), nl=False)


def _target_options(command: Any) -> Any:
    command = click.option(
        "--server",
        metavar="URL",
        help="W&B server (default: RECONCILE_SERVER, else WANDB_BASE_URL, else embedded).",
    )(command)
    return click.option(
        "--db",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Database of the embedded server [default: {targets.DEFAULT_DB}].",
    )(command)


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_target_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="Also save the JSON plan here, for apply --plan."
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@_strict_option
def plan(
    paths: tuple[str, ...],
    server: str | None,
    db: Path | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    strict: bool,
) -> None:
    """Show what apply would change on the server; never changes anything."""
    inventory = _load(paths, strict)
    target = targets.choose(server, db, os.environ)
    planned = asyncio.run(session.plan(inventory, target))
    document = planned.document
    if out is not None:
        out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(plan_markdown.render(document), nl=False)
    else:
        click.echo(plan_text.render(document, color=_color()), nl=False)
    if document["conflicts"]:
        sys.exit(EXIT_INVALID)
    if detailed_exitcode and planned.plan.changes:
        sys.exit(EXIT_CHANGES)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@_target_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON plan saved by `plan --out`: apply only if it is still the plan.",
)
@click.option(
    "--fingerprint", help="The reviewed plan's fingerprint: apply only if it still matches."
)
@click.option("--auto-approve", is_flag=True, help="Apply whatever the plan is now, unreviewed.")
@click.option(
    "--force", is_flag=True, help="Allow updating or deleting more than 30 % of managed objects."
)
@click.option(
    "--prune",
    is_flag=True,
    help="With --auto-approve, also delete managed objects no longer declared.",
)
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True)
def apply(
    paths: tuple[str, ...],
    server: str | None,
    db: Path | None,
    plan_file: Path | None,
    fingerprint: str | None,
    auto_approve: bool,
    force: bool,
    prune: bool,
    concurrency: int,
) -> None:
    """Apply the reviewed plan: re-plan, refuse on any difference, then change the server."""
    reviewed = _reviewed_fingerprint(plan_file, fingerprint, auto_approve)
    inventory = load_inventory(paths or DEFAULT_PATHS)
    target = targets.choose(server, db, os.environ)
    bar = _Bar()
    try:
        _, outcome = asyncio.run(
            session.apply(
                inventory,
                target,
                fingerprint=reviewed,
                force=force,
                prune=prune,
                concurrency=concurrency,
                progress=bar,
            )
        )
    finally:
        bar.close()
    click.echo(report.render(outcome), nl=False)
    if not outcome.ok:
        sys.exit(EXIT_INVALID)


def _reviewed_fingerprint(
    plan_file: Path | None, fingerprint: str | None, auto: bool
) -> str | None:
    given = [
        name
        for name, on in (
            ("--plan", plan_file),
            ("--fingerprint", fingerprint),
            ("--auto-approve", auto),
        )
        if on
    ]
    if len(given) != 1:
        raise UsageError("give exactly one of --plan FILE, --fingerprint SHA, --auto-approve")
    if plan_file is None:
        return fingerprint
    try:
        document = json.loads(plan_file.read_text("utf-8"))
        return str(document["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"{plan_file}: not a plan saved by `reconcile plan --out` ({error})"
        ) from None


class _Bar:
    """A progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int) -> None:
        if sys.stderr.isatty() and total:
            self.bar = click.progressbar(length=total, file=sys.stderr, label="applying")
            self.bar.__enter__()

    def step(self, change: Change, outcome: str) -> None:
        if self.bar is not None:
            self.bar.label = f"{outcome} {change.key}"
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@cli.command("export")
@_target_options
@click.option("--entity", required=True, help="The team whose objects to export.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("automations"),
    show_default=True,
    help="Folder to write ENTITY.yaml into.",
)
@click.option("--adopt", is_flag=True, help="Stamp the ownership marker on what is exported.")
def export_command(
    server: str | None, db: Path | None, entity: str, out: Path, adopt: bool
) -> None:
    """Write the server's objects of an entity as inventory YAML."""
    target = targets.choose(server, db, os.environ)
    path = out / f"{entity}.yaml"
    if path.exists():  # checked before anything is read or adopted
        raise UsageError(f"{path} exists; choose another --out folder")
    state, adopted = asyncio.run(session.export(target, entity, adopt=adopt))
    out.mkdir(parents=True, exist_ok=True)
    schema_ref = os.path.relpath(Path("schema/inventory.schema.json").resolve(), out.resolve())
    path.write_text(export.render(entity, state, schema_ref), encoding="utf-8")
    click.echo(f"wrote {path}")
    if adopted:
        click.echo(f"adopted {len(adopted)} objects: " + ", ".join(k.name for k in adopted))
    for name in export.skipped(entity, state):
        click.echo(f"not exported (not expressible in the inventory): automation {name}", err=True)


@cli.command()
@_target_options
@click.option("--entity", required=True, help="The team whose apply lock to remove.")
def unlock(server: str | None, db: Path | None, entity: str) -> None:
    """Remove an apply lock left by an apply that no longer runs."""
    target = targets.choose(server, db, os.environ)
    held_by = asyncio.run(session.unlock(target, entity))
    if held_by is None:
        click.echo(f"entity {entity} is not locked")
    else:
        click.echo(f"removed the lock of entity {entity}, held by {held_by}")


def main() -> None:
    """Console-script entry point."""
    cli()
