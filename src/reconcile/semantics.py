"""Checks the schema cannot express: names, references, regexes, scopes, URLs, variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import re2  # type: ignore[import-untyped]

from reconcile import templating
from reconcile.events import EVENTS, variable_owner
from reconcile.loader import Finding, Pointer
from reconcile.model import Automation, Inventory, Origin, ResourceKey, Secret, Webhook
from reconcile.ownership import LOCK_NAME
from reconcile.schema import human_path


@dataclass
class Names:
    """Every declared name, including those of resources that failed the schema."""

    first: dict[ResourceKey, Origin] = field(default_factory=dict)
    duplicates: list[tuple[ResourceKey, Origin, Origin]] = field(default_factory=list)

    def add(self, key: ResourceKey, origin: Origin) -> None:
        if key in self.first:
            self.duplicates.append((key, origin, self.first[key]))
        else:
            self.first[key] = origin

    def has(self, key: ResourceKey) -> bool:
        return key in self.first


def _at(origin: Origin, *steps: str | int, message: str, key: bool = False) -> Finding:
    pointer: Pointer = (*origin.pointer, *steps)
    return Finding(origin.path, pointer, f"{human_path(pointer)}: {message}", at_key=key)


def check(inventory: Inventory, names: Names) -> Iterator[Finding]:
    """Every semantic finding of a built inventory, given all declared names."""
    yield from duplicate_names(names)
    hooks = {hook.key: hook for hook in inventory.webhooks}
    for secret in inventory.secrets:
        yield from check_secret(secret)
    for hook in inventory.webhooks:
        yield from check_webhook(hook, names)
    for auto in inventory.automations:
        yield from check_automation(auto, names, hooks)
    yield from _shared_previous_names(inventory)


def duplicate_names(names: Names) -> Iterator[Finding]:
    for key, origin, first in names.duplicates:
        message = f"{key.kind} name {key.name!r} is used twice in entity {key.entity!r}"
        see = Origin(first.path, (*first.pointer, "name"))
        yield Finding(origin.path, (*origin.pointer, "name"), message, see=(see,))


def check_secret(secret: Secret) -> Iterator[Finding]:
    if secret.origin is None:
        return
    if secret.from_env.startswith("WANDB_"):
        yield _at(
            secret.origin,
            "from_env",
            message="WANDB_* variables configure the wandb SDK itself; use a variable of your own",
        )


def check_webhook(hook: Webhook, names: Names) -> Iterator[Finding]:
    origin = hook.origin
    if origin is None:
        return
    if hook.name == LOCK_NAME:
        yield _at(origin, "name", message=f"{LOCK_NAME!r} is reserved for the apply lock")
    problem = url_problem(hook.url)
    if problem:
        yield _at(origin, "url", message=problem)
    for field_name in ("access_token", "secret"):
        ref = getattr(hook, field_name)
        if ref is not None and not names.has(ResourceKey("secret", hook.entity, ref)):
            yield _at(
                origin,
                field_name,
                message=_undeclared("secret", ResourceKey("secret", hook.entity, ref)),
            )


def _undeclared(noun: str, key: ResourceKey) -> str:
    return f"{noun} {key.name!r} is not declared under `{noun}s:` for entity {key.entity!r}"


def url_problem(url: str) -> str | None:
    """Why a webhook URL is not acceptable, or None when it is."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as error:
        return f"{url!r} is not a valid URL: {error}"
    if parts.scheme not in ("https", "http") or not host:
        return f"{url!r} is not an http(s) URL with a host"
    if parts.fragment or url.endswith("#"):
        return "a #fragment is never sent with a request; remove it from the URL"
    if parts.username or parts.password:
        return "credentials in the URL would be stored in git; use access_token instead"
    if parts.scheme == "http" and not _is_loopback(host):
        return f"plain http is allowed only for loopback hosts; use https for {host!r}"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is reported to the user, not to stderr


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not RE2 syntax (W&B's server is written in Go), or None."""
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        detail = error.args[0] if error.args else error
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return (
            f"'{pattern}' is not a valid RE2 regular expression ({detail}); W&B evaluates "
            "it in Go: no look-around, no back-references"
        )
    return None


def check_automation(
    auto: Automation, names: Names, hooks: dict[ResourceKey, Webhook]
) -> Iterator[Finding]:
    origin = auto.origin
    if origin is None:
        return
    yield from _check_scope(auto, origin)
    yield from _check_event(auto, origin)
    yield from _check_previously(auto, origin, names)
    if auto.action.kind == "webhook":
        target = ResourceKey("webhook", auto.entity, auto.action.params["to"])
        if not names.has(target):
            message = _undeclared("webhook", target)
            yield _at(origin, "then", "webhook", "to", message=message)
        yield from _check_payload(auto, origin, hooks.get(target))


def _check_scope(auto: Automation, origin: Origin) -> Iterator[Finding]:
    spec = EVENTS[auto.event.kind]
    scope = auto.scope
    kind = "collection" if scope.collection else ("registry" if scope.registry else "project")
    if kind not in spec.scopes:
        allowed = " or ".join(sorted(spec.scopes))
        message = f"{auto.event.kind} events need a {allowed} scope, not a {kind}"
        yield _at(origin, "when", auto.event.kind, message=message, key=True)


def _check_event(auto: Automation, origin: Origin) -> Iterator[Finding]:
    params = auto.event.params
    steps: tuple[str | int, ...] = ("when", auto.event.kind)
    for name in EVENTS[auto.event.kind].fields:
        value = params.get(name)
        where: tuple[str | int, ...] = (name,)
        if isinstance(value, dict) and "matches" in value:
            value, where = value["matches"], (name, "matches")
        elif name != "alias":
            continue  # a bare tag is an exact tag, not a regex
        if isinstance(value, str):
            problem = regex_problem(value)
            if problem:
                yield _at(origin, *steps, *where, message=problem)
    run_name = params.get("run_name") or {}
    if "matches" in run_name:
        problem = regex_problem(run_name["matches"])
        if problem:
            yield _at(origin, *steps, "run_name", "matches", message=problem)


def _check_previously(auto: Automation, origin: Origin, names: Names) -> Iterator[Finding]:
    for index, old in enumerate(auto.previously):
        if old == auto.name:
            yield _at(origin, "previously", index, message="lists the automation's own name")
            continue
        other = names.first.get(ResourceKey("automation", auto.entity, old))
        if other is not None:
            pointer = (*origin.pointer, "previously", index)
            message = f"{human_path(pointer)}: {old!r} is still the name of another automation"
            see = Origin(other.path, (*other.pointer, "name"))
            yield Finding(origin.path, pointer, message, see=(see,), see_label="named at")


def _shared_previous_names(inventory: Inventory) -> Iterator[Finding]:
    claimed: dict[tuple[str, str], Origin] = {}
    for auto in inventory.automations:
        if auto.origin is None:
            continue
        for index, old in enumerate(auto.previously):
            here = Origin(auto.origin.path, (*auto.origin.pointer, "previously", index))
            first = claimed.setdefault((auto.entity, old), here)
            if first is not here:
                message = f"{human_path(here.pointer)}: {old!r} is a former name of two automations"
                yield Finding(here.path, here.pointer, message, see=(first,))


def _check_payload(auto: Automation, origin: Origin, hook: Webhook | None) -> Iterator[Finding]:
    payload = auto.action.params.get("payload")
    if payload is None:
        return
    base = ("then", "webhook", "payload")
    uses, problems = templating.scan(payload)
    for problem in problems:
        yield _at(origin, *base, *problem.pointer, message=problem.message, key=problem.at_key)
    spec = EVENTS[auto.event.kind]
    granted = _granted(hook)
    for use in uses:
        if spec.allows_variable(use.name) or use.name in granted:
            continue
        yield _at(origin, *base, *use.pointer, message=_variable_message(use.name, auto, hook))


def _granted(hook: Webhook | None) -> set[str]:
    if hook is None:
        return set()
    names = {hook.secret} if hook.secret else set()
    if hook.access_token:
        names.add("ACCESS_TOKEN")
    return names


def _variable_message(name: str, auto: Automation, hook: Webhook | None) -> str:
    kind = auto.event.kind
    if name == "ACCESS_TOKEN":
        return f"${{ACCESS_TOKEN}} needs an access_token on webhook {auto.action.params['to']!r}"
    owner = variable_owner(name)
    if owner:
        return f"${{{name}}} is not set for {kind} events (only for {owner})"
    if hook is not None and name.isupper():
        offered = f"its secret is {hook.secret!r}" if hook.secret else "it has no secret"
        return f"${{{name}}} is not a secret granted to webhook {hook.name!r} ({offered})"
    available = ", ".join(sorted(EVENTS[kind].variables))
    return f"unknown variable ${{{name}}} for {kind} events; available: {available}"
