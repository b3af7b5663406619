"""Secret hygiene: credential-looking values in the inventory are refused, never echoed.

A token pasted where a secret's name belongs, or written into a payload or a
description, would be committed to git and shown in every plan: each is reported
by its position and by what it looks like, never by its value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconcile.core.model import Automation, EnvUrl, Origin, Secret, Webhook
from reconcile.inventory import credentials
from reconcile.inventory.loader import Finding, Pointer
from reconcile.inventory.schema import human_path, place

SLACK_URL = "a Slack webhook URL"


def _finding(origin: Origin, steps: Pointer, message: str, warning: bool = False) -> Finding:
    pointer = (*origin.pointer, *steps)
    return Finding(origin.path, pointer, f"{human_path(pointer)}: {message}", warning=warning)


def _refused(origin: Origin, steps: Pointer, value: Any) -> Iterator[Finding]:
    what = credentials.describe(value) if isinstance(value, str) else None
    if what:
        message = credentials.refusal(what, place((*origin.pointer, *steps)))
        yield _finding(origin, steps, message)


def check_secret(secret: Secret) -> Iterator[Finding]:
    if secret.origin is not None:
        yield from _refused(secret.origin, ("name",), secret.name)
        if secret.from_env != secret.name:  # a default from_env is the name, reported once
            yield from _refused(secret.origin, ("from_env",), secret.from_env)


def check_webhook(hook: Webhook) -> Iterator[Finding]:
    origin = hook.origin
    if origin is None:
        return
    for field in ("access_token", "secret"):
        yield from _refused(origin, (field,), getattr(hook, field))
    if isinstance(hook.url, EnvUrl):
        yield from _refused(origin, ("url", "from_env"), hook.url.from_env)
        return
    what = credentials.describe(hook.url)
    if what:
        holds = "a Slack incoming-webhook URL is" if what == SLACK_URL else f"it holds {what}:"
        message = (
            f"{holds} a credential, committed to git and shown in plans; read the URL from "
            "the environment instead: `url: {from_env: VARIABLE}`"
        )
        yield _finding(origin, ("url",), message, warning=True)


def check_automation(auto: Automation) -> Iterator[Finding]:
    """Literal credentials in the description and a Slack action's texts."""
    if auto.origin is None:
        return
    yield from _refused(auto.origin, ("description",), auto.description)
    action = ("then", auto.action.kind)
    for name in ("title", "message"):
        yield from _refused(auto.origin, (*action, name), auto.action.params.get(name))


def leaked(texts: list[tuple[Pointer, str]]) -> list[tuple[Pointer, str]]:
    """The strings of a payload that look like literal credentials (other checks stay
    silent there, so nothing quotes them)."""
    return [(pointer, text) for pointer, text in texts if credentials.describe(text)]


def refused_leaks(origin: Origin, leaks: list[tuple[Pointer, str]]) -> list[Finding]:
    """The errors for a payload's `leaked` strings."""
    base = ("then", "webhook", "payload")
    return [f for pointer, text in leaks for f in _refused(origin, (*base, *pointer), text)]
