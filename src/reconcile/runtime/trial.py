"""`reconcile webhook test`: the W&B-shaped request for one webhook, from the inventory alone.

Secret values come from the environment variables the inventory names (as for apply);
the request carries the same headers a delivery does.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from reconcile.core.errors import UsageError
from reconcile.core.model import EnvUrl, Inventory, ResourceKey, Secret, Webhook
from reconcile.runtime import render, signing, templating
from reconcile.runtime.variables import ACCESS_TOKEN


@dataclass(frozen=True)
class TrialRequest:
    """What `webhook test` sends (`headers` in order, the body's exact bytes)."""

    url: str
    body: bytes
    headers: list[tuple[str, str]]


def find_webhook(inventory: Inventory, name: str, entity: str | None = None) -> Webhook:
    """The webhook called `name` (in `entity`, when given); a clear error otherwise."""
    found = [h for h in inventory.webhooks if h.name == name and entity in (None, h.entity)]
    if len(found) == 1:
        return found[0]
    if found:
        teams = ", ".join(sorted(h.entity for h in found))
        raise UsageError(f"webhook {name!r} is declared in several teams ({teams}); add --entity")
    known = ", ".join(sorted({h.name for h in inventory.webhooks})) or "none"
    where = f" in entity {entity!r}" if entity else ""
    raise UsageError(f"no webhook {name!r}{where} in the inventory (declared: {known})")


def credentials(inventory: Inventory, hook: Webhook, env: Mapping[str, str]) -> signing.Credentials:
    """The webhook's token and secret values, read from the environment."""
    declared = {s.key: s for s in inventory.secrets}

    def value(role: str, ref: str | None) -> str | None:
        if ref is None:
            return None
        secret = declared.get(ResourceKey("secret", hook.entity, ref))
        variable = secret.from_env if isinstance(secret, Secret) else ref
        if variable not in env:
            raise UsageError(
                f"webhook {hook.name!r} uses secret {ref!r} as its {role}; set its value in "
                f"the environment variable {variable}"
            )
        return env[variable]

    return signing.Credentials(
        value("access token", hook.access_token), value("secret", hook.secret)
    )


def url_of(hook: Webhook, env: Mapping[str, str]) -> str:
    """The webhook's URL: as written, or from the environment variable it names."""
    if not isinstance(hook.url, EnvUrl):
        return hook.url
    variable = hook.url.from_env
    if not env.get(variable):
        raise UsageError(
            f"webhook {hook.name!r} reads its URL from the environment variable {variable}, "
            "which is not set"
        )
    return env[variable]


def describe_url(hook: Webhook) -> str:
    """The URL for display: the variable's name when it comes from the environment."""
    return f"${hook.url.from_env}" if isinstance(hook.url, EnvUrl) else hook.url


def default_body(hook: Webhook) -> bytes:
    """The body sent when no --payload is given."""
    payload = {
        "event_type": "TEST",
        "entity_name": hook.entity,
        "webhook": hook.name,
        "message": "a test request from reconcile webhook test",
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def payload_body(text: str, origin: str) -> bytes:
    """The bytes of a --payload (JSON text, sent exactly as given, less outer whitespace)."""
    try:
        json.loads(text)
    except ValueError as error:
        raise UsageError(f"--payload {origin}: not valid JSON ({error})") from None
    return text.strip().encode("utf-8")


@dataclass(frozen=True)
class Body:
    """A --payload to send (`sent`) and to print (`shown`: secret values masked);
    `substituted`: the secret variables it used, in order of first use."""

    sent: bytes
    shown: bytes
    substituted: tuple[str, ...] = ()


def with_secrets(given: bytes, hook: Webhook, creds: signing.Credentials) -> Body:
    """The payload with the webhook's secret variables (`${ACCESS_TOKEN}`, `${<its secret's
    name>}`) substituted in its string values, as W&B's Test button does; every other
    `${...}` stays as written. A payload without them is sent byte for byte; one with
    them is sent as compact JSON, like a delivery."""
    values: dict[str, str] = {}
    if hook.access_token and creds.token is not None:
        values[ACCESS_TOKEN] = creds.token
    if hook.secret and creds.secret is not None:
        values[hook.secret] = creds.secret
    used: list[str] = []

    def value_of(name: str, masked: bool) -> str:
        if name not in values:
            return "${" + name + "}"
        if name not in used:
            used.append(name)
        return render.MASK if masked else values[name]

    parsed = json.loads(given)
    sent = render.dumps(templating.substitute(parsed, lambda name: value_of(name, False)))
    if not used:
        return Body(given, given)
    shown = render.dumps(templating.substitute(parsed, lambda name: value_of(name, True)))
    return Body(sent, shown, tuple(used))


def request(url: str, creds: signing.Credentials, body: bytes, timestamp: int) -> TrialRequest:
    """The request, signed over exactly `body`, with a fresh `webhook-id`."""
    message_id = f"msg_test_{secrets.token_hex(12)}"
    return TrialRequest(url, body, signing.headers(creds, body, message_id, timestamp))
