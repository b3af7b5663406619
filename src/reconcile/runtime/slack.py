"""The body of a Slack notification: `{text, blocks}` from title, message and severity.

Slack's incoming webhooks take this JSON as is; `text` is the fallback shown in
notifications, `blocks` the message itself.
"""

from __future__ import annotations

from typing import Any

HEADER_LIMIT = 150  # Slack refuses a header block longer than this
SECTION_LIMIT = 3000
SEVERITIES = {
    "info": ("INFO", ":information_source:"),
    "warn": ("WARN", ":warning:"),
    "error": ("ERROR", ":rotating_light:"),
}


def escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally (`&`, `<`, `>` are its control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body(title: str, message: str, severity: str, context: str = "") -> dict[str, Any]:
    """The notification; `context` is a line about the event (type and subject)."""
    label, emoji = SEVERITIES.get(severity, SEVERITIES["info"])
    fallback = f"{emoji} {title}" + (f": {message}" if message else "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{emoji} {title}", HEADER_LIMIT),
                "emoji": True,
            },
        },
    ]
    if message:
        section = {"type": "mrkdwn", "text": _cut(escape(message), SECTION_LIMIT)}
        blocks.append({"type": "section", "text": section})
    line = f"*{label}*" + (f" · {escape(context)}" if context else "")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    return {"text": _cut(escape(fallback), SECTION_LIMIT), "blocks": blocks}
