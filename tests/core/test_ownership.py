"""Ownership markers: written, read back, and never confused with user text."""

from __future__ import annotations

from reconcile.core.ownership import (
    DESCRIPTION_MARKER,
    mark_description,
    mark_url,
    read_description,
    read_url,
)


def test_description_marker_round_trips() -> None:
    for text in ("", "Deploy on production.", "two\n\nparagraphs"):
        for protected in (False, True):
            marked = read_description(mark_description(text, protected))
            assert (marked.text, marked.managed, marked.protected) == (text, True, protected)


def test_a_description_without_the_marker_is_not_managed() -> None:
    assert read_description("Made by hand").managed is False
    assert read_description(None).text == ""
    # the marker must end the description; quoting it elsewhere is just text
    quoted = f"see {DESCRIPTION_MARKER} in the docs"
    assert read_description(quoted).managed is False


def test_url_marker_carries_rotations_and_round_trips() -> None:
    url = "https://example.com/hook?a=1"
    marked = mark_url(url, {"B": 2, "A": 0, "C": 1})
    assert marked == "https://example.com/hook?a=1#managed-by-reconcile;B=2;C=1"
    read = read_url(marked)
    assert (read.text, read.managed, read.rotations) == (url, True, (("B", 2), ("C", 1)))


def test_a_url_without_the_marker_is_not_managed() -> None:
    assert read_url("https://example.com/hook").managed is False
    assert read_url("https://example.com/hook#other").text == "https://example.com/hook#other"


def test_the_applied_digest_rides_in_both_markers_and_round_trips() -> None:
    digest = "0123456789ab"
    assert mark_description("Deploy.", True, digest) == (
        "Deploy.\n\n[managed by reconcile; protected; applied:0123456789ab]"
    )
    read = read_description(mark_description("Deploy.", True, digest))
    assert (read.text, read.managed, read.protected, read.applied) == (
        "Deploy.",
        True,
        True,
        digest,
    )
    assert read_description("[managed by reconcile]").applied is None
    # All digits is a digest, never a rotation counter named `applied`.
    url = mark_url("https://h/x", {"A": 1}, ("URL", 2), "012345678901")
    assert url == "https://h/x#managed-by-reconcile;A=1;url:URL=2;applied:012345678901"
    marked = read_url(url)
    assert (marked.rotations, marked.env_url, marked.applied) == (
        (("A", 1),),
        ("URL", 2),
        "012345678901",
    )
