"""The one plan comment on a pull request: post it or update it in place, and read back
the fingerprint that was reviewed before a merge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reconcile.core.errors import ReconcileError, UsageError
from reconcile.github.api import GitHub, create, number, timestamp
from reconcile.github.body import PLAN_MARKER, read_marker

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


async def find(github: GitHub, pull: int, author: str) -> dict[str, Any] | None:
    """The newest plan comment by `author` on pull request `pull`, through every page."""
    comments = await github.pages(github.path("issues", pull, "comments"))
    mine = [
        c
        for c in comments
        if isinstance(c, dict)
        and str(c.get("body") or "").startswith(PLAN_MARKER)
        and (c.get("user") or {}).get("login") == author
    ]
    return mine[-1] if mine else None


async def post(github: GitHub, pull: int, body: str, author: str) -> Posted:
    """Update the plan comment in place, or create it when there is none yet."""

    async def look() -> dict[str, Any] | None:
        return await find(github, pull, author)

    found = await look()
    if found is None:
        url = github.path("issues", pull, "comments")
        found, created = await create(github, url, {"body": body}, look)
        if created:
            return _posted("created", pull, found)
    comment_id = number(found.get("id"), "comment id")
    comment = await github.call(
        "PATCH", github.path("issues", "comments", comment_id), body={"body": body}
    )
    return _posted("updated", pull, comment)


def _posted(action: str, pull: int, comment: dict[str, Any]) -> Posted:
    comment_id = number(comment.get("id"), "comment id")
    return Posted(action, pull, comment_id, str(comment.get("html_url", "")))


async def reviewed(github: GitHub, sha: str, author: str) -> Reviewed:
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
    pull = merged[0]
    pr = number(pull.get("number"), "pull request number")
    comment = await find(github, pr, author)
    if comment is None:
        raise NotReviewed(f"pull request #{pr} has no plan comment by {author}")
    marker = read_marker(str(comment["body"]))
    if marker is None or marker.fingerprint is None:
        raise NotReviewed(f"the last plan on pull request #{pr} failed; there is no reviewed plan")
    if timestamp(comment.get("updated_at")) > timestamp(pull["merged_at"]):
        raise NotReviewed(
            f"the plan comment on pull request #{pr} was written after the merge; "
            "it was never reviewed"
        )
    return Reviewed(pr, marker.fingerprint, str(comment.get("html_url", "")))
