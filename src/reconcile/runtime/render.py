"""The one renderer: the exact body an automation sends for an event, and its masked twin.

`reconcile render` shows the masked body, the server's worker sends `body` and stores
`shown`; both come from the same call, so what is shown is what is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconcile import templating
from reconcile.errors import ReconcileError
from reconcile.model import Webhook
from reconcile.runtime import slack
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


def mask_values(text: bytes, values: list[str]) -> bytes:
    """`text` with every occurrence of the given secret values (as JSON writes them) masked."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) < MIN_MASKED:
            continue
        for form in {value, json.dumps(value, ensure_ascii=False)[1:-1]}:
            text = text.replace(form.encode("utf-8"), MASK.encode())
    return text


def mask_text(text: str, values: list[str]) -> str:
    """`mask_values` for text, such as the excerpt of an answer that echoes a token."""
    return mask_values(text.encode("utf-8"), values).decode("utf-8", "replace")


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
