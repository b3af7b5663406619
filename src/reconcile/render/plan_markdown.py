"""The plan as a pull-request comment: summary line first, one <details> per resource.

Every name and value is escaped for the place it lands in (HTML in `<summary>`, code
spans, fenced blocks), so what GitHub shows is every change the fingerprint covers.
"""

from __future__ import annotations

from typing import Any

from reconcile.core.safe import code_span, fence_for, html_code, html_text, visible
from reconcile.plan.flat import flatten, show
from reconcile.plan.normalize import terse
from reconcile.render import outside
from reconcile.render.nested import diff_lines
from reconcile.render.plan_text import SIGNS, key, not_considered, summary, unverified

LIMIT = 60_000
# Each list of objects left alone gets at most this much room: names on the server are
# anyone's to choose, and a long list must not push the plan's changes out of the comment.
SECTION_ROOM = 4_000
TRUNCATED = (
    "\n\n**The plan is too long for a comment and was truncated.** "
    "The full plan is in the workflow's artifacts (`reconcile plan --format json`).\n"
)


def render(plan: dict[str, Any], limit: int = LIMIT) -> str:
    """Render a JSON plan as GitHub-flavoured markdown, at most `limit` characters."""
    head = [f"**{summary(plan)}**", ""]
    blocks = _blocks(plan)
    tail = [*_leftovers(plan), f"Fingerprint: `{plan['fingerprint']}`", ""]
    text = "\n".join(head) + "\n"
    footer = "\n".join(tail)
    for block in blocks:
        if len(text) + len(block) + len(footer) + len(TRUNCATED) > limit:
            return text + TRUNCATED + footer
        text += block
    return text + footer


def _blocks(plan: dict[str, Any]) -> list[str]:
    """One block per change; those edited on the server since the last apply apart."""
    groups = outside.split(plan)
    if not groups.apart:
        return [_block(change) for change in plan["changes"]]
    blocks = [f"**{outside.HEADING}** ({outside.REVERTS}):\n\n"]
    blocks += [_block(change) for change in groups.reverts]
    if groups.both:
        listed = ", ".join(code_span(key(c)) for c in groups.both)
        blocks.append(f"\nThe inventory changes these too (below): {listed}\n")
    if groups.proposed:
        blocks.append(f"\n**{outside.PROPOSED}:**\n\n")
    blocks += [_block(c, outside.is_also(groups, c)) for c in groups.proposed]
    return blocks


def _block(change: dict[str, Any], also: bool = False) -> str:
    # Inside <summary> GitHub parses no markdown: the title is HTML, escaped as such.
    name = html_code(f"{visible(change['entity'])}/{visible(change['name'])}")
    action = f"{SIGNS[change['action']]} {change['action']} {change['kind']}"
    title = f"{html_text(action)} {name}"
    if change["renamed_from"]:
        title += f" (renamed from {html_code(visible(change['renamed_from']))})"
    if also:
        title += f" ({html_text(outside.ALSO)})"
    if change["action"] == "update":
        rows = [
            line
            for f in change["fields"]
            for line in diff_lines(f["path"], f["before"], f["after"])
        ]
    else:
        sign = "+" if change["action"] == "create" else "-"
        values = terse(change["kind"], change["after"] or change["before"])
        rows = [f"{sign} {path}: {show(value)}" for path, value in flatten(values)]
    body = "\n".join(rows)  # one line per row: names and values are shown on one line
    fence = fence_for(body)  # a `diff` block: GitHub colours removed and added lines
    return f"<details><summary>{title}</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n"


def _leftovers(plan: dict[str, Any]) -> list[str]:
    lines = [""]
    for title, rows in (
        ("Conflicts", plan["conflicts"]),
        ("Protected from deletion", plan["protected"]),
        ("Kept, still in use", plan.get("kept", [])),
        ("Unmanaged, left alone", plan["unmanaged"]),
    ):
        if rows:
            items = _listed([_item(row, title.startswith("Kept")) for row in rows])
            lines.extend([f"{title}: {items}", ""])
    if plan.get("not_considered"):
        lines.extend([not_considered(plan["not_considered"], plan.get("target")), ""])
    for row in plan.get("unverified", []):
        lines.extend([unverified(code_span(key(row)), code_span(visible(row["entity"]))), ""])
    if plan["requires_force"]:
        lines.extend(["Apply needs `--force`: more than 30 % of the managed objects change.", ""])
    return lines


def _listed(items: list[str], room: int = SECTION_ROOM) -> str:
    """`items` joined by commas, as many as fit in `room`, then how many more there are."""
    text = ""
    for index, item in enumerate(items):
        joined = f"{text}, {item}" if text else item
        if len(joined) > room:
            more = len(items) - index
            head = f"{text} and {more} more" if text else f"{more} objects"
            return f"{head} (the JSON plan lists them all)"
        text = joined
    return text


def _item(row: dict[str, Any], why: bool) -> str:
    text = code_span(key(row))
    # In a code span too: GitHub turns no `@name` or `#1` there into a mention or a link.
    return f"{text} ({code_span(row['message'])})" if why else text
