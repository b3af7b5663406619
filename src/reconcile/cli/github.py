"""`reconcile github ...`: the GitOps loop's steps on GitHub (comment, fingerprint, drift).

The GitHub modules load when a command runs, so the other commands start quickly.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import click

from reconcile.core.errors import UsageError


@click.group("github")
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


COMMANDS = (github_group,)
