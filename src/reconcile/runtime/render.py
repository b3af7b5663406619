"""The one renderer: the exact body an automation sends for an event, and its masked twin.

`reconcile render` shows the masked body, the server's worker sends `body` and stores
`shown`; both come from the same call, so what is shown is what is sent.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconcile.core.errors import ReconcileError
from reconcile.core.model import Webhook
from reconcile.runtime import slack, templating
from reconcile.runtime.variables import Facts, event_type, event_values, lookup, secret_variables

MASK = "***"
# The largest body a delivery sends (README, "Events"): a template that copies event
# data (metadata) many times could otherwise turn one event into megabytes sent, sealed
# and stored twice, and shown in history.
MAX_BODY_BYTES = 256 * 1024
MIN_MASKED = 4  # shorter secret values are not searched for in event data (too many hits)


class RenderError(ReconcileError):
    """The body cannot be made: a secret value is missing, or a variable is unknown."""


@dataclass(frozen=True)
class Rendered:
    """`body`: the bytes to send; `shown`: the same body with secret values masked."""

    body: bytes
    shown: bytes


def dumps(value: Any) -> bytes:
    """The wire form of a JSON body: compact, UTF-8, keys in the template's order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(
    facts: Facts, hook: Webhook | None, secrets: Mapping[str, str] | None = None
) -> Rendered | None:
    """The body of the automation's action for the event; None for a `no_op` action.

    `secrets` maps secret names to values; None renders the masked body only (then
    `body == shown`), which needs no secret at all.
    """
    action = facts.automation.action
    if action.kind == "slack":
        body = _bounded(dumps(slack_body(facts)))
        return Rendered(body, body)
    if action.kind != "webhook":
        return None
    template = action.params.get("payload")
    template = {} if template is None else template
    granted = secret_variables(hook)
    values = event_values(facts)
    masked = dict.fromkeys(granted, MASK)
    shown = _substitute(template, facts, {**values, **masked})
    if secrets is None:
        return Rendered(shown, shown)
    real = {name: _secret(secrets, name, ref) for name, ref in granted.items()}
    body = _substitute(template, facts, {**values, **real})
    return Rendered(body, mask_values(shown, list(secrets.values())))


def _secret(secrets: Mapping[str, str], variable: str, ref: str) -> str:
    if ref not in secrets:
        raise RenderError(f"${{{variable}}} needs the value of secret {ref!r}, which is not given")
    return secrets[ref]


def _too_large(size: int) -> RenderError:
    return RenderError(
        f"the rendered body is {size} bytes or more; a delivery sends at most "
        f"{MAX_BODY_BYTES} bytes (the payload copies too much event data)"
    )


def _bounded(body: bytes) -> bytes:
    if len(body) > MAX_BODY_BYTES:
        raise _too_large(len(body))
    return body


def _substitute(template: Any, facts: Facts, values: Mapping[str, str]) -> bytes:
    copied = 0

    def value_of(name: str) -> str | None:
        nonlocal copied
        value = lookup(values, facts, name)
        # Stop as soon as the values alone are too many: the body is never built whole.
        copied += len(value) if value is not None else 0
        if copied > MAX_BODY_BYTES:
            raise _too_large(copied)
        return value

    try:
        return _bounded(dumps(templating.substitute(template, value_of)))
    except templating.UnknownVariable as error:
        kind = facts.automation.event.kind
        raise RenderError(
            f"automation {facts.automation.name!r}: ${{{error}}} has no value for {kind} events"
        ) from None


def forms(value: str) -> set[str]:
    """Every spelling a secret value may take in a body or an answer: as is, as JSON
    writes it (with and without `\\uXXXX` escapes, with `/` escaped or not), and
    percent-encoded (as a receiver may echo it in a URL)."""
    found = {value}
    for ascii_only in (False, True):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        found |= {escaped, escaped.replace("/", "\\/")}
    found |= {urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")}
    return found


def _all_forms(values: list[str]) -> list[str]:
    """The forms of every value long enough to be searched for, longest first."""
    found: set[str] = set()
    for value in values:
        if len(value) >= MIN_MASKED:
            found |= forms(value)
    return sorted(found, key=len, reverse=True)


def mask_values(text: bytes, values: list[str]) -> bytes:
    """`text` with every occurrence of the given secret values (in each of their forms) masked."""
    for form in _all_forms(values):
        text = text.replace(form.encode("utf-8"), MASK.encode())
    return text


def mask_text(text: str, values: list[str]) -> str:
    """`mask_values` for text, such as the detail of a failed attempt."""
    for form in _all_forms(values):
        text = text.replace(form, MASK)
    return text


def url_secrets(url: str) -> list[str]:
    """What of a delivery URL to mask in an answer that echoes it: the URL, and its path
    and query unless they are empty or `/` (a Slack incoming-webhook URL's path is a
    credential, and so may be any URL read from the environment)."""
    parts = urllib.parse.urlsplit(url)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return [url] + ([rest] if rest not in ("", "/") else [])


def masked_excerpt(text: str, values: list[str], limit: int, *, cut: bool = False) -> str:
    """At most `limit` characters of `text` with the secret values masked.

    Masked first, then cut: a secret is never split by this cut. `cut` says `text` was
    cut short already (the sender keeps the start of an answer): a secret split there
    would leave a prefix of itself at the end, which is masked too.
    """
    masked = mask_text(text, values)
    if cut:
        masked = masked.rstrip("\ufffd")  # a character the earlier cut split in its bytes
        tail = max((_prefix_at_end(masked, f) for f in _all_forms(values)), default=0)
        masked = masked[: len(masked) - tail] + MASK if tail else masked
    return masked[:limit]


def _prefix_at_end(text: str, form: str) -> int:
    """The length of the longest proper prefix of `form` that `text` ends with (0: none)."""
    for length in range(min(len(form) - 1, len(text)), 0, -1):
        if text.endswith(form[:length]):
            return length
    return 0


def subject(facts: Facts) -> str:
    """What the event is about, in a few words: an artifact version or a run."""
    event = facts.event
    if event.artifact is not None:
        e = event
        return f"{e.entity}/{e.project}/{e.collection}:v{event.artifact.version}"
    if event.run is not None:
        return f"run {event.run.name} ({event.run.id}) in {event.entity}/{event.project}"
    return f"{event.entity}/{event.project}"


def slack_body(facts: Facts) -> dict[str, Any]:
    """A Slack notification action's body for the event."""
    params = facts.automation.action.params
    context = f"{event_type(facts.automation)} · {subject(facts)}"
    return slack.body(
        str(params.get("title", "")),
        str(params.get("message", "")),
        str(params.get("severity", "info")),
        context,
    )
