"""The end-of-apply table: every change as applied, failed or not attempted."""

from __future__ import annotations

from reconcile.apply.executor import ApplyReport
from reconcile.core.safe import inline, visible
from reconcile.plan.compute import Change


def render(report: ApplyReport) -> str:
    """One row per change, then a count line."""
    rows: list[tuple[str, Change, str]] = [("applied", c, "") for c in report.applied]
    rows += [("FAILED", c, why) for c, why in report.failed]
    rows += [("not attempted", c, why) for c, why in report.not_attempted]
    rows += [("kept", c, why) for c, why in report.kept]
    if not rows:
        return "Nothing to apply.\n"
    width = max(len(status) for status, _, _ in rows)
    lines = []
    for status, change, why in rows:
        key = change.key
        shown = f"{key.kind} {visible(key.entity)}/{visible(key.name)}"
        line = f"{status:<{width}}  {change.action:<6}  {shown}"
        # A reason may quote the server's answer: one line, nothing hidden.
        lines.append(f"{line}: {inline(why)}" if why else line)
    lines.append(
        f"\n{len(report.applied)} applied, {len(report.failed)} failed, "
        f"{len(report.not_attempted)} not attempted"
        + (f", {len(report.kept)} kept." if report.kept else ".")
    )
    return "\n".join(lines) + "\n"
