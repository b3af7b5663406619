"""The `reconcile` command line: the only module that prints or exits.

Exit codes: 0 success; 1 invalid inventory, failed apply or server error; 2 usage
error (and, with `plan --detailed-exitcode`, "there are changes"); 3 apply refused
the plan (it changed since review, has conflicts, or needs --force); 4 `render`: the
automation would not fire on an event (`cli_runtime.EXIT_WOULD_NOT_FIRE`).
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

from reconcile import __version__, export, export_target, logsafe, project, session
from reconcile import target as targets
from reconcile.cli_options import target_options
from reconcile.errors import InvalidInventory, Issue, ReconcileError, UsageError
from reconcile.inventory import load_checked, load_inventory
from reconcile.model import Inventory, ResourceKey
from reconcile.plan import Change
from reconcile.render import issues as issue_render
from reconcile.render import plan_markdown, plan_text, report
from reconcile.render.safe import visible
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
    logsafe.configure(level, logging.Formatter("%(levelname)s %(name)s: %(message)s"))


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
        inventory, warnings = load_checked(paths or project.default_paths(), strict)
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
    inventory, warnings = load_checked(paths, strict)
    if warnings:
        text = issue_render.render([], "text", _warned(warnings)[2:], warnings)
        click.echo(text, err=True, nl=False)
    return inventory


@cli.command("schema")
def schema_command() -> None:
    """Print the inventory's JSON Schema (for editors and other tools)."""
    click.echo(schema_text(), nl=False)


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


@cli.command()
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
    """Show what apply would change on the server; never changes anything.

    Only a plan of the whole inventory (automations/) deletes: with PATHS that cover a
    part of it, managed objects they do not declare are left alone.
    """
    paths = paths or project.default_paths()
    inventory = _load(paths, strict)
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
            # Names may come from the server: one holding a line break or an ANSI
            # escape must not redraw the terminal.
            self.bar.label = f"{outcome} {_key(change.key)}"
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@cli.command("export")
@target_options
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
    rejected = export_target.rejected(entity, state)
    keys = export.exported(entity, state, place.declared, rejected)
    declared = [_key(r.key) for r in state.resources if r.key in place.declared]
    joins = project.shown(place.joins)
    if not keys:
        click.echo(f"nothing to write: {joins}/ already declares all {len(declared)} objects")
        return
    if declared:
        click.echo(f"not exported (already declared in {joins}/): " + ", ".join(declared), err=True)
    text = export.render(entity, state, place.schema_ref, place.declared, rejected)
    export_target.check(place, text)
    adopted: list[ResourceKey] = []
    if adopt:
        state, adopted = asyncio.run(session.export(target, entity, adopt=True, rejected=rejected))
        rejected = export_target.rejected(entity, state)
        text = export.render(entity, state, place.schema_ref, place.declared, rejected)
    place.path.parent.mkdir(parents=True, exist_ok=True)
    place.path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {project.shown(place.path)}")
    if adopted:
        shown = ", ".join(visible(k.name) for k in adopted)
        click.echo(f"adopted {len(adopted)} objects: {shown}")
    _export_notes(export.skipped(entity, state, rejected), place.schema_ref is None)


def _key(key: ResourceKey) -> str:
    """A resource key for the terminal: names from the server escaped (`safe.visible`)."""
    return f"{key.kind} {visible(key.entity)}/{visible(key.name)}"


def _export_notes(inexpressible: list[str], no_schema: bool) -> None:
    for note in inexpressible:  # names and reasons escaped by export.skipped
        click.echo(f"not exported: {note}", err=True)
    if no_schema:
        click.echo(
            f"no {export_target.SCHEMA} in the project, so no schema modeline: "
            f"`reconcile schema > {export_target.SCHEMA}` gives editors the schema",
            err=True,
        )


@cli.command()
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


@cli.group("github")
def github_group() -> None:
    """GitOps on GitHub: plan comments, the reviewed fingerprint, drift issues.

    Uses GitHub's environment: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL and
    GITHUB_EVENT_PATH.
    """


def _author_option(command: Any) -> Any:
    from reconcile.github.sticky import DEFAULT_AUTHOR

    return click.option(
        "--author",
        envvar="RECONCILE_GITHUB_AUTHOR",
        default=DEFAULT_AUTHOR,
        show_default=True,
        help="The login that posts reconcile's comments (the token's user).",
    )(command)


@github_group.command("comment")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON plan saved by `plan --out`.",
)
@click.option(
    "--error",
    "error_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Post this failure (a failed plan's stderr) instead of a plan.",
)
@click.option("--pr", "number", type=click.IntRange(1), help="Default: the event's pull request.")
@click.option("--heading", help="A line shown above the plan.")
@_author_option
def github_comment(
    plan_file: Path | None,
    error_file: Path | None,
    number: int | None,
    heading: str | None,
    author: str,
) -> None:
    """Create or update the one plan comment on the pull request."""
    from reconcile.github import api, body, files, sticky

    if (plan_file is None) == (error_file is None):
        raise UsageError("give exactly one of --plan FILE, --error FILE")
    repo = api.Repo.from_env(os.environ)
    pr = api.pull_request_number(os.environ, number)
    run_url = api.run_url(os.environ)
    if plan_file is not None:
        text = body.plan_comment(files.read_plan(plan_file), heading=heading, run_url=run_url)
    else:
        assert error_file is not None
        text = body.error_comment(files.read_error(error_file), run_url=run_url)

    async def run() -> sticky.Posted:
        async with api.connect(repo) as github:
            return await sticky.post(github, pr, text, author)

    posted = asyncio.run(run())
    click.echo(f"{posted.action} the plan comment on pull request #{pr}: {posted.url}")


@github_group.command("reviewed-fingerprint")
@click.option("--sha", required=True, help="The commit on the default branch (github.sha).")
@_author_option
def github_reviewed_fingerprint(sha: str, author: str) -> None:
    """Print the fingerprint of the plan reviewed on the pull request merged as SHA.

    In a workflow it also writes `fingerprint` and `pr` to GITHUB_OUTPUT.
    """
    from reconcile.github import api, sticky

    repo = api.Repo.from_env(os.environ)

    async def run() -> sticky.Reviewed:
        async with api.connect(repo) as github:
            return await sticky.reviewed(github, sha, author)

    found = asyncio.run(run())
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        try:
            with open(outputs, "a", encoding="utf-8") as out:
                out.write(f"fingerprint={found.fingerprint}\npr={found.number}\n")
        except OSError as error:
            raise UsageError(f"GITHUB_OUTPUT {outputs}: {error.strerror}") from None
    click.echo(f"reviewed on pull request #{found.number}: {found.url}", err=True)
    click.echo(found.fingerprint)


@github_group.command("drift")
@click.option(
    "--plan",
    "plan_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON plan saved by `plan --out` from the default branch.",
)
@_author_option
def github_drift(plan_file: Path, author: str) -> None:
    """Open, update or close the drift issue (label reconcile-drift) for a plan."""
    from reconcile.github import api, drift, files

    document = files.read_plan(plan_file)
    repo = api.Repo.from_env(os.environ)

    async def run() -> drift.Drift:
        async with api.connect(repo) as github:
            return await drift.sync(github, document, author, api.run_url(os.environ))

    done = asyncio.run(run())
    if done.action == "none":
        click.echo("no drift, and no drift issue open")
    else:
        click.echo(f"{done.action} drift issue #{done.number}: {done.url}")


from reconcile.cli_events import COMMANDS as _EVENT_COMMANDS  # noqa: E402
from reconcile.cli_runtime import COMMANDS as _RUNTIME_COMMANDS  # noqa: E402

for _command in (*_RUNTIME_COMMANDS, *_EVENT_COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
