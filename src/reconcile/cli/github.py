"""`reconcile github ...`: the GitOps loop's steps on GitHub (comment, fingerprint, drift).

The GitHub modules load when a command runs, so the other commands start quickly.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from reconcile.cli.exits import EXIT_REFUSED
from reconcile.cli.options import root_options
from reconcile.core.errors import UsageError
from reconcile.inventory import project, roots


@click.group("github")
def github_group() -> None:
    """GitOps on GitHub: plan comments, the reviewed fingerprint, drift issues.

    Uses GitHub's environment: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL,
    GITHUB_EVENT_PATH and GITHUB_EVENT_NAME. With several inventories in reconcile.yaml,
    each has its own plan comment and drift issue (--env NAME).
    """


def _env() -> str | None:
    """The inventory of reconcile.yaml the command is about (None without the file)."""
    chosen = roots.active()
    return chosen.name if chosen is not None else None


def _same_env(document: dict[str, Any], plan_file: Path) -> None:
    """A plan is posted as the comment of its own inventory, the one chosen."""
    from reconcile.github.body import env_of

    if env_of(document) != _env():
        raise UsageError(
            f"{plan_file} is a plan of {_named(env_of(document))}, not of {_named(_env())}"
        )


def _named(env: str | None) -> str:
    return f"inventory {env}" if env else "the inventory (no --env)"


def _write_outputs(values: dict[str, str]) -> None:
    outputs = os.environ.get("GITHUB_OUTPUT")
    if not outputs:
        return
    try:
        with open(outputs, "a", encoding="utf-8") as out:
            out.write("".join(f"{name}={value}\n" for name, value in values.items()))
    except OSError as error:
        raise UsageError(f"GITHUB_OUTPUT {outputs}: {error.strerror}") from None


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
@click.option(
    "--stale",
    is_flag=True,
    help="Mark the plan comment stale (the pull request changed; a new plan is coming).",
)
@click.option("--pr", "number", type=click.IntRange(1), help="Default: the event's pull request.")
@click.option("--heading", help="A line shown above the plan.")
@click.option(
    "--refused",
    is_flag=True,
    help="The plan follows a refused apply on the default branch: say so, and how to apply it.",
)
@click.option("--commit", envvar="GITHUB_SHA", help="The commit planned [default: GITHUB_SHA].")
@_author_option
@root_options
def github_comment(  # noqa: PLR0917 - click passes each option as an argument
    plan_file: Path | None,
    error_file: Path | None,
    stale: bool,
    number: int | None,
    heading: str | None,
    refused: bool,
    commit: str | None,
    author: str,
) -> None:
    """Create or update the plan comment of the inventory on the pull request (one per
    inventory of reconcile.yaml), or mark it stale."""
    from reconcile.github import api, event, sticky

    if sum(given is not None for given in (plan_file, error_file, stale or None)) != 1:
        raise UsageError("give exactly one of --plan FILE, --error FILE, --stale")
    repo = api.Repo.from_env(os.environ)
    pr = api.pull_request_number(os.environ, number)
    if stale:
        _mark_stale(repo, pr, author, event.Event.from_env(os.environ), commit)
        return
    text = _comment_text(plan_file, error_file, heading, refused, commit)

    async def run() -> sticky.Posted:
        async with api.connect(repo) as github:
            return await sticky.post(github, pr, text, author)

    posted = asyncio.run(run())
    of = f" of inventory {_env()}" if _env() else ""
    click.echo(f"{posted.action} the plan comment{of} on pull request #{pr}: {posted.url}")


def _comment_text(
    plan_file: Path | None,
    error_file: Path | None,
    heading: str | None,
    refused: bool,
    commit: str | None,
) -> str:
    from reconcile.github import api, body, event, files

    run_url = api.run_url(os.environ)
    if plan_file is None:
        assert error_file is not None
        return body.error_comment(files.read_error(error_file), run_url=run_url, env=_env())
    document = files.read_plan(plan_file)
    _same_env(document, plan_file)
    if refused:
        workflow = _workflow_file(os.environ.get("GITHUB_WORKFLOW_REF", ""))
        heading = body.refused_heading(document["fingerprint"], _env(), workflow)
    planned = body.Planned(commit)
    if os.environ.get("GITHUB_EVENT_PATH"):
        planned = event.planned(event.Event.from_env(os.environ), commit)
    return body.plan_comment(document, heading=heading, run_url=run_url, planned=planned)


def _workflow_file(ref: str) -> str | None:
    """`apply.yml` from GITHUB_WORKFLOW_REF (`owner/repo/.github/workflows/apply.yml@ref`)."""
    path = ref.split("@", 1)[0]
    return path.rsplit("/", 1)[-1] if "/.github/workflows/" in path else None


def _mark_stale(repo: Any, pr: int, author: str, happened: Any, commit: str | None) -> None:
    from reconcile.github import api, event, sticky

    now = event.planned(happened, commit)
    sha = now.head or now.commit
    if sha is None:
        raise UsageError("--stale needs the pull request's new commit: --commit SHA")

    async def run() -> sticky.Posted | None:
        async with api.connect(repo) as github:
            return await sticky.mark_stale(github, pr, author, _env(), sha)

    marked = asyncio.run(run())
    of = f" of inventory {_env()}" if _env() else ""
    if marked is None:
        click.echo(f"no plan comment{of} on pull request #{pr} to mark stale")
    else:
        click.echo(f"marked the plan comment{of} on pull request #{pr} stale: {marked.url}")


@github_group.command("reviewed-fingerprint")
@click.option("--sha", required=True, help="The commit on the default branch (github.sha).")
@_author_option
@root_options
def github_reviewed_fingerprint(sha: str, author: str) -> None:
    """Print the fingerprint of the plan reviewed on the pull request merged as SHA
    (of the inventory chosen, with several in reconcile.yaml).

    In a workflow it also writes `fingerprint` and `pr` to GITHUB_OUTPUT.
    """
    from reconcile.github import api, sticky

    repo = api.Repo.from_env(os.environ)

    async def run() -> sticky.Reviewed:
        async with api.connect(repo) as github:
            return await sticky.reviewed(github, sha, author, _env())

    found = asyncio.run(run())
    _write_outputs({"fingerprint": found.fingerprint, "pr": str(found.number)})
    click.echo(f"reviewed on pull request #{found.number}: {found.url}", err=True)
    click.echo(found.fingerprint)


@github_group.command("queue")
@click.option(
    "--plan",
    "plan_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON plan of the merge group's tree, saved by `plan --out`.",
)
@_author_option
@root_options
def github_queue(plan_file: Path, author: str) -> None:
    """In the merge queue (a merge_group event): pass when the plan of the queued tree is
    the plan reviewed on its pull request; else post it there and exit 3.

    The tree the queue checks is the commit the default branch gets, so the plan applied
    after the merge is the one checked here.
    """
    from reconcile.github import api, body, event, files, sticky

    document = files.read_plan(plan_file)
    _same_env(document, plan_file)
    happened = event.Event.from_env(os.environ)
    pr = event.queued_pull(happened)
    repo = api.Repo.from_env(os.environ)

    async def run() -> sticky.Reviewed:
        async with api.connect(repo) as github:
            return await sticky.reviewed_on(github, {"number": pr}, author, _env())

    reviewed = asyncio.run(run())
    of = f" of inventory {_env()}" if _env() else ""
    if reviewed.fingerprint == document["fingerprint"]:
        click.echo(f"the queued plan{of} is the one reviewed on pull request #{pr}")
        return
    head = happened.section("merge_group").get("head_sha")
    text = body.plan_comment(
        document,
        heading=QUEUE_HEADING,
        run_url=api.run_url(os.environ),
        planned=body.Planned(head if isinstance(head, str) else None),
    )

    async def post() -> sticky.Posted:
        async with api.connect(repo) as github:
            return await sticky.post(github, pr, text, author)

    posted = asyncio.run(post())
    click.echo(
        f"refused: the plan{of} of the queued tree ({document['fingerprint'][:12]}) is not the "
        f"one reviewed on pull request #{pr} ({reviewed.fingerprint[:12]}); it is posted "
        f"there for review: {posted.url}",
        err=True,
    )
    sys.exit(EXIT_REFUSED)


QUEUE_HEADING = (
    "**Removed from the merge queue:** the plan of the tree the queue would merge is not "
    "the plan reviewed here (the default branch or the server changed since). This is the "
    "plan of that tree; review it, then queue the pull request again."
)


@github_group.command("roots")
def github_roots() -> None:
    """Print the inventories of reconcile.yaml that the event's change touches, one a line.

    In a workflow it also writes `roots`, a JSON list of their names for a matrix
    (`[""]` without reconcile.yaml: the one inventory).
    """
    from reconcile.github import api, event

    found = project.project_file()
    if found is None:
        _write_outputs({"roots": json.dumps([""])})
        click.echo(project.inventory_shown())
        return
    happened = event.Event.from_env(os.environ)
    repo = api.Repo.from_env(os.environ)

    async def run() -> list[str] | None:
        async with api.connect(repo) as github:
            return await event.changed_files(github, happened)

    touched = _touched(found, asyncio.run(run()))
    chosen = happened.section("inputs").get("env") if happened.name == "workflow_dispatch" else None
    if chosen:  # a run by hand names its inventory
        touched = [r for r in found.roots if r.name == chosen]
        if not touched:
            raise UsageError(f"the run's env input {chosen!r} is no inventory of reconcile.yaml")
    _write_outputs({"roots": json.dumps([root.name for root in touched])})
    for root in touched:
        click.echo(f"{root.name} ({root.shown()})")
    if not touched:
        click.echo("no inventory is touched", err=True)


def _touched(found: roots.Project, changed: list[str] | None) -> list[roots.Root]:
    """The inventories holding a changed file; all of them when the project file changed
    or every path counts."""
    if changed is None:
        return list(found.roots)
    base = found.path.parent
    paths = {Path(os.path.normpath(base / name)) for name in changed}
    if found.path in paths:
        return list(found.roots)
    return [r for r in found.roots if any(r.folder in p.parents for p in paths)]


@github_group.command("drift")
@click.option(
    "--plan",
    "plan_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON plan saved by `plan --out` from the default branch.",
)
@click.option(
    "--refused",
    is_flag=True,
    help="The plan follows a refused apply on the default branch: say so, and how to apply it.",
)
@_author_option
@root_options
def github_drift(plan_file: Path, refused: bool, author: str) -> None:
    """Open, update or close the drift issue (label reconcile-drift) for a plan: one per
    inventory of reconcile.yaml."""
    from reconcile.github import api, body, drift, files

    document = files.read_plan(plan_file)
    _same_env(document, plan_file)
    repo = api.Repo.from_env(os.environ)
    heading = None
    if refused:
        workflow = _workflow_file(os.environ.get("GITHUB_WORKFLOW_REF", ""))
        heading = body.refused_heading(document["fingerprint"], _env(), workflow)

    async def run() -> drift.Drift:
        async with api.connect(repo) as github:
            return await drift.sync(
                github, document, author, api.run_url(os.environ), heading=heading
            )

    done = asyncio.run(run())
    if done.action == "none":
        click.echo("no drift, and no drift issue open")
    else:
        click.echo(f"{done.action} drift issue #{done.number}: {done.url}")


COMMANDS = (github_group,)
