"""Input checks for the GraphQL mutations: names, event/scope pairs, filters, payloads.

Each check raises `InvalidInput` with a message naming the field and the rule, so a
refused request says how to fix it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import re2  # type: ignore[import-untyped]

from reconcile.model import REGISTRY_PREFIX
from reconcile.server.errors import InvalidInput

TRIGGER_NAME_MAX = 255
WEBHOOK_NAME_RE = re.compile(r"^[-\w]+([ ]+[-\w]+)*$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
ENTITY_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PROJECT_NAME_RE = re.compile(r"^[^/\\#?%:\s][^/\\#?%:]{0,127}$")
COLLECTION_NAME_RE = re.compile(r"^[-\w.]{1,128}$")
# Slack's own rule for channel names.
SLACK_CHANNEL_RE = re.compile(r"^[a-z0-9_-]{1,80}$")
SLACK_TEAM_MAX = 100

ARTIFACT_EVENTS = frozenset(
    {
        "ADD_ARTIFACT_ALIAS",
        "CREATE_ARTIFACT",
        "LINK_MODEL",
        "ADD_ARTIFACT_TAG",
        "REMOVE_ARTIFACT_TAG",
        "ADD_COLLECTION_TAG",
        "REMOVE_COLLECTION_TAG",
        "UNLINK_ARTIFACT",
        "UPDATE_ARTIFACT_ALIAS",
    }
)
RUN_EVENTS = frozenset({"RUN_METRIC", "RUN_METRIC_CHANGE", "RUN_METRIC_ZSCORE", "RUN_STATE"})
# wandb-api.md §2: which scopes each creatable event accepts.
SCOPES_FOR_EVENT: dict[str, frozenset[str]] = {
    **{
        event: frozenset({"PROJECT", "ARTIFACT_COLLECTION"})
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
OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex"}
    | {"$contains", "$and", "$or", "$not", "$nor"}
)
RUN_STATES = frozenset({"RUNNING", "FINISHED", "FAILED", "CRASHED"})

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def check_name(kind: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not pattern.match(value):
        raise InvalidInput(f"invalid {kind} name {value!r}: {rule}")
    return value


def check_trigger_name(name: str) -> str:
    if not name.strip() or len(name) > TRIGGER_NAME_MAX:
        raise InvalidInput(f"automation name must be 1 to {TRIGGER_NAME_MAX} characters")
    if any(ord(ch) < 32 for ch in name):
        raise InvalidInput("automation name must not contain control characters")
    return name


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
    if not name.strip() or len(name) > SLACK_TEAM_MAX or any(ord(ch) < 32 for ch in name):
        raise InvalidInput(
            f"invalid Slack team name {name!r}: 1 to {SLACK_TEAM_MAX} printable characters"
        )
    return name


def check_project_name(name: str) -> str:
    check_name("project", name, PROJECT_NAME_RE, "1-128 characters, none of / \\ # ? % :")
    if name.startswith(REGISTRY_PREFIX) and not COLLECTION_NAME_RE.match(
        name[len(REGISTRY_PREFIX) :]
    ):
        raise InvalidInput(f"invalid registry name {name!r}: letters, digits, '-', '_', '.'")
    return name


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise InvalidInput(f"invalid urlEndpoint {url!r}: an http(s) URL with a host")
    return url


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


def json_object(field: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{field} is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object")
    return value


def check_event_filter(event: str, text: str) -> None:
    """The filter is a JSON object with known operators, RE2 regexes and the event's parts."""
    value = json_object("eventFilter", text)
    if event in RUN_EVENTS:
        _check_run_filter(event, value)
    else:
        _check_operators(value, "eventFilter")


def _check_operators(value: Any, where: str) -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_operators(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$") and key not in OPERATORS:
                raise InvalidInput(f"{where}: unknown operator {key}")
            if key == "$regex":
                _check_regex(item, where)
            _check_operators(item, f"{where}.{key}")


def _check_regex(pattern: Any, where: str) -> None:
    if not isinstance(pattern, str):
        raise InvalidInput(f"{where}: $regex needs a string")
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode() if isinstance(error.args[0], bytes) else str(error)
        raise InvalidInput(f"{where}: invalid RE2 regex {pattern!r}: {reason}") from None


def _check_run_filter(event: str, value: dict[str, Any]) -> None:
    run_filter = value.get("run_filter")
    if run_filter is not None:
        if not isinstance(run_filter, str):
            raise InvalidInput("eventFilter.run_filter must be a JSON string")
        _check_operators(json_object("eventFilter.run_filter", run_filter), "run_filter")
    metric = value.get("run_metric_filter") or {}
    required = {
        "RUN_METRIC": ("run_metric_filter", "threshold_filter"),
        "RUN_METRIC_CHANGE": ("run_metric_filter", "change_filter"),
        "RUN_METRIC_ZSCORE": ("run_metric_filter", "zscore_filter"),
    }
    if event in required:
        part = required[event][1]
        if not isinstance(metric, dict) or not isinstance(metric.get(part), dict):
            raise InvalidInput(f"eventFilter for {event} needs run_metric_filter.{part}")
        if not isinstance(metric[part].get("name"), str) or not metric[part]["name"]:
            raise InvalidInput(f"eventFilter.run_metric_filter.{part} needs a metric name")
    if event == "RUN_STATE":
        states = (value.get("run_state_filter") or {}).get("states")
        if not isinstance(states, list) or not states or not set(states) <= RUN_STATES:
            raise InvalidInput(
                f"eventFilter for RUN_STATE needs run_state_filter.states, a non-empty "
                f"list of {', '.join(sorted(RUN_STATES))}"
            )


def check_payload(text: str | None) -> None:
    if text is not None:
        json_object("requestPayload", text)
