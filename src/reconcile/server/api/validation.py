"""Input checks for the GraphQL mutations: names, event/scope pairs, filters, payloads.

Each check raises `InvalidInput` with a message naming the field and the rule, so a
refused request says how to fix it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.runtime import filters
from reconcile.runtime.filters import ARTIFACT_WIRE
from reconcile.server.errors import InvalidInput

TRIGGER_NAME_MAX = 255
# Documented limits (README, "The server"): sizes in characters, depth in nested
# JSON objects and arrays.
DESCRIPTION_MAX = 4096
EVENT_FILTER_MAX = 64 * 1024
PAYLOAD_MAX = 64 * 1024
FILTERS_MAX = 4096
JSON_DEPTH_MAX = 32
# C0 controls, DEL, C1 controls, bidirectional marks, embeddings, overrides and
# isolates (they make a name read differently from what it is), lone surrogates.
_UNPRINTABLE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
WEBHOOK_NAME_RE = re.compile(r"^[-\w]+([ ]+[-\w]+)*$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
ENTITY_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PROJECT_NAME_RE = re.compile(r"^[^/\\#?%:\s][^/\\#?%:]{0,127}$")
COLLECTION_NAME_RE = re.compile(r"^[-\w.]{1,128}$")
# Slack's own rule for channel names.
SLACK_CHANNEL_RE = re.compile(r"^[a-z0-9_-]{1,80}$")
SLACK_TEAM_MAX = 100

# The artifact events, as the evaluator knows them (their filters are artifact filters).
ARTIFACT_EVENTS = ARTIFACT_WIRE
RUN_EVENTS = frozenset({"RUN_METRIC", "RUN_METRIC_CHANGE", "RUN_METRIC_ZSCORE", "RUN_STATE"})
# wandb-api.md §2: which scopes each creatable event accepts. An ENTITY scope (a team,
# or an organization's entity for its registries) takes artifact events too, as SDK 0.31
# writes them and W&B's own system tests create them.
SCOPES_FOR_EVENT: dict[str, frozenset[str]] = {
    **{
        event: frozenset({"PROJECT", "ARTIFACT_COLLECTION", "ENTITY"})
        for event in ARTIFACT_EVENTS - {"CREATE_ARTIFACT", "UPDATE_ARTIFACT_ALIAS"}
    },
    "CREATE_ARTIFACT": frozenset({"ARTIFACT_COLLECTION"}),
    **{event: frozenset({"PROJECT", "ENTITY"}) for event in RUN_EVENTS},
}
ACTION_INPUTS = {
    "GENERIC_WEBHOOK": "genericWebhookActionInput",
    "NOTIFICATION": "notificationActionInput",
    "NO_OP": "noOpActionInput",
}


def check_printable(kind: str, value: str) -> str:
    """Refuse control characters and bidirectional overrides in a name."""
    found = _UNPRINTABLE_RE.search(value)
    if found:
        raise InvalidInput(
            f"invalid {kind} name: control or bidirectional character "
            f"U+{ord(found.group()):04X} at position {found.start()}"
        )
    return value


def check_name(kind: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    check_printable(kind, value)
    # fullmatch: `$` in a pattern would also accept a trailing newline.
    if not pattern.fullmatch(value):
        raise InvalidInput(f"invalid {kind} name {value!r}: {rule}")
    return value


def check_trigger_name(name: str) -> str:
    if not name.strip() or len(name) > TRIGGER_NAME_MAX:
        raise InvalidInput(f"automation name must be 1 to {TRIGGER_NAME_MAX} characters")
    return check_printable("automation", name)


def check_size(field: str, text: str | None, limit: int) -> None:
    if text is not None and len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters long; the limit is {limit}")


def check_webhook_name(name: str) -> str:
    if len(name) > 64:
        raise InvalidInput(f"invalid webhook name {name!r}: at most 64 characters")
    rule = "letters, digits, '_' and '-', words separated by spaces"
    return check_name("webhook", name, WEBHOOK_NAME_RE, rule)


def check_secret_name(name: str) -> str:
    return check_name("secret", name, SECRET_NAME_RE, "only letters, digits and '_'")


def check_slack_channel(channel: str) -> str:
    """A Slack channel name, given with or without its leading `#`; returned without."""
    name = channel.removeprefix("#")
    rule = "1 to 80 of lowercase letters, digits, '-' and '_'"
    return check_name("Slack channel", name, SLACK_CHANNEL_RE, rule)


def check_slack_team(name: str) -> str:
    check_printable("Slack team", name)
    if not name.strip() or len(name) > SLACK_TEAM_MAX:
        raise InvalidInput(
            f"invalid Slack team name {name!r}: 1 to {SLACK_TEAM_MAX} printable characters"
        )
    return name


def check_project_name(name: str) -> str:
    check_name("project", name, PROJECT_NAME_RE, "1-128 characters, none of / \\ # ? % :")
    is_registry = name[: len(REGISTRY_PREFIX)].lower() == REGISTRY_PREFIX
    if is_registry and not COLLECTION_NAME_RE.fullmatch(name[len(REGISTRY_PREFIX) :]):
        raise InvalidInput(f"invalid registry name {name!r}: letters, digits, '-', '_', '.'")
    return name


URL_MAX = 2048


def check_url(url: str) -> str:
    """An http(s) URL with a host, a valid port, no credentials and no control characters."""
    problem = url_problem(url)
    if problem:
        # Whole and as given: clients find a secret URL in the message to mask it.
        raise InvalidInput(f"invalid urlEndpoint {url!r}: {problem}")
    return url


def url_problem(url: str) -> str | None:
    if len(url) > URL_MAX:
        return f"longer than {URL_MAX} characters"
    # urlsplit silently drops tabs and newlines; a header could be smuggled with them.
    if _UNPRINTABLE_RE.search(url) or any(ch.isspace() for ch in url):
        return "control characters and spaces are not allowed"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as error:
        return f"not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not host:
        return "an http(s) URL with a host"
    if port == 0:
        return "port 0 is not a valid port"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use accessTokenRef"
    return None


def check_scope_for_event(event: str, scope_type: str, is_registry: bool) -> None:
    allowed = SCOPES_FOR_EVENT.get(event)
    if allowed is None:
        raise InvalidInput(f"event {event} cannot be used in new automations")
    if scope_type not in allowed:
        raise InvalidInput(
            f"event {event} needs a scope of type {' or '.join(sorted(allowed))}, not {scope_type}"
        )
    if is_registry and event in RUN_EVENTS:
        raise InvalidInput(f"event {event} watches runs, which registries do not have")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]} is out of range")
    return number


def strict_loads(text: str) -> Any:
    """json.loads without NaN, Infinity or numbers that overflow to infinity."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite)


def json_value(field: str, text: str) -> Any:
    """Strict JSON (no NaN or Infinity, no overflowing numbers), at most JSON_DEPTH_MAX deep."""
    try:
        value = strict_loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{field} is not valid JSON: {error.msg}") from None
    except RecursionError:
        raise InvalidInput(f"{field} nests deeper than {JSON_DEPTH_MAX} levels") from None
    except ValueError as error:
        raise InvalidInput(f"{field} is not valid JSON: {error}") from None
    if json_depth(value) > JSON_DEPTH_MAX:
        raise InvalidInput(f"{field} nests deeper than {JSON_DEPTH_MAX} levels")
    # A `\ud800` escape decodes to a lone surrogate, which no UTF-8 text can hold.
    if "\\u" in text:
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise InvalidInput(f"{field} holds a lone surrogate (\\ud800-\\udfff)") from None
    return value


def json_depth(value: Any, limit: int = JSON_DEPTH_MAX) -> int:
    """How deeply objects and arrays nest in a decoded JSON value, counted up to just
    past `limit` (level by level, without recursion)."""
    depth = 0
    level = [value]
    while depth <= limit:
        containers = [item for item in level if type(item) is dict or type(item) is list]
        if not containers:
            break
        depth += 1
        level = []
        for container in containers:
            level.extend(container.values() if type(container) is dict else container)
    return depth


def json_object(field: str, text: str) -> dict[str, Any]:
    value = json_value(field, text)
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object")
    return value


def check_event_filter(event: str, text: str) -> None:
    """The filter is one the runtime's evaluator can run (`runtime.filters`): known
    operators and fields, RE2 regexes, finite numbers, bounded windows."""
    check_size("eventFilter", text, EVENT_FILTER_MAX)
    value = json_object("eventFilter", text)
    try:
        filters.compile_event_filter(event, value)
    except filters.FilterError as error:
        raise InvalidInput(str(error)) from None


def check_payload(text: str | None) -> None:
    if text is not None:
        check_size("requestPayload", text, PAYLOAD_MAX)
        json_object("requestPayload", text)


def check_description(text: str | None) -> str | None:
    check_size("description", text, DESCRIPTION_MAX)
    return text
