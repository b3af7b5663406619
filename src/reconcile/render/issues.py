"""Validation problems as text, JSON or GitHub Actions annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconcile.errors import Issue

FORMATS = ("text", "json", "github")


def render(issues: Sequence[Issue], fmt: str, summary: str) -> str:
    """All issues in format `fmt`; `summary` closes the text form."""
    if fmt == "json":
        return _json(issues)
    if fmt == "github":
        lines = [_annotation(issue) for issue in issues]
        return "\n".join([*lines, summary]) + "\n"
    return "\n".join([*(str(issue) for issue in issues), summary]) + "\n"


def _json(issues: Sequence[Issue]) -> str:
    rows = [
        {
            "path": issue.location.path,
            "line": issue.location.line,
            "col": issue.location.col,
            "message": issue.message,
        }
        for issue in issues
    ]
    return json.dumps({"valid": not issues, "errors": rows}, indent=2) + "\n"


def _annotation(issue: Issue) -> str:
    where = f"file={_property(issue.location.path)}"
    if issue.location.line:
        where += f",line={issue.location.line},col={issue.location.col}"
    return f"::error {where}::{_data(issue.message)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
