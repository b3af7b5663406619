"""An independent reader of our markdown: what a reviewer sees on GitHub.

markdown-it-py (CommonMark, raw HTML on, GFM tables and strikethrough) renders the text
to HTML; then, as GitHub's sanitizer does, comments hide what they hold (an unclosed one
hides everything after it), `<script>`, `<style>` and the like are dropped with their
content, and tags are not shown. What is left is read as a tree of the tags we care about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# HTML comments, bogus comments (`<!x>`, `<?x>`) and dropped elements, each possibly
# unclosed: a browser then hides everything to the end of the document.
_HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<![^>]*(?:>|\Z)|<\?[^>]*(?:>|\Z)"
    r"|<(script|style|textarea|title|iframe|noembed|noframes|plaintext|xmp)\b.*?(?:</\1\s*>|\Z)",
    re.DOTALL | re.IGNORECASE,
)


@dataclass
class Seen:
    """The visible text of a rendered document, and its parts by element."""

    text: str = ""
    tags: list[str] = field(default_factory=list)  # every start tag, in order
    summaries: list[str] = field(default_factory=list)  # the text of each <summary>
    blocks: list[str] = field(default_factory=list)  # the text of each <pre>
    paragraphs: list[str] = field(default_factory=list)  # the text of each <p>
    languages: list[str] = field(default_factory=list)  # each <pre>'s info string (`diff`)
    # Text outside <code> and <pre>, where GitHub makes `@name` a mention, `#1` a link.
    loose: str = ""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen = Seen()
        self.open: list[tuple[str, int]] = []  # element, where its text starts
        self.code = 0  # how many <code> or <pre> elements are open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.tags.append(tag)
        if tag == "code" and self.open and self.open[-1][0] == "pre":
            language = dict(attrs).get("class") or ""
            self.seen.languages.append(language.removeprefix("language-"))
        self.code += tag in ("code", "pre")
        if tag in ("summary", "pre", "p"):
            self.open.append((tag, len(self.seen.text)))

    def handle_endtag(self, tag: str) -> None:
        self.code -= tag in ("code", "pre")
        if self.open and self.open[-1][0] == tag:
            _, start = self.open.pop()
            part = self.seen.text[start:]
            {"summary": self.seen.summaries, "pre": self.seen.blocks, "p": self.seen.paragraphs}[
                tag
            ].append(part)

    def handle_data(self, data: str) -> None:
        self.seen.text += data
        if not self.code:
            self.seen.loose += data


def html(markdown: str) -> str:
    return _RENDERER.render(markdown)


def read(markdown: str) -> Seen:
    """What a reader of the rendered `markdown` sees."""
    reader = _Reader()
    reader.feed(_HIDDEN.sub("", html(markdown)))
    reader.close()
    return reader.seen
