"""Escaping for each place a name lands, read back by a CommonMark renderer (S14)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.core import safe
from tests import markdown_oracle

HOSTILE = [
    "`",
    "``a``",
    " ` ",
    "   ",
    "<!-- x",
    "-->",
    "*a* _b_ [c](d) <e> &amp; \\ | f |",
    "line\nbreak\n\nafter",
    "tab\tand \x1b[31m",
]


def _paragraph(markdown: str) -> str:
    [paragraph] = markdown_oracle.read(markdown).paragraphs
    return paragraph


@pytest.mark.parametrize("text", HOSTILE)
def test_code_spans_show_the_text_as_it_is(text: str) -> None:
    assert _paragraph(f"before {safe.code_span(text)} after") == f"before {safe.inline(text)} after"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_any_text_is_shown_exactly_in_code_spans(text: str) -> None:
    assert _paragraph(f"a {safe.code_span(text)} b") == f"a {safe.inline(text)} b"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("plain name <!-- `x` |", "plain name <!-- `x` |"),
        ("a\nb", '"a\\nb"'),
        ("\x1b[2Kx", '"\\u001b[2Kx"'),
        ("\u202eabc", '"\\u202eabc"'),
        ("tag \U000e0041", '"tag \\udb40\\udc41"'),
        ('q"', '"q\\""'),
        ("b\\", '"b\\\\"'),
    ],
)
def test_a_name_is_itself_or_quoted_and_read_back_exactly(name: str, shown: str) -> None:
    assert safe.visible(name) == shown
    assert (json.loads(shown) if shown.startswith('"') else shown) == name


@given(st.text(max_size=30))
def test_shown_names_never_hold_a_hidden_character_and_read_back(name: str) -> None:
    shown = safe.visible(name)
    # No control, format, surrogate or line/paragraph separator character is left.
    assert not [c for c in shown if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"}]
    assert (json.loads(shown) if shown.startswith('"') else shown) == name
