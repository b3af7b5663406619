"""The texts reconcile posts on GitHub, each under GitHub's 65,536-character limit.

Each starts with a hidden marker that says what it is and, for a plan, its fingerprint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reconcile.core.safe import fence_for, lines
from reconcile.render import plan_markdown

LIMIT = 65_536  # GitHub refuses longer comment and issue bodies
PLAN_MARKER = "<!-- reconcile-plan"
DRIFT_MARKER = "<!-- reconcile-drift"
DRIFT_TITLE = "reconcile: the server differs from the inventory"
CUT = (
    "\n\n**Cut at GitHub's size limit.** The full text is in the workflow run's log and "
    "artifacts.\n"
)
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_MARKER = re.compile(r"^<!-- reconcile-(plan|drift) (?:fingerprint=([0-9a-f]{64})|(error)) -->")


@dataclass(frozen=True)
class Marker:
    """What a posted text says it is: a plan (with its fingerprint) or an error."""

    kind: str
    fingerprint: str | None


def read_marker(body: str) -> Marker | None:
    """The marker at the start of `body`, or None when it has none."""
    found = _MARKER.match(body)
    if found is None:
        return None
    return Marker(found.group(1), found.group(2))


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and bool(_FINGERPRINT.match(value))


def plan_comment(
    document: dict[str, Any], *, heading: str | None = None, run_url: str | None = None
) -> str:
    """The sticky pull-request comment for a JSON plan."""
    head = f"{PLAN_MARKER} fingerprint={document['fingerprint']} -->\n"
    if heading:
        head += f"{heading}\n\n"
    return _assemble(head, document, _run_line(run_url))


def error_comment(error: str, *, run_url: str | None = None) -> str:
    """The sticky comment when planning failed: the error, and no plan at all."""
    head = (
        f"{PLAN_MARKER} error -->\n"
        "**reconcile could not plan this change.** There is no plan to review until the "
        "error below is fixed.\n\n"
    )
    foot = _run_line(run_url)
    # Shown as it is, in a fence longer than any backtick run in it: it cannot close it.
    text = lines(error.strip()) or "(no error text)"
    fence = fence_for(text)
    room = LIMIT - len(head) - len(foot) - 2 * len(fence) - len("\n\n\n\n[...]") - len(CUT)
    if len(text) > room:
        text = text[:room] + "\n[...]"
    return fit(f"{head}{fence}\n{text}\n{fence}\n{foot}")


def drift_issue(document: dict[str, Any], *, run_url: str | None = None) -> str:
    """The body of the drift issue: what apply would change to match the inventory again."""
    head = (
        f"{DRIFT_MARKER} fingerprint={document['fingerprint']} -->\n"
        "The server no longer matches the inventory on the default branch: this is what "
        "`reconcile apply` would change. Either change the inventory in a pull request, or "
        "apply this plan by its fingerprint. This issue is updated by every scheduled check "
        "and closed when the server matches again.\n\n"
    )
    return _assemble(head, document, _run_line(run_url))


def _assemble(head: str, document: dict[str, Any], foot: str) -> str:
    markdown = plan_markdown.render(document, limit=LIMIT - len(head) - len(foot))
    return fit(head + markdown + foot)


def _run_line(run_url: str | None) -> str:
    return f"\n[Workflow run]({run_url}) (its artifacts hold the JSON plan)\n" if run_url else ""


def fit(body: str) -> str:
    """`body` itself, or its start and a notice when it is over LIMIT.

    The plan renderer stays under its limit by leaving resources out; this is the last
    guard, for the parts it always keeps (such as a very long list of unmanaged objects).
    """
    if len(body) <= LIMIT:
        return body
    return body[: LIMIT - len(CUT)] + CUT
