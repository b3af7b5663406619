"""Names and values made safe for where they are shown: a terminal line, a markdown code
span, a fenced code block, HTML text. Nothing a name holds can forge or hide a line.

The markup helpers take text already shown (names through `visible`) and escape any
hidden character left, so a line break never reaches the markup.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata

from reconcile.core.model import ResourceKey

# Control and format characters (ANSI escapes, newlines, bidi overrides, zero-width and
# tag characters) can forge, reorder or hide what is shown; they are spelled out instead.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_BACKTICKS = re.compile(r"`+")


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN


def _escape(char: str) -> str:
    """A JSON escape: `\\n`, `\\uXXXX`, a surrogate pair above the BMP."""
    if char in "\n\r\t":
        return json.dumps(char)[1:-1]
    point = ord(char)
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"


def json_text(value: object) -> str:
    """`value` as JSON text with every control or format character escaped (`\\u202e`)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "".join(_escape(c) if _hidden(c) else c for c in text)


def visible(name: str) -> str:
    """`name` itself when it is plain, else as a quoted JSON string with escapes.

    Plain: no control or format character, no quote and no backslash, so a plain
    name and a quoted one can never be mistaken for each other.
    """
    if any(_hidden(c) or c in '"\\' for c in name):
        return json_text(name)
    return name


def key_text(key: ResourceKey) -> str:
    """A resource key for the terminal (`kind entity/name`), its names through `visible`."""
    return f"{key.kind} {visible(key.entity)}/{visible(key.name)}"


def inline(text: str) -> str:
    """Prose (a message) on one line: hidden characters escaped, nothing quoted."""
    return "".join(_escape(c) if _hidden(c) else c for c in text)


def code_span(text: str) -> str:
    """A markdown code span showing `text` literally, whatever backticks it holds."""
    shown = inline(text)
    longest = max((len(run) for run in _BACKTICKS.findall(shown)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end when both ends have one: pad so that
    # exactly the padding is stripped, and a backtick at either end stays content.
    if shown.strip(" ") and (shown[0] in "` " or shown[-1] in "` "):
        shown = f" {shown} "
    return f"{fence}{shown}{fence}"


def html_text(text: str) -> str:
    """HTML text (inside `<summary>` or `<code>`) that shows `text` literally."""
    return html.escape(inline(text), quote=True)


def html_code(text: str) -> str:
    """`text` as an HTML `<code>` element, for places where markdown is not parsed."""
    return f"<code>{html_text(text)}</code>"


def fence_for(body: str) -> str:
    """A backtick fence longer than any run of backticks in `body`: it cannot be closed early."""
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    return "`" * max(3, longest + 1)


def lines(text: str) -> str:
    """Multi-line text with its line breaks kept and every other hidden character escaped."""
    return "\n".join(
        "".join(_escape(c) if _hidden(c) and c != "\t" else c for c in line)
        for line in text.split("\n")
    )
