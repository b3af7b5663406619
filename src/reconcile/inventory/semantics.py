"""Checks the schema cannot express: names, references, regexes, scopes, URLs, variables."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import re2  # type: ignore[import-untyped]

from reconcile.core import filters
from reconcile.core.events import EVENTS, METADATA_PREFIX, variable_owner
from reconcile.core.model import (
    REGISTRY_PREFIX,
    Automation,
    Inventory,
    Kind,
    Origin,
    ResourceKey,
    Scope,
    Secret,
    Webhook,
)
from reconcile.core.ownership import LOCK_NAME
from reconcile.inventory import build, credentials, hygiene
from reconcile.inventory.loader import Finding, Pointer
from reconcile.inventory.schema import did_you_mean, human_path
from reconcile.runtime import addresses, templating
from reconcile.runtime.variables import secret_variables


@dataclass
class Names:
    """Every declared name, including those of resources that failed the schema."""

    first: dict[ResourceKey, Origin] = field(default_factory=dict)
    duplicates: list[tuple[ResourceKey, Origin, Origin]] = field(default_factory=list)
    # Files that could not be read: any name may be declared there, so a reference
    # to an unknown name is not reported; `unchecked` counts those left unreported.
    unread: tuple[str, ...] = ()
    unchecked: int = 0
    # Names declared in inventory files the command's PATHS leave out, and their file.
    left_out: dict[ResourceKey, str] = field(default_factory=dict)

    def add(self, key: ResourceKey, origin: Origin) -> None:
        if key in self.first:
            self.duplicates.append((key, origin, self.first[key]))
        else:
            self.first[key] = origin

    def has(self, key: ResourceKey) -> bool:
        return key in self.first

    def missing(self, key: ResourceKey) -> bool:
        """Whether a reference to `key` is known to be wrong (not merely unverifiable)."""
        if key in self.first:
            return False
        if self.unread:
            self.unchecked += 1
            return False
        return True

    def of(self, kind: str, entity: str) -> list[str]:
        """The names declared for one kind in one entity, for "did you mean"."""
        return sorted(k.name for k in self.first if k.kind == kind and k.entity == entity)


def _at(origin: Origin, *steps: str | int, message: str, key: bool = False) -> Finding:
    pointer: Pointer = (*origin.pointer, *steps)
    return Finding(origin.path, pointer, f"{human_path(pointer)}: {message}", at_key=key)


def _warn(origin: Origin, *steps: str | int, message: str, unless_quoted: bool = False) -> Finding:
    found = _at(origin, *steps, message=message)
    return replace(found, warning=True, unless_quoted=unless_quoted)


def check(inventory: Inventory, names: Names) -> Iterator[Finding]:
    """Every semantic finding of a built inventory, given all declared names."""
    yield from duplicate_names(names)
    # A webhook name declared twice is reported once, as such: which of the two an
    # automation means is unknown, so what they grant is not checked against either.
    twice = {key for key, _, _ in names.duplicates}
    hooks = {hook.key: hook for hook in inventory.webhooks if hook.key not in twice}
    for secret in inventory.secrets:
        yield from check_secret(secret)
        yield from hygiene.check_secret(secret)
    for hook in inventory.webhooks:
        yield from check_webhook(hook, names)
        yield from hygiene.check_webhook(hook)
    for auto in inventory.automations:
        yield from check_automation(auto, names, hooks)
        yield from hygiene.check_automation(auto)
    yield from _shared_previous_names(inventory)


def duplicate_names(names: Names) -> Iterator[Finding]:
    for key, origin, first in names.duplicates:
        message = (
            f"{key.kind} name {credentials.shown(key.name)} is used twice in entity {key.entity!r}"
        )
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
    problem = url_problem(hook.url) if isinstance(hook.url, str) else None
    if problem:
        yield _at(origin, "url", message=problem)
    elif isinstance(hook.url, str):
        unreachable = undeliverable(hook.url)
        if unreachable:
            yield _warn(origin, "url", message=unreachable)
    for field_name in ("access_token", "secret"):
        ref = getattr(hook, field_name)
        if ref is None or credentials.describe(ref):  # hygiene reports it, unquoted
            continue
        if names.missing(ResourceKey("secret", hook.entity, ref)):
            key = ResourceKey("secret", hook.entity, ref)
            yield _at(origin, field_name, message=_undeclared("secret", key, names))


def _undeclared(noun: Kind, key: ResourceKey, names: Names) -> str:
    hint = did_you_mean(key.name, names.of(noun, key.entity))
    name = credentials.shown(key.name)
    elsewhere = names.left_out.get(key)
    if elsewhere is not None:
        return (
            f"{noun} {name} is declared in {elsewhere}, which the PATHS given leave out: "
            "give that file too, or the whole folder"
        )
    return f"{noun} {name} is not declared under `{noun}s:` for entity {key.entity!r}{hint}"


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


def undeliverable(url: str) -> str | None:
    """Why W&B would not deliver to `url` (a valid URL): its host is a loopback, private
    or other non-public address, by the delivery policy the embedded server applies.

    Only what the URL says is judged (an address, `localhost`); a name is not resolved."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        kind: str | None = "loopback"
    else:
        try:
            kind = addresses.kind_of(ipaddress.ip_address(host))
        except ValueError:
            return None
    if kind is None:
        return None
    article = "an" if kind[0] in "aeiouIU" else "a"
    shown = f"[{host}]" if ":" in host else host
    allow = f"{shown}:{parts.port}" if parts.port else host
    return (
        f"{host} is {article} {kind} address: W&B delivers to public addresses only, so this "
        f"webhook works only with reconcile's embedded server (--allow-delivery-to {allow})"
    )


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
        message = f"'{pattern}' is not a valid RE2 regular expression ({detail})"
        if _GO_ONLY.search(str(detail)):
            message += "; W&B evaluates it in Go: no look-around, no back-references"
        return message
    return None


# What Python and PCRE accept but Go's RE2 does not: look-around and back-references.
_GO_ONLY = re.compile(r"\\(?:[1-9]|k)|\(\?[=!]|\(\?<[=!]")


_FLAGS = re.compile(r"^\(\?[imsU]+\)")


def unanchored(pattern: str) -> bool:
    """Whether a regex has neither ^ at its start nor $ at its end: it matches inside names."""
    body = _FLAGS.sub("", pattern)
    return not body.startswith(("^", "\\A", ".*")) and not body.endswith(("$", "\\z"))


def _unanchored_message(pattern: str, noun: str) -> str:
    example = f", such as 'pre-{pattern}'" if re.fullmatch(r"[\w-]+", pattern) else ""
    return (
        f"'{pattern}' has no ^ or $, so it matches any {noun} containing a match{example}; "
        f"write '^{pattern}$' to match the whole {noun}"
    )


def check_automation(
    auto: Automation, names: Names, hooks: dict[ResourceKey, Webhook]
) -> Iterator[Finding]:
    origin = auto.origin
    if origin is None:
        return
    yield from _check_scope(auto, origin)
    yield from _check_previously(auto, origin, names)
    if auto.action.kind == "webhook":
        target = ResourceKey("webhook", auto.entity, auto.action.params["to"])
        if names.missing(target):
            message = _undeclared("webhook", target, names)
            yield _at(origin, "then", "webhook", "to", message=message)
        yield from _check_payload(auto, origin, hooks.get(target))
    if auto.action.kind == "slack":
        yield from _check_slack_texts(auto, origin)


def _check_slack_texts(auto: Automation, origin: Origin) -> Iterator[Finding]:
    """`${...}` in a Slack title or message: W&B sends these texts as written."""
    for name in ("title", "message"):
        text = auto.action.params.get(name)
        found = templating.VARIABLE.search(text) if isinstance(text, str) else None
        if found is not None:
            message = (
                f"{found.group(0)!r} is sent as written: variables are substituted in "
                "webhook payloads only (W&B documents none for Slack titles and messages; "
                "the message already names the event and the version)"
            )
            yield _warn(origin, "then", "slack", name, message=message)


def _scope_kind(scope: Scope) -> str:
    if scope.team is not None:
        return "team"
    if scope.organization is not None:
        return "organization"
    return "collection" if scope.collection else ("registry" if scope.registry else "project")


def _check_scope(auto: Automation, origin: Origin) -> Iterator[Finding]:
    spec = EVENTS[auto.event.kind]
    scope = auto.scope
    if scope.team is not None and scope.team != auto.entity:
        message = (
            f"team {scope.team!r} is not this automation's team {auto.entity!r}: "
            "a team scope covers the automation's own team"
        )
        yield _at(origin, "scope", "team", message=message)
    whole = "a team" if scope.team is not None else "an organization"
    if (scope.team or scope.organization) is not None and scope.collection is not None:
        message = f"{whole} scope has no collection: give a project or registry with it"
        yield _at(origin, "scope", "collection", message=message, key=True)
    kind = _scope_kind(scope)
    if kind not in spec.scopes:
        allowed = " or ".join(sorted(spec.scopes))
        article = "an" if kind == "organization" else "a"
        message = f"{auto.event.kind} events need a {allowed} scope, not {article} {kind}"
        if kind == "organization" and not spec.artifact:
            message += ": an organization scope covers its registries, which have no runs"
        elif kind in ("team", "organization"):
            message += ": W&B allows it on a collection only; give a project or registry with it"
        elif "collection" in spec.scopes:
            message += ": add `collection:` to the scope"
            if kind == "registry":
                message += ", or use artifact_linked (a version linked into the registry)"
        yield _at(origin, "when", auto.event.kind, message=message, key=True)


def check_registry(scope: Any, origin: Origin) -> Iterator[Finding]:
    """`registry: wandb-registry-model`, written as W&B names the registry's project: it
    is read as the registry `model`, and said so."""
    written = scope.get("registry") if isinstance(scope, dict) else None
    if isinstance(written, str) and build.registry_name(written) != written:
        name = build.registry_name(written)
        message = (
            f"{written!r} is read as the registry {name!r}: W&B adds the {REGISTRY_PREFIX!r} "
            f"prefix itself; write `registry: {name}`"
        )
        yield _warn(origin, "scope", "registry", message=message)


def check_filters(when: Any, origin: Origin) -> Iterator[Finding]:
    """The alias, tag and run-name tests of an automation's `when:`, as written (so each
    finding points at the operator in the file)."""
    if not isinstance(when, dict) or len(when) != 1:
        return
    ((kind, params),) = when.items()
    if kind not in EVENTS or not isinstance(params, dict):
        return
    for name in (*EVENTS[kind].fields, "run_name"):
        for where, form, operand in filters.leaves(name, params.get(name), (name,)):
            yield from _check_operand(origin, ("when", kind, *where), name, form, operand)


_NOUNS = {
    "alias": ("alias", "an alias"),
    "tag": ("tag", "a tag"),
    "run_name": ("run name", "a run name"),
}


def _check_operand(
    origin: Origin, at: Pointer, field_name: str, form: str, operand: Any
) -> Iterator[Finding]:
    """An alias, tag or run-name operator's operand: a valid RE2 regex, a name, a finite
    number; what can never match is told."""
    noun, a_noun = _NOUNS[field_name]
    if form == "matches" and isinstance(operand, str):
        problem = regex_problem(operand)
        if problem:
            yield _at(origin, *at, message=problem)
        elif not operand:
            yield _warn(origin, *at, message=f"'' matches every {noun}: the test lets all pass")
        elif unanchored(operand):
            yield _warn(origin, *at, message=_unanchored_message(operand, noun))
        return
    values = operand if isinstance(operand, list) else [operand]
    for index, value in enumerate(values):
        where = (*at, index) if isinstance(operand, list) else at
        if isinstance(value, float) and not math.isfinite(value):
            yield _at(origin, *where, message="too large a number: W&B stores finite JSON numbers")
        elif form != "exists" and not isinstance(value, str):
            message = (
                f"{a_noun} is text, so it is never {_shown(value)}; "
                f"quote it ('{_shown(value)}') to compare with that text"
            )
            yield _warn(origin, *where, message=message)
    if form in ("one_of", "none_of") and not operand:
        always = "never passes" if form == "one_of" else "always passes"
        yield _warn(origin, *at, message=f"an empty list: the test {always}")


def _shown(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


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


@dataclass(frozen=True)
class _Scanned:
    """What the checks read from a payload alone, the same for every equal payload."""

    texts: list[tuple[Pointer, str]]
    leaks: list[tuple[Pointer, str]]
    uses: list[templating.Use]
    problems: list[templating.TemplateProblem]


# Payloads scanned, by their repr (which tells str from number from bool, and keeps
# the order of keys): an inventory's automations mostly share a few templates.
_SCANNED: dict[str, _Scanned] = {}
_SCANNED_MAX = 4096  # emptied when full


def _scanned(payload: object) -> _Scanned:
    key = repr(payload)
    found = _SCANNED.get(key)
    if found is None:
        texts = credentials.strings(payload)
        uses, problems = templating.scan(payload)
        found = _Scanned(texts, hygiene.leaked(texts), uses, problems)
        if len(_SCANNED) >= _SCANNED_MAX:
            _SCANNED.clear()
        _SCANNED[key] = found
    return found


def _check_payload(auto: Automation, origin: Origin, hook: Webhook | None) -> Iterator[Finding]:
    payload = auto.action.params.get("payload")
    if payload is None:
        return
    base = ("then", "webhook", "payload")
    scanned = _scanned(payload)
    texts, problems = scanned.texts, scanned.problems
    yield from hygiene.refused_leaks(origin, scanned.leaks)
    quiet = {pointer for pointer, _ in scanned.leaks}
    uses = [use for use in scanned.uses if use.pointer not in quiet]
    for problem in problems:
        if problem.pointer in quiet:
            continue
        yield _at(origin, *base, *problem.pointer, message=problem.message, key=problem.at_key)
    for pointer, word in texts:
        if word not in _YAML11_BOOLEANS:
            continue
        message = (
            f"{word} is the string {word!r} here, but YAML 1.1 tools read it as a boolean; "
            f"quote it ('{word}') to keep the string, or write true or false"
        )
        yield _warn(origin, *base, *pointer, message=message, unless_quoted=True)
    yield from _check_uses(auto, origin, hook, uses)
    yield from _bare_dollars(auto, origin, hook, [t for t in texts if t[0] not in quiet])


def _check_uses(
    auto: Automation, origin: Origin, hook: Webhook | None, uses: list[templating.Use]
) -> Iterator[Finding]:
    """Each `${name}`: granted, a variable of the event, of another event (sent blank, as
    W&B sends it: a warning), or unknown."""
    base = ("then", "webhook", "payload")
    spec = EVENTS[auto.event.kind]
    granted = _granted(hook)
    for use in uses:
        if hook is not None and use.name == hook.secret:
            yield _warn(origin, *base, *use.pointer, message=_signing_message(hook))
        if spec.allows_variable(use.name) or use.name in granted:
            continue
        if hook is None and (use.name.isupper() or use.name == "ACCESS_TOKEN"):
            continue  # what the webhook grants is unknown; its own problem is reported
        owner = variable_owner(use.name)
        if owner:  # legal, and rarely meant
            message = (
                f"${{{use.name}}} is blank for {auto.event.kind} events (W&B sends a variable "
                f"that does not apply to the event as an empty string; it is set for {owner})"
            )
            yield _warn(origin, *base, *use.pointer, message=message)
            continue
        yield _at(origin, *base, *use.pointer, message=_variable_message(use.name, auto, hook))


# `$NAME` (no braces), not after another `$` or a backslash.
_BARE = re.compile(r"(?<![$\\])\$([A-Za-z_][A-Za-z0-9_]*)")


def _bare_dollars(
    auto: Automation, origin: Origin, hook: Webhook | None, texts: list[tuple[Pointer, str]]
) -> Iterator[Finding]:
    """`$NAME` where `${NAME}` was meant: only `${...}` is substituted, so it is sent as
    written. Told for names a variable or a granted secret has (other `$words` are text)."""
    granted = _granted(hook)
    spec = EVENTS[auto.event.kind]
    for pointer, text in texts:
        for match in _BARE.finditer(text):
            name = match.group(1)
            if hook is not None and name == hook.access_token and name not in granted:
                meant, what = "ACCESS_TOKEN", f"the access token of webhook {hook.name!r}"
            elif name in granted:
                meant, what = name, f"secret {name!r}"
            elif spec.allows_variable(name) or variable_owner(name):
                meant, what = name, "the variable"
            else:
                continue
            message = (
                f"{match.group(0)!r} is sent as written: only ${{...}} is substituted; "
                f"write '${{{meant}}}' for {what}"
            )
            yield _warn(origin, "then", "webhook", "payload", *pointer, message=message)


def _signing_message(hook: Webhook) -> str:
    return (
        f"${{{hook.secret}}} puts the signing secret of webhook {hook.name!r} in the request body; "
        "it already signs every request (X-Wandb-Signature): have the receiver check that"
    )


_YAML11_BOOLEANS = frozenset(
    case(word)
    for word in ("y", "yes", "n", "no", "on", "off")
    for case in (str.lower, str.title, str.upper)
)


def _granted(hook: Webhook | None) -> set[str]:
    return set(secret_variables(hook))


def _variable_message(name: str, auto: Automation, hook: Webhook | None) -> str:
    kind = auto.event.kind
    to = auto.action.params["to"]
    if name == "ACCESS_TOKEN":
        return f"${{ACCESS_TOKEN}} needs an access_token on webhook {to!r}"
    if hook is not None and name == hook.access_token:
        return (
            f"${{{name}}} is the access token of webhook {to!r}; a payload refers to it "
            "as ${ACCESS_TOKEN}"
        )
    granted = sorted(_granted(hook))
    hint = did_you_mean(name, [*granted, *EVENTS[kind].variables])
    if hook is not None and name.isupper():
        offered = f"its secret is {hook.secret!r}" if hook.secret else "it has no secret"
        return f"${{{name}}} is not a secret granted to webhook {hook.name!r}" + (
            hint or f" ({offered})"
        )
    metadata = [METADATA_PREFIX + "KEY"] if EVENTS[kind].artifact else []
    available = ", ".join([*sorted(EVENTS[kind].variables), *metadata, *granted])
    return f"unknown variable ${{{name}}} for {kind} events{hint}; available: {available}"
