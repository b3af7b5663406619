"""`reconcile plan`, `reconcile apply` and `reconcile unlock`: the main job on a server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from reconcile.apply import session
from reconcile.apply import target as targets
from reconcile.cli.exits import EXIT_CHANGES, EXIT_INVALID
from reconcile.cli.inventory import load_noted
from reconcile.cli.options import only_option, run, strict_option, target_options
from reconcile.core.errors import InvalidInventory, UsageError
from reconcile.core.model import ResourceKey
from reconcile.core.safe import key_text, visible
from reconcile.inventory import project
from reconcile.inventory.load import collector_paused, load_inventory
from reconcile.plan.compute import Change
from reconcile.render import issues as issue_render
from reconcile.render import plan_markdown, plan_text, report

FINGERPRINT = re.compile(r"[0-9a-fA-F]{12,64}")


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@target_options
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
@strict_option
@only_option
def plan(
    paths: tuple[str, ...],
    server: str | None,
    db: Path | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    strict: bool,
    only: frozenset[ResourceKey] | None,
) -> None:
    """Show what apply would change on the server; never changes anything.

    Only a plan of the whole inventory (automations/) deletes: with PATHS that cover a
    part of it, managed objects they do not declare are left alone.

    \b
    Examples:
      reconcile plan                              # the embedded server
      reconcile plan --server https://api.wandb.ai --out plan.json
      reconcile plan --format markdown            # for a pull-request comment
    """
    paths = paths or project.default_paths()
    try:
        inventory = load_noted(paths, strict)
    except InvalidInventory as invalid:
        if fmt != "json":
            raise
        # A JSON reader gets a JSON answer: the problems, as `validate --format json`.
        click.echo(issue_render.render(invalid.issues, "json", "", invalid.warnings), nl=False)
        sys.exit(EXIT_INVALID)
    target = targets.choose(server, db, os.environ)
    whole = project.covers_inventory(paths)
    with collector_paused():  # the read pages and their diff are as alive as the inventory
        planned = run(session.plan(inventory, target, whole=whole, only=only))
    where = targets.as_json(target, inventory.entities, planned.creates)
    document = {**planned.document, "target": where}
    if out is not None:
        out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    headline = targets.headline(target, inventory.entities, planned.creates)
    headline += _narrowed(document)
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    elif fmt == "markdown":
        listed = targets.headline(target, inventory.entities, planned.creates, bullet="- ")
        listed += _narrowed(document, "\n\n")
        click.echo(f"{listed}\n\n" + plan_markdown.render(document), nl=False)
    else:
        click.echo(f"{headline}\n" + plan_text.render(document, color=_color()), nl=False)
    if document["conflicts"]:
        sys.exit(EXIT_INVALID)
    if detailed_exitcode and planned.plan.changes:
        sys.exit(EXIT_CHANGES)


def _narrowed(document: dict[str, Any], gap: str = "\n") -> str:
    """For a plan made with --only: what it covers, and how apply takes it."""
    if "only" not in document:
        return ""
    chosen = " ".join(f"--only {visible(s)}" for s in document["only"])
    return (
        f"{gap}Only {', '.join(visible(s) for s in document['only'])}: apply it with "
        f"`reconcile apply {chosen} --fingerprint {document['fingerprint'][:12]}`"
    )


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@target_options
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
@only_option
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
    only: frozenset[ResourceKey] | None,
) -> None:
    """Apply the reviewed plan: re-plan, refuse on any difference, then change the server.

    \b
    Examples:
      reconcile apply --plan plan.json            # exactly the plan that was reviewed
      reconcile apply --fingerprint 3bc2c37f291c
      reconcile apply --auto-approve              # whatever the plan is now
      reconcile apply --only automation/ml-platform/x --fingerprint 3bc2c37f291c
    """
    reviewed, document = _reviewed(plan_file, fingerprint, auto_approve)
    paths = paths or project.default_paths()
    inventory = load_inventory(paths)
    target = targets.choose(server, db, os.environ)
    click.echo(targets.headline(target, inventory.entities))
    bar = _Bar()
    try:
        planned, outcome = run(
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
                only=only,
            )
        )
    finally:
        bar.close()
    if planned.creates:
        made = "".join(f"\n  {line}" for line in planned.creates)
        click.echo(f"The embedded server created {len(planned.creates)}:{made}")
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
            # Names may come from the server: one holding a line break or an ANSI
            # escape must not redraw the terminal.
            self.bar.label = f"{outcome} {key_text(change.key)}"
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command()
@target_options
@click.option("--entity", required=True, help="The team whose apply lock to remove.")
def unlock(server: str | None, db: Path | None, entity: str) -> None:
    """Remove an apply lock left by an apply that no longer runs."""
    target = targets.choose(server, db, os.environ)
    held_by = asyncio.run(session.unlock(target, entity))
    if held_by is None:
        click.echo(f"entity {entity} is not locked")
    else:
        click.echo(f"removed the lock of entity {entity}, held by {held_by}")


COMMANDS = (plan, apply, unlock)
