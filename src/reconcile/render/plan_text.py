"""The plan as terminal text, Terraform style: `+` create, `~` update, `-` delete."""

from __future__ import annotations

from typing import Any

from reconcile.core.safe import inline, visible
from reconcile.plan.flat import flatten, show
from reconcile.plan.normalize import terse
from reconcile.render import outside
from reconcile.render.nested import field_lines

SIGNS = {"create": "+", "update": "~", "delete": "-"}
COLORS = {"create": "32", "update": "33", "delete": "31"}


def render(plan: dict[str, Any], color: bool = False) -> str:
    """Render a JSON plan (from `plan.to_json`) for a terminal."""

    def paint(text: str, action: str) -> str:
        return f"\x1b[{COLORS[action]}m{text}\x1b[0m" if color else text

    lines = [summary(plan)]
    groups = outside.split(plan)
    if groups.apart:
        lines.extend(_outside_lines(groups, paint))
    elif plan["changes"]:
        lines.append("")
    for change in groups.proposed:
        lines.extend(_change_lines(change, paint, outside.is_also(groups, change)))
    lines.extend(_leftovers(plan))
    lines.extend(["", f"Fingerprint: {plan['fingerprint']}"])
    return "\n".join(lines) + "\n"


def _change_lines(change: dict[str, Any], paint: Any, also: bool = False) -> list[str]:
    action = change["action"]
    title = key(change)
    if change["renamed_from"]:
        title += f" (renamed from {visible(change['renamed_from'])})"
    if also:
        title += f" ({outside.ALSO})"
    return [paint(f"  {SIGNS[action]} {title}", action), *_details(change, paint)]


def _outside_lines(groups: outside.Split, paint: Any) -> list[str]:
    """The section of objects edited on the server since the last apply, then the heading
    of what the inventory proposes."""
    lines = ["", f"{outside.HEADING} ({outside.REVERTS}):"]
    for change in groups.reverts:
        lines.extend(_change_lines(change, paint))
    lines.extend(f"    {key(c)}: the inventory changes it too (below)" for c in groups.both)
    if groups.proposed:
        lines.extend(["", f"{outside.PROPOSED}:"])
    return lines


def key(row: dict[str, Any]) -> str:
    """`kind entity/name`, each part shown so that it cannot forge or hide a line."""
    return f"{visible(row['kind'])} {visible(row['entity'])}/{visible(row['name'])}"


def summary(plan: dict[str, Any]) -> str:
    """The headline; conflicts come first, since while there are any nothing is applied."""
    conflicts = len(plan["conflicts"])
    if not conflicts:
        return _counts(plan)
    head = (
        "1 conflict: nothing will be applied until it is resolved."
        if conflicts == 1
        else f"{conflicts} conflicts: nothing will be applied until they are resolved."
    )
    return head + (f" {_counts(plan)}" if any(plan["summary"].values()) else "")


def _counts(plan: dict[str, Any]) -> str:
    counts = plan["summary"]
    if not any(counts.values()):
        if plan.get("not_considered"):
            return "No changes. The server matches the part of the inventory planned."
        return "No changes. The server matches the inventory."
    return (
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete."
    )


def _details(change: dict[str, Any], paint: Any) -> list[str]:
    if change["action"] == "update":
        return [
            paint(f"      {line}", "update")
            for f in change["fields"]
            for line in field_lines(f["path"], f["before"], f["after"])
        ]
    values = change["after"] if change["action"] == "create" else change["before"]
    return [
        f"      {path}: {show(value)}" for path, value in flatten(terse(change["kind"], values))
    ]


def _leftovers(plan: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for title, rows in (
        ("Conflicts (nothing will be applied until they are resolved)", plan["conflicts"]),
        ("Protected (kept although removed from the inventory)", plan["protected"]),
        ("Kept (removed from the inventory, but still in use)", plan.get("kept", [])),
        ("Unmanaged (on the server, not managed by reconcile, left alone)", plan["unmanaged"]),
    ):
        if rows:
            lines.extend(["", f"{title}:"])
            for row in rows:
                note = f": {inline(row['message'])}" if "message" in row else ""
                lines.append(f"    {key(row)}{note}")
    if plan.get("not_considered"):
        lines.extend(["", not_considered(plan["not_considered"], plan.get("target"))])
    if plan.get("unverified"):
        lines.append("")
        lines.extend(unverified(key(row), visible(row["entity"])) for row in plan["unverified"])
    if plan["requires_force"]:
        lines.extend(
            [
                "",
                "This plan updates or deletes more than 30 % of the managed objects: "
                "apply needs --force.",
            ]
        )
    return lines


def unverified(webhook: str, team: str) -> str:
    """The warning for a webhook whose URL the plan's key reads masked (names as shown)."""
    return (
        f"Warning: the URL of {webhook} could not be compared with this key, which sees "
        f"only its scheme, host and port; a key of an admin of team {team} compares it."
    )


def not_considered(count: int, target: dict[str, Any] | None = None) -> str:
    """Why managed objects were left out, naming the inventory the paths are part of."""
    objects = "object" if count == 1 else "objects"
    head = (
        f"Not considered: {count} managed {objects} on the server that the paths given "
        "do not declare."
    )
    folder = (target or {}).get("inventory", "automations/")
    if folder is None:
        return (
            f"{head} The project has no inventory folder (automations/) and no "
            "reconcile.yaml naming one, so nothing is deleted; name the inventory's folder "
            "in reconcile.yaml to plan it whole."
        )
    return (
        f"{head} The paths are only part of the inventory ({inline(folder)}), so nothing "
        "is deleted; plan the whole inventory to delete what it no longer declares."
    )
