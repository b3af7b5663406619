"""S13's formatter: URLs cut to scheme, host and port; credentials masked; httpcore terse."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from reconcile.core import logsafe
from reconcile.core.logsafe import SafeFormatter, redact


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            'HTTP Request: POST http://127.0.0.1:5000/hooks/T0/B0/abc?k=v "HTTP/1.1 200 OK"',
            'HTTP Request: POST http://127.0.0.1:5000/*** "HTTP/1.1 200 OK"',
        ),
        ("to https://hooks.slack.com/services/T0/B0/x.", "to https://hooks.slack.com/***"),
        ("to https://user:pw@h.example:8443/p", "to https://h.example:8443/***"),
        ("to HTTPS://H.example?token=x", "to HTTPS://H.example/***"),
        ("to https://h.example#frag", "to https://h.example/***"),
        ("at http://[::1]:8080/a now", "at http://[::1]:8080/*** now"),
        ("https://h.example and https://h.example/", "https://h.example and https://h.example"),
        ("Authorization: Bearer tok-12345678", "Authorization: ***"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "***"}'),
        ("('authorization', 'Bearer tok-12345678')", "('authorization', '***')"),
        ("sent with bearer tok-12345678 to", "sent with bearer *** to"),
        ("x-wandb-signature: abcdefgh1234", "x-wandb-signature: ***"),
        ("a basic check of bearer ok", "a basic check of bearer ok"),  # prose stays
    ],
)
def test_redact(line: str, shown: str) -> None:
    assert redact(line) == shown


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logsafe.configure(logging.DEBUG, logging.Formatter("%(name)s: %(message)s"))
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    logging.basicConfig(force=True, level=logging.WARNING)


def test_every_line_is_redacted_message_arguments_and_traceback(captured: io.StringIO) -> None:
    log = logging.getLogger("reconcile.test")
    log.info("POST %s", "https://h.example/secret-path")
    try:
        raise ValueError("cannot reach https://h.example/secret-path")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    assert "secret-path" not in text
    assert text.startswith("reconcile.test: POST https://h.example/***\n")
    assert "ValueError: cannot reach https://h.example/***" in text


def test_httpcore_trace_lines_keep_their_event_name_only(captured: io.StringIO) -> None:
    logging.getLogger("httpcore.http11").debug(
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 500, b'X', "
        "[(b'X-Echo', b'tok-12345678')])"
    )
    logging.getLogger("httpcore").debug("connect_tcp.started host='127.0.0.1'")
    assert captured.getvalue() == (
        "httpcore.http11: receive_response_headers.complete\nhttpcore: connect_tcp.started\n"
    )


def test_the_formatter_changes_no_record_other_handlers_see() -> None:
    record = logging.LogRecord("httpcore.http11", logging.DEBUG, "", 0, "a b=%s", ("c",), None)
    line = SafeFormatter(logging.Formatter("%(message)s")).format(record)
    assert line == "a"
    assert record.getMessage() == "a b=c"
