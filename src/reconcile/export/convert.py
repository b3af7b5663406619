"""Write what a server holds as inventory YAML, so existing objects can come under git.

Pure: a State in, YAML text out. What the inventory cannot express (other event or
action types, other filter operators) or would reject is listed in a comment, with the
reason, instead of being guessed at.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

import yaml

from reconcile.core.model import Automation, EnvUrl, Remote, ResourceKey, Secret, State, Webhook
from reconcile.core.safe import inline, visible
from reconcile.plan.normalize import scope as scope_mapping

MODELINE = "# yaml-language-server: $schema={schema}\n"
HEADER = "# Exported by `reconcile export`.\n"


# Automations whose exported form the inventory would reject, and why (export.destination
# finds them: validating is the inventory's business, not this pure module's).
Rejected = Mapping[ResourceKey, str]
NONE_REJECTED: Rejected = MappingProxyType({})


def document(
    entity: str,
    state: State,
    skip: Collection[ResourceKey] = (),
    rejected: Rejected = NONE_REJECTED,
) -> dict[str, Any]:
    """The inventory mapping for one entity's exportable objects, but those in `skip`."""
    return draft(entity, state, {*skip, *left_out(entity, state, rejected)})


def draft(entity: str, state: State, skip: Collection[ResourceKey]) -> dict[str, Any]:
    """The mapping of every expressible object of the entity but `skip`, unchecked."""
    remotes = [r for r in state.resources if r.key.entity == entity and r.key not in skip]
    secrets = [_secret(r.value) for r in remotes if isinstance(r.value, Secret)]
    webhooks = [_webhook(r.value) for r in remotes if isinstance(r.value, Webhook)]
    automations = [
        _automation(r.value)
        for r in remotes
        if isinstance(r.value, Automation) and representable(r)
    ]
    out: dict[str, Any] = {"entity": entity}
    for name, rows in (("secrets", secrets), ("webhooks", webhooks), ("automations", automations)):
        if rows:
            out[name] = sorted(rows, key=lambda row: row["name"])
    return out


def left_out(
    entity: str, state: State, rejected: Rejected = NONE_REJECTED
) -> dict[ResourceKey, str]:
    """The entity's automations that are not exported, and why: the inventory has no
    words for them, or (`rejected`) their exported form would not validate."""
    out = {
        r.key: reason
        for r in state.resources
        if r.key.entity == entity and (reason := why_not(r)) is not None
    }
    out.update((key, why) for key, why in rejected.items() if key.entity == entity)
    return out


def representable(remote: Remote) -> bool:
    return why_not(remote) is None


def why_not(remote: Remote) -> str | None:
    """Why the inventory cannot express this server object, or None when it can."""
    value = remote.value
    if isinstance(value, Webhook) and remote.url_masked:
        return (
            f"its URL reads as {value.url} with this key; export it with a key of an admin "
            f"of team {value.entity}"
        )
    if not isinstance(value, Automation):
        return None
    if value.event.kind.startswith("unsupported:"):
        return str(value.event.params.get("reason") or f"the event {value.event.kind[12:]}")
    if value.action.kind.startswith("unsupported:"):
        return f"the action {value.action.kind[12:] or 'of an unknown type'}"
    if not (value.scope.project or value.scope.team or value.scope.organization):
        return (
            "a scope that is not a project, a registry, a collection, the team or its organization"
        )
    return None


def exported(
    entity: str, state: State, skip: Collection[ResourceKey], rejected: Rejected = NONE_REJECTED
) -> list[ResourceKey]:
    """The keys the file holds: the entity's exportable objects, but those in `skip`."""
    leave = left_out(entity, state, rejected)
    return sorted(
        r.key
        for r in state.resources
        if r.key.entity == entity and r.key not in skip and r.key not in leave
    )


def skipped(entity: str, state: State, rejected: Rejected = NONE_REJECTED) -> list[str]:
    """The entity's objects that are not exported: `kind name (why)`, by name.

    Names and reasons may come from the server: a line break or an ANSI escape in
    them is spelled out (`safe.visible`), so a note is one line, in a terminal and in
    the YAML comment that lists it.
    """
    found = sorted(left_out(entity, state, rejected).items(), key=lambda item: item[0].name)
    return [f"{key.kind} {visible(key.name)} ({inline(why)})" for key, why in found]


def render(
    entity: str,
    state: State,
    schema_ref: str | None,
    skip: Collection[ResourceKey] = (),
    rejected: Rejected = NONE_REJECTED,
) -> str:
    """The YAML file for one entity, with a schema modeline and a note of what was skipped.

    `skip`: objects declared elsewhere already, left out so no name is declared twice.
    """
    text = (MODELINE.format(schema=schema_ref) if schema_ref else "") + HEADER
    notes = skipped(entity, state, rejected)
    if notes:
        text += "# Not exported:\n" + "".join(f"#   {line}\n" for line in notes)
    body = yaml.safe_dump(
        document(entity, state, skip, rejected), sort_keys=False, allow_unicode=True, width=100
    )
    return text + body


def _secret(secret: Secret) -> dict[str, Any]:
    row: dict[str, Any] = {"name": secret.name, "from_env": secret.name}
    if secret.rotation:
        row["rotation"] = secret.rotation
    return row


def _webhook(hook: Webhook) -> dict[str, Any]:
    row: dict[str, Any] = {"name": hook.name, "url": hook.url}
    if isinstance(hook.url, EnvUrl):  # the value stays on the server, never in a file
        row["url"] = {"from_env": hook.url.from_env}
        if hook.url.rotation:
            row["url"]["rotation"] = hook.url.rotation
    if hook.access_token:
        row["access_token"] = hook.access_token
    if hook.secret:
        row["secret"] = hook.secret
    return row


def _automation(auto: Automation) -> dict[str, Any]:
    row: dict[str, Any] = {"name": auto.name}
    if auto.description:
        row["description"] = auto.description
    if not auto.enabled:
        row["enabled"] = False
    row["scope"] = scope_mapping(auto.scope)
    row["when"] = {auto.event.kind: _present(auto.event.params)}
    row["then"] = {auto.action.kind: _present(auto.action.params)}
    if auto.protect:
        row["protect"] = True
    return row


def _present(params: Any) -> dict[str, Any] | None:
    kept = {key: value for key, value in dict(params).items() if value is not None}
    return kept or None
