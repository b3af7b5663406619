"""The texts reconcile posts on GitHub, each under GitHub's 65,536-character limit.

Each starts with a hidden marker that says what it is, which inventory of reconcile.yaml
it is about (`env=NAME`, none without the file), whether it went stale and, for a plan,
its fingerprint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reconcile.core.safe import code_span, fence_for, lines
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
_MARKER = re.compile(
    r"^<!-- reconcile-(plan|drift)(?: env=([a-z0-9][a-z0-9_-]{0,63}))?( stale)? "
    r"(?:fingerprint=([0-9a-f]{64})|(error)) -->\n?"
)
STALE = (
    "**This plan is stale:** the pull request changed after it was planned (it is now at "
    "{commit}). A new plan is on its way; do not merge on this one."
)


@dataclass(frozen=True)
class Marker:
    """What a posted text says it is: a plan (with its fingerprint) or an error, of which
    inventory, and whether it went stale."""

    kind: str
    fingerprint: str | None
    env: str | None = None
    stale: bool = False

    def text(self) -> str:
        env = f" env={self.env}" if self.env else ""
        stale = " stale" if self.stale else ""
        what = f"fingerprint={self.fingerprint}" if self.fingerprint else "error"
        return f"<!-- reconcile-{self.kind}{env}{stale} {what} -->\n"


@dataclass(frozen=True)
class Planned:
    """Where a plan was made: the commit checked out and, on a pull request, its head."""

    commit: str | None = None
    head: str | None = None


def read_marker(body: str) -> Marker | None:
    """The marker at the start of `body`, or None when it has none."""
    found = _MARKER.match(body)
    if found is None:
        return None
    return Marker(found.group(1), found.group(4), found.group(2), bool(found.group(3)))


def env_of(document: dict[str, Any]) -> str | None:
    """The inventory of reconcile.yaml a JSON plan is of (None without the file)."""
    target = document.get("target")
    env = target.get("env") if isinstance(target, dict) else None
    return env if isinstance(env, str) else None


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and bool(_FINGERPRINT.match(value))


def plan_comment(
    document: dict[str, Any],
    *,
    heading: str | None = None,
    run_url: str | None = None,
    planned: Planned | None = None,
) -> str:
    """The sticky pull-request comment for a JSON plan: which inventory, server and
    entities, at which commit, then the plan."""
    head = Marker("plan", document["fingerprint"], env_of(document)).text()
    if heading:
        head += f"{heading}\n\n"
    head += about(document, planned or Planned())
    return _assemble(head, document, _run_line(run_url))


def about(document: dict[str, Any], planned: Planned) -> str:
    """The lines a reviewer reads first: the inventory, the server, the entities, the commit."""
    target = document.get("target")
    rows = []
    if isinstance(target, dict):
        if target.get("env"):
            folder = target.get("inventory") or ""
            rows.append(f"Inventory: {code_span(target['env'])} ({code_span(folder)})")
        server = target.get("server") or f"the embedded server ({target.get('embedded')})"
        entities = ", ".join(code_span(str(e)) for e in target.get("entities") or []) or "none"
        rows.append(f"Target: {code_span(str(server))}; entities: {entities}")
    if planned.commit:
        head = f" (the pull request's head {code_span(planned.head)})" if planned.head else ""
        rows.append(f"Commit planned: {code_span(planned.commit)}{head}")
    return "".join(f"{row}  \n" for row in rows) + ("\n" if rows else "")


def stale_comment(body: str, commit: str) -> str | None:
    """A posted plan marked stale (the pull request moved on to `commit`), or None when
    `body` is no plan or an error."""
    marker = read_marker(body)
    if marker is None or marker.fingerprint is None:
        return None
    rest = body[_MARKER.match(body).end() :]  # type: ignore[union-attr]
    if marker.stale:
        rest = rest.split("\n\n", 1)[1] if "\n\n" in rest else ""
    line = STALE.format(commit=code_span(commit))
    stale = Marker(marker.kind, marker.fingerprint, marker.env, stale=True)
    return fit(f"{stale.text()}{line}\n\n{rest}")


def refused_heading(fingerprint: str, env: str | None, workflow: str | None) -> str:
    """The heading of the plan posted after apply refused the reviewed one on the default
    branch: what happened, and the exact command that applies the new plan once reviewed."""
    option = f" --env {env}" if env else ""
    field = f" -f env={env}" if env else ""
    local = f"reconcile apply{option} --fingerprint {fingerprint}"
    how = (
        f"run the workflow by hand with its fingerprint:\n\n```\ngh workflow run {workflow}"
        f"{field} -f fingerprint={fingerprint}\n```\n\nor, with the apply key, "
        f"`{local}`"
        if workflow
        else f"run `{local}` with the apply key"
    )
    return (
        "**Not applied after the merge:** apply refused the reviewed plan, because the plan "
        "changed since the review (the workflow run says how). Nothing was applied. "
        f"This is the plan of the default branch now; review it, then {how}."
    )


def error_comment(error: str, *, run_url: str | None = None, env: str | None = None) -> str:
    """The sticky comment when planning failed: the error, and no plan at all."""
    head = (
        f"{Marker('plan', None, env).text()}"
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


def drift_issue(
    document: dict[str, Any], *, run_url: str | None = None, heading: str | None = None
) -> str:
    """The body of the drift issue: what apply would change to match the inventory again."""
    head = (
        f"{Marker('drift', document['fingerprint'], env_of(document)).text()}"
        "The server no longer matches the inventory on the default branch: this is what "
        "`reconcile apply` would change. Either change the inventory in a pull request, or "
        "apply this plan by its fingerprint. This issue is updated by every scheduled check "
        "and closed when the server matches again.\n\n"
    )
    if heading:
        head += f"{heading}\n\n"
    head += about(document, Planned())
    return _assemble(head, document, _run_line(run_url))


def drift_title(env: str | None) -> str:
    """One drift issue per inventory: its name ends the title."""
    return f"{DRIFT_TITLE} ({env})" if env else DRIFT_TITLE


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
