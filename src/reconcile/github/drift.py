"""The drift issue: opened once when the server differs from the inventory, updated on
later checks, closed when they match again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconcile.github.api import GitHub, create, number
from reconcile.github.body import DRIFT_MARKER, drift_issue, drift_title, env_of, read_marker

LABEL = "reconcile-drift"
MATCHES_AGAIN = "The server matches the inventory again; closing."


@dataclass(frozen=True)
class Drift:
    """What the check did: `opened`, `updated`, `closed` or `none`, and the issue."""

    action: str
    number: int | None = None
    url: str = ""


def drifted(document: dict[str, Any]) -> bool:
    return bool(document["has_changes"] or document["conflicts"])


async def open_issues(github: GitHub, author: str, env: str | None = None) -> list[dict[str, Any]]:
    """The open drift issues reconcile wrote for inventory `env` (pull requests, others'
    issues and other inventories' left out)."""
    issues = await github.pages(github.path("issues"), {"labels": LABEL, "state": "open"})
    return [
        i
        for i in issues
        if isinstance(i, dict)
        and "pull_request" not in i
        and str(i.get("body") or "").startswith(DRIFT_MARKER)
        and (i.get("user") or {}).get("login") == author
        and _env(str(i.get("body"))) == env
    ]


def _env(body: str) -> str | None:
    marker = read_marker(body)
    return marker.env if marker is not None else None


async def sync(
    github: GitHub,
    document: dict[str, Any],
    author: str,
    run_url: str | None,
    heading: str | None = None,
) -> Drift:
    """Open, update or close the drift issue of the plan's inventory so that it tells the
    plan's story (`heading` above it: why it is posted)."""
    env = env_of(document)
    found = await open_issues(github, author, env)
    if not drifted(document):
        for issue in found:
            await _close(github, number(issue.get("number"), "an issue number"))
        if not found:
            return Drift("none")
        first = number(found[0].get("number"), "an issue number")
        return Drift("closed", first, str(found[0].get("html_url", "")))
    body = drift_issue(document, run_url=run_url, heading=heading)
    if not found:

        async def look() -> dict[str, Any] | None:
            again = await open_issues(github, author, env)
            return again[0] if again else None

        fields = {"title": drift_title(env), "body": body, "labels": [LABEL]}
        issue, created = await create(github, github.path("issues"), fields, look)
        if created:
            opened = number(issue.get("number"), "an issue number")
            return Drift("opened", opened, str(issue.get("html_url", "")))
        found = [issue]
    which = number(found[0].get("number"), "an issue number")
    issue = await github.call("PATCH", github.path("issues", which), body={"body": body})
    return Drift("updated", which, str(issue.get("html_url", "")))


async def _close(github: GitHub, which: int) -> None:
    url = github.path("issues", which, "comments")
    await github.call("POST", url, body={"body": MATCHES_AGAIN}, idempotent=False)
    await github.call(
        "PATCH",
        github.path("issues", which),
        body={"state": "closed", "state_reason": "completed"},
    )
