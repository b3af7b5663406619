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
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import click

from reconcile import __version__, export, export_target, project, session
from reconcile import target as targets
from reconcile.errors import InvalidInventory, ReconcileError, UsageError
from reconcile.inventory import load_inventory
from reconcile.model import ResourceKey
from reconcile.plan import Change
from reconcile.render import issues as issue_render
from reconcile.render import plan_markdown, plan_text, report
from reconcile.schema import schema_text

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_REFUSED = 3
FINGERPRINT = re.compile(r"[0-9a-fA-F]{12,64}")


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
            click.echo(
                issue_render.render(invalid.issues, "text", "the inventory is invalid"),
                err=True,
                nl=False,
            )
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
        inventory = load_inventory(paths or project.default_paths())
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
        help="Database of the embedded server [default: .reconcile/server.db in the project root].",
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
def plan(
    paths: tuple[str, ...],
    server: str | None,
    db: Path | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
) -> None:
    """Show what apply would change on the server; never changes anything.

    Only a plan of the whole inventory (automations/) deletes: with PATHS that cover a
    part of it, managed objects they do not declare are left alone.
    """
    paths = paths or project.default_paths()
    inventory = load_inventory(paths)
    target = targets.choose(server, db, os.environ)
    whole = project.covers_inventory(paths)
    planned = asyncio.run(session.plan(inventory, target, whole=whole))
    document = {**planned.document, "target": targets.as_json(target, inventory.entities)}
    if out is not None:
        out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    headline = targets.headline(target, inventory.entities)
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(f"{headline}\n\n" + plan_markdown.render(document), nl=False)
    else:
        click.echo(f"{headline}\n" + plan_text.render(document, color=_color()), nl=False)
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
    "--fingerprint",
    help="The reviewed plan's fingerprint (or its first 12+ hex digits): apply only if it "
    "still matches.",
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
    reviewed, document = _reviewed(plan_file, fingerprint, auto_approve)
    paths = paths or project.default_paths()
    inventory = load_inventory(paths)
    target = targets.choose(server, db, os.environ)
    click.echo(targets.headline(target, inventory.entities))
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
                whole=project.covers_inventory(paths),
                reviewed=document,
            )
        )
    finally:
        bar.close()
    click.echo(report.render(outcome), nl=False)
    if not outcome.ok:
        sys.exit(EXIT_INVALID)


def _reviewed(
    plan_file: Path | None, fingerprint: str | None, auto: bool
) -> tuple[str | None, dict[str, Any] | None]:
    """The reviewed fingerprint (or prefix), and the reviewed plan when it was given."""
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
        if fingerprint is not None and not FINGERPRINT.fullmatch(fingerprint):
            raise UsageError(
                f"--fingerprint {fingerprint}: give the plan's fingerprint, or at least its "
                "first 12 hex digits"
            )
        return fingerprint, None
    if not plan_file.exists():
        raise UsageError(
            f"{plan_file}: no such file; save the reviewed plan with "
            f"`reconcile plan --out {plan_file}`"
        )
    try:
        document = json.loads(plan_file.read_text("utf-8"))
        return str(document["fingerprint"]), document
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
    help="Folder to write ENTITY.yaml into [default: the project's automations/].",
)
@click.option("--adopt", is_flag=True, help="Stamp the ownership marker on what is exported.")
def export_command(
    server: str | None, db: Path | None, entity: str, out: Path | None, adopt: bool
) -> None:
    """Write the server's objects of an entity as inventory YAML.

    Objects the inventory written to already declares are left out, and nothing is
    written (or adopted) unless the inventory still validates with the new file.
    """
    target = targets.choose(server, db, os.environ)
    root = project.find_root()
    place = export_target.destination(out or project.inventory_dir(root), entity, root)
    state, _ = asyncio.run(session.export(target, entity))  # read only, until checked
    keys = export.exported(entity, state, place.declared)
    declared = [str(r.key) for r in state.resources if r.key in place.declared]
    joins = project.shown(place.joins)
    if not keys:
        click.echo(f"nothing to write: {joins}/ already declares all {len(declared)} objects")
        return
    if declared:
        click.echo(f"not exported (already declared in {joins}/): " + ", ".join(declared), err=True)
    export_target.check(place, export.render(entity, state, place.schema_ref, place.declared))
    adopted: list[ResourceKey] = []
    if adopt:
        state, adopted = asyncio.run(session.export(target, entity, adopt=True))
    place.path.parent.mkdir(parents=True, exist_ok=True)
    text = export.render(entity, state, place.schema_ref, place.declared)
    place.path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {project.shown(place.path)}")
    if adopted:
        click.echo(f"adopted {len(adopted)} objects: " + ", ".join(k.name for k in adopted))
    _export_notes(export.skipped(entity, state), place.schema_ref is None)


def _export_notes(inexpressible: list[str], no_schema: bool) -> None:
    for name in inexpressible:
        click.echo(f"not exported (not expressible in the inventory): automation {name}", err=True)
    if no_schema:
        click.echo(
            f"no {export_target.SCHEMA} in the project, so no schema modeline: "
            f"`reconcile schema > {export_target.SCHEMA}` gives editors the schema",
            err=True,
        )


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
