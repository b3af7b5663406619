"""The one plan comment on a pull request: post it or update it in place, and read back
the fingerprint that was reviewed before a merge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reconcile.core.errors import ReconcileError, UsageError
from reconcile.github.api import GitHub, create, number, timestamp
from reconcile.github.body import PLAN_MARKER, read_marker, stale_comment

DEFAULT_AUTHOR = "github-actions[bot]"
_SHA = re.compile(r"^[0-9a-f]{40}$")


class NotReviewed(ReconcileError):
    """Raised when no reviewed plan can be found for a merged commit."""


@dataclass(frozen=True)
class Posted:
    """What happened to the sticky comment: created or updated, and where it is."""

    action: str
    number: int
    comment_id: int
    url: str


@dataclass(frozen=True)
class Reviewed:
    """The plan reviewed on the pull request that a commit merged."""

    number: int
    fingerprint: str
    url: str


async def find(
    github: GitHub, pull: int, author: str, env: str | None = None
) -> dict[str, Any] | None:
    """The newest plan comment by `author` on pull request `pull` for inventory `env`
    (one comment per inventory of reconcile.yaml), through every page."""
    comments = await github.pages(github.path("issues", pull, "comments"))
    mine = [
        c
        for c in comments
        if isinstance(c, dict)
        and str(c.get("body") or "").startswith(PLAN_MARKER)
        and (c.get("user") or {}).get("login") == author
        and _env(str(c.get("body"))) == env
    ]
    return mine[-1] if mine else None


def _env(body: str) -> str | None:
    marker = read_marker(body)
    return marker.env if marker is not None else None


async def post(github: GitHub, pull: int, body: str, author: str) -> Posted:
    """Update the plan comment of the body's inventory in place, or create it when there
    is none yet."""
    env = _env(body)

    async def look() -> dict[str, Any] | None:
        return await find(github, pull, author, env)

    found = await look()
    if found is None:
        url = github.path("issues", pull, "comments")
        found, created = await create(github, url, {"body": body}, look)
        if created:
            return _posted("created", pull, found)
    comment_id = number(found.get("id"), "a comment id")
    comment = await github.call(
        "PATCH", github.path("issues", "comments", comment_id), body={"body": body}
    )
    return _posted("updated", pull, comment)


async def mark_stale(
    github: GitHub, pull: int, author: str, env: str | None, commit: str
) -> Posted | None:
    """Say on the plan comment that it is stale (the pull request is now at `commit`);
    None when there is no plan comment to mark."""
    found = await find(github, pull, author, env)
    text = stale_comment(str(found.get("body")), commit) if found is not None else None
    if found is None or text is None:
        return None
    comment_id = number(found.get("id"), "a comment id")
    comment = await github.call(
        "PATCH", github.path("issues", "comments", comment_id), body={"body": text}
    )
    return _posted("marked stale", pull, comment)


def _posted(action: str, pull: int, comment: dict[str, Any]) -> Posted:
    comment_id = number(comment.get("id"), "a comment id")
    return Posted(action, pull, comment_id, str(comment.get("html_url", "")))


async def reviewed(github: GitHub, sha: str, author: str, env: str | None = None) -> Reviewed:
    """The fingerprint of the plan posted on the pull request merged as `sha`.

    Only a plan comment last written before the merge counts: one written after it
    (such as the new plan posted when apply refused) was never reviewed.
    """
    if not _SHA.match(sha):
        raise UsageError(f"--sha must be a full 40-digit commit SHA, not {sha!r}")
    pulls = await github.pages(github.path("commits", sha, "pulls"))
    merged = [
        p
        for p in pulls
        if isinstance(p, dict) and p.get("merged_at") and p.get("merge_commit_sha") == sha
    ]
    if not merged:
        raise NotReviewed(f"no pull request was merged as {sha}: nothing was reviewed for it")
    return await reviewed_on(github, merged[0], author, env)


async def reviewed_on(
    github: GitHub, pull: dict[str, Any], author: str, env: str | None = None
) -> Reviewed:
    """The fingerprint reviewed on `pull` (GitHub's pull request object) for `env`."""
    pr = number(pull.get("number"), "a pull request number")
    of = f" for inventory {env}" if env else ""
    comment = await find(github, pr, author, env)
    if comment is None:
        raise NotReviewed(f"pull request #{pr} has no plan comment{of} by {author}")
    marker = read_marker(str(comment["body"]))
    if marker is None or marker.fingerprint is None:
        raise NotReviewed(
            f"the last plan{of} on pull request #{pr} failed; there is no reviewed plan"
        )
    if marker.stale:
        raise NotReviewed(
            f"the plan{of} on pull request #{pr} is stale: the pull request changed after "
            "it was planned, and no newer plan was posted"
        )
    if not pull.get("merged_at"):
        return Reviewed(pr, marker.fingerprint, str(comment.get("html_url", "")))
    if timestamp(comment.get("updated_at")) > timestamp(pull["merged_at"]):
        raise NotReviewed(
            f"the plan comment on pull request #{pr} was written after the merge; "
            "it was never reviewed"
        )
    return Reviewed(pr, marker.fingerprint, str(comment.get("html_url", "")))
