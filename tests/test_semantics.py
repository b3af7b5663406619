"""Checks beyond the schema: URLs, RE2 regexes, and the shape of semantic findings."""

from __future__ import annotations

import pytest

from reconcile.semantics import regex_problem, url_problem


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://example.com:8443/a?b=c&d=e",
        "http://localhost:8080/hook",
        "http://127.0.0.1/hook",
        "http://127.5.6.7/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "http://example.com",
            "plain http is allowed only for loopback hosts; use https for 'example.com'",
        ),
        (
            "http://10.0.0.1/x",
            "plain http is allowed only for loopback hosts; use https for '10.0.0.1'",
        ),
        ("ftp://example.com", "'ftp://example.com' is not an http(s) URL with a host"),
        ("https://", "'https://' is not an http(s) URL with a host"),
        (
            "https://example.com:99999/",
            "'https://example.com:99999/' is not a valid URL: Port out of range 0-65535",
        ),
        (
            "https://a:b@example.com",
            "credentials in the URL would be stored in git; use access_token instead",
        ),
    ],
)
def test_refused_urls(url: str, problem: str) -> None:
    assert url_problem(url) == problem


@pytest.mark.parametrize(
    "pattern", ["^production$", "^(prod|staging)-v[0-9]+$", r"\bgold\b", "(?i)prod"]
)
def test_re2_accepts_ordinary_regexes(pattern: str) -> None:
    assert regex_problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "detail"),
    [
        ("(?=a)", "invalid perl operator: (?="),
        ("(?<!a)b", "invalid perl operator: (?<!"),
        (r"(a)\1", r"invalid escape sequence: \1"),
        ("a{2,1}", "invalid repetition size: {2,1}"),
    ],
)
def test_re2_refuses_what_go_refuses(pattern: str, detail: str) -> None:
    problem = regex_problem(pattern)
    assert problem is not None
    assert f"({detail})" in problem


def test_re2_errors_are_not_logged_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    regex_problem("(?=a)")
    assert capfd.readouterr().err == ""
