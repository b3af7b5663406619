"""History lines checked without parsing them: the lines that are JSON objects of plain
values (the SDK's usual rows), recognised together in one RE2 match, and the lines that
may hold a given top-level key, found by a text search. Only the others are parsed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

import re2  # type: ignore[import-untyped]

# JSON's whitespace but the newline: the lines are matched joined by newlines, so no
# match can run from one line into the next.
_SPACE = r"[ \t\r]*"
# A string without escapes or control characters: a key's text is then the key itself.
_STRING = r'"[^"\\\x00-\x1f]*"'
# At most 100 digits before the point: `json.loads` refuses integers past Python's
# limit on digits, and a line it would refuse must not pass here.
_NUMBER = r"-?(?:0|[1-9][0-9]{0,99})(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
# What `json.loads` reads besides strict JSON (the SDK writes NaN and infinities).
_SCALAR = rf"(?:{_NUMBER}|{_STRING}|true|false|null|NaN|-?Infinity)"
DEPTH = 3  # the levels of nesting recognised; a deeper line is parsed


def _object(inner: str) -> str:
    member = rf"{_STRING}{_SPACE}:{_SPACE}{inner}{_SPACE}"
    return rf"\{{{_SPACE}(?:{member}(?:,{_SPACE}{member})*)?\}}"


def _value(levels: int) -> str:
    """A scalar, or an object or array of values nesting at most `levels` levels."""
    if levels == 0:
        return _SCALAR
    inner = _value(levels - 1)
    array = rf"\[{_SPACE}(?:{inner}{_SPACE}(?:,{_SPACE}{inner}{_SPACE})*)?\]"
    return rf"(?:{_SCALAR}|{_object(inner)}|{array})"


_LINE = _object(_value(DEPTH - 1))
_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20  # a larger automaton for the long alternation of values
_ONE = re2.compile(_LINE, _OPTIONS)
_ALL = re2.compile(rf"(?:{_LINE}\n)*", _OPTIONS)


def _encoded(text: str) -> bytes | None:
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: left to the parser
        return None


@dataclass(frozen=True)
class Lines:
    """A post's history lines, and their text: each line ended by a newline."""

    lines: list[str]
    text: str

    @classmethod
    def of(cls, lines: list[str]) -> Lines:
        return cls(lines, "".join([line + "\n" for line in lines]))

    def unchecked(self) -> list[int]:
        """The indexes of the lines not recognised as JSON objects of plain values
        nesting at most DEPTH levels: only those can fail `json.loads`, be anything but
        an object, or fail to encode."""
        # One match for all, unless a line holds a newline: then the lines it would
        # read are not the post's.
        if self.text.count("\n") == len(self.lines):
            whole = _encoded(self.text)
            if whole is not None and _ALL.fullmatch(whole) is not None:
                return []
        return [
            index
            for index, line in enumerate(self.lines)
            if (text := _encoded(line)) is None or _ONE.fullmatch(text) is None
        ]

    def holding(self, keys: Iterable[str]) -> set[int]:
        """The indexes of the lines whose text holds one of `keys` as a JSON string
        (`"loss"`): every recognised line holding one at its top level, maybe others."""
        starts: list[int] = []
        found: set[int] = set()
        for key in keys:
            needle = f'"{key}"'
            at = self.text.find(needle)
            while at >= 0:
                starts = starts or list(accumulate((len(x) + 1 for x in self.lines), initial=0))
                line = bisect.bisect_right(starts, at) - 1
                found.add(line)
                at = self.text.find(needle, starts[line + 1])  # from the next line on
        return found
