"""What a log line may hold: no URL path or query, no credential (S13).

Every handler the CLI and the server install formats through `SafeFormatter`: a
delivery URL (a Slack incoming-webhook URL, a `from_env` URL) is shown as its scheme,
host and port, credentials after `Bearer`/`Basic`/`Authorization` are masked, and
httpcore's trace lines (which quote request and response headers) keep only their
event name. Secret values themselves are never handed to a logger.
"""

from __future__ import annotations

import logging
import re
import sys

MASK = "***"
# A URL: scheme, authority (host and port, maybe credentials), then whatever follows up
# to a space or a quote. The authority ends at the first `/`, `?` or `#`.
_URL = re.compile(r"(?i)\b(https?|wss?)://([^\s/?#\"'<>\\]*)([^\s\"'<>]*)")
# A credential after the word that announces it (in a header line, a repr or JSON):
# values of 8 characters or more, so that prose such as "basic checks" stays as it is.
_CREDENTIAL = re.compile(
    r"(?i)\b(bearer|basic|authorization|x-wandb-signature|webhook-signature)"
    r"(['\"]?\s*[:=,]?\s*b?['\"]?\s*)((?:(?:bearer|basic)\s+)?[^\s'\"(),]{8,})"
)
_HTTPCORE = "httpcore"


def redact(text: str) -> str:
    """`text` with every URL cut to its scheme, host and port, and credentials masked."""
    return _CREDENTIAL.sub(_masked_credential, _URL.sub(_cut_url, text))


def _cut_url(match: re.Match[str]) -> str:
    scheme, authority, rest = match.group(1), match.group(2), match.group(3)
    host = authority.rpartition("@")[2]  # user:password@ is a credential too
    shown = f"{scheme}://{host}"
    return shown if rest in ("", "/") else f"{shown}/{MASK}"


def _masked_credential(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2)}{MASK}"


class SafeFormatter(logging.Formatter):
    """Formats with `inner`, then redacts the whole line (message, extras and traceback)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        if record.name == _HTTPCORE or record.name.startswith(_HTTPCORE + "."):
            record = _event_name_only(record)
        return redact(self.inner.format(record))


def _event_name_only(record: logging.LogRecord) -> logging.LogRecord:
    """httpcore's trace line without its arguments: they quote headers and bodies."""
    copy = logging.makeLogRecord(vars(record))
    copy.msg, copy.args = record.getMessage().split(" ", 1)[0], None
    return copy


def configure(level: int | str, inner: logging.Formatter) -> None:
    """Log at `level` to stderr through a `SafeFormatter` around `inner`, replacing any
    handler installed before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(inner))
    logging.basicConfig(level=level, handlers=[handler], force=True)
