"""Validation problems as text, JSON or GitHub Actions annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconcile.core.errors import Issue

FORMATS = ("text", "json", "github")


def render(issues: Sequence[Issue], fmt: str, summary: str, warnings: Sequence[Issue] = ()) -> str:
    """All issues (then warnings) in format `fmt`; `summary` closes the text form."""
    if fmt == "json":
        return _json(issues, warnings)
    if fmt == "github":
        lines = [_annotation(issue, "error") for issue in issues]
        lines += [_annotation(warning, "warning") for warning in warnings]
        return "\n".join([*lines, summary]) + "\n"
    lines = [str(issue) for issue in issues]
    lines += [f"{warning.location}: warning: {warning.message}" for warning in warnings]
    return "\n".join([*lines, summary]) + "\n"


def _json(issues: Sequence[Issue], warnings: Sequence[Issue]) -> str:
    body = {"valid": not issues, "errors": _rows(issues), "warnings": _rows(warnings)}
    return json.dumps(body, indent=2) + "\n"


def _rows(issues: Sequence[Issue]) -> list[dict[str, object]]:
    return [
        {
            "path": issue.location.path,
            "line": issue.location.line,
            "col": issue.location.col,
            "message": issue.message,
        }
        for issue in issues
    ]


def _annotation(issue: Issue, level: str) -> str:
    where = f"file={_property(issue.location.path)}"
    if issue.location.line:
        where += f",line={issue.location.line},col={issue.location.col}"
    return f"::{level} {where}::{_data(issue.message)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
