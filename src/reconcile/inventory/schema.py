"""JSON Schema validation of loaded documents, with errors a person can act on.

A compiled validator (fastjsonschema) answers "valid?" for the common case, about
fifteen times faster; only a document it rejects goes through jsonschema, whose
errors are turned into messages naming the key, the value and what was expected.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

import fastjsonschema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from reconcile.core.events import EVENTS
from reconcile.inventory import credentials
from reconcile.inventory.loader import Document, Finding, Pointer

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}
PATTERN_RULES = {
    "^[a-z0-9][a-z0-9_-]*$": "a team name is lowercase letters, digits, '-' and '_'",
    "^[A-Za-z0-9_]+$": "a secret name is letters, digits and '_'",
    "^[-\\w]+([ ]+[-\\w]+)*$": "a webhook name is words of letters, digits, '_' and '-' "
    "separated by spaces",
    "^\\S(.*\\S)?$": "a name cannot start or end with a space",
    "^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name is letters, digits and '_', "
    "not starting with a digit",
    "^[^/\\\\#?%:]+$": "a project name cannot contain / \\ # ? % or :",
    "^[A-Za-z0-9_.-]+$": "use letters, digits, '-', '_' and '.' only",
}
# Keys people reach for from other tools, and the key they mean here.
KEY_HINTS = {"on": "when", "trigger": "when", "event": "when", "do": "then", "action": "then"}
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO"}


def schema_text() -> str:
    """The inventory JSON Schema, as shipped."""
    return resources.files("reconcile").joinpath("data/inventory.schema.json").read_text("utf-8")


@cache
def validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # only to explain a document that failed

    return Draft202012Validator(json.loads(schema_text()))


@cache
def _compiled() -> Callable[[Any], Any]:
    # Only its yes or no is used (the reasons come from jsonschema). Without details,
    # each `raise` no longer spells out the failing subschema: it generates 0.1 MB of
    # Python instead of 0.94 MB, and compiles in 0.02 s instead of 0.15 s at each start.
    return fastjsonschema.compile(json.loads(schema_text()), detailed_exceptions=False)


def is_valid(data: Any) -> bool:
    """The fast answer; `check` gives the reasons."""
    try:
        _compiled()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def check(document: Document) -> list[Finding]:
    """All schema violations of one document (an empty document is valid)."""
    if document.data is None or is_valid(document.data):
        return []
    errors = list(validator().iter_errors(document.data))
    # A misspelt key also makes the key it stands for missing: report the typo only.
    meant = {(tuple(e.absolute_path), _meant(key, _properties(e))) for e, key in _unknown(errors)}
    found: list[Finding] = []
    for error in errors:
        found.extend(_explain(document.path, error, meant))
    return found


def _unknown(errors: list[ValidationError]) -> Iterator[tuple[ValidationError, str]]:
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            for key in sorted(set(error.instance) - set(_properties(error))):
                yield error, key


def _explain(
    path: str, error: ValidationError, meant: set[tuple[Pointer, str | None]]
) -> Iterator[Finding]:
    pointer: Pointer = tuple(error.absolute_path)
    where = human_path(pointer)
    keyword, expected, value = error.validator, cast(Any, error.validator_value), error.instance
    value = cast(Any, value)
    what = credentials.describe(value) if isinstance(value, str) else None
    if what:  # never echoed: say where it is and what it looks like
        yield Finding(path, pointer, f"{where}: {credentials.refusal(what, place(pointer))}")
        return
    if keyword == "additionalProperties":
        allowed = _properties(error)
        for key in sorted(set(value) - set(allowed)):
            shown = credentials.shown(key)
            message = f"{where}: unknown key {shown}{_suggest(key, allowed, pointer, value)}"
            yield Finding(path, (*pointer, key), message, at_key=True)
        return
    if keyword == "required":
        for key in expected:
            if key not in value and (pointer, key) not in meant:
                yield Finding(path, pointer, f"{where}: missing required key {key!r}", at_key=True)
        return
    if keyword == "oneOf" and any((pointer, key) in meant for key in _one_of_keys(error)):
        return
    if keyword == "oneOf" and _one_of_keys(error) and not isinstance(value, dict):
        return  # "exactly one key of a mapping": the type error says it is no mapping
    on_key = keyword in ("oneOf", "minProperties", "maxProperties") and bool(pointer)
    message = f"{where}: {_describe(keyword, expected, value, error)}"
    yield Finding(path, pointer, message, at_key=on_key)


def _properties(error: ValidationError) -> list[str]:
    """The keys the failing schema names (its `properties`)."""
    schema = error.schema
    return sorted(schema.get("properties", {})) if isinstance(schema, dict) else []


def _describe(keyword: Any, expected: Any, value: Any, error: ValidationError) -> str:
    if keyword == "type":
        return _type_message(expected, value)
    if keyword == "enum":
        hint = did_you_mean(str(value), [str(e) for e in expected])
        choices = ", ".join(str(e) for e in expected)
        return f"{_show(value)} is not one of: {choices}{hint}"
    if keyword == "oneOf":
        return _one_of_message(error)
    if keyword in ("minProperties", "maxProperties"):
        choices = ", ".join(_properties(error))
        if keyword == "minProperties":
            return f"is empty; give one of: {choices}"
        return f"give exactly one, not {' and '.join(sorted(value))}"
    if keyword == "pattern":
        return f"{_show(value)} is not valid: {PATTERN_RULES.get(expected, expected)}"
    if keyword == "maxLength":
        return f"{_show(value)} is longer than {expected} characters"
    if keyword == "minLength":
        return "must not be empty"
    if keyword == "minItems":
        return f"needs at least {expected} item{'s' if expected != 1 else ''}"
    if keyword == "uniqueItems":
        return "lists the same item twice"
    if keyword == "minimum":
        return f"{_show(value)} is less than the minimum {expected}"
    if keyword == "exclusiveMinimum":
        return f"{_show(value)} must be greater than {expected}"
    return error.message


def _type_message(expected: Any, value: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_JSON_TYPES[name] for name in names if name != "null")
    got = _show(value)
    if "boolean" in names and isinstance(value, str) and value in _YAML11_BOOLEANS:
        return f"expected true or false, got the string {value!r} (write true or false)"
    if "string" in names and isinstance(value, bool | int | float):
        return f"expected a string, got {got}; quote it to keep it a string"
    if value is None:
        return f"expected {wanted}, but it is empty"
    if names == ["object"] and _json_object(value):
        return (
            f"expected {wanted}, got JSON text in a string: remove the quotes around it "
            "(a JSON object is YAML too), or write its keys as YAML"
        )
    return f"expected {wanted}, got {got}"


def _json_object(value: Any) -> bool:
    """Whether `value` is a string holding a JSON object (a payload pasted in quotes)."""
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


def _one_of_keys(error: ValidationError) -> list[str | None]:
    """For a `oneOf` of single `required` keys (exactly one of), those keys."""
    subschemas: list[Any] = list(error.validator_value)  # type: ignore[arg-type]
    return [sub.get("required", [None])[0] for sub in subschemas]


def _one_of_message(error: ValidationError) -> str:
    keys = _one_of_keys(error)
    options = [key for key in keys if key is not None]
    value = error.instance
    if len(options) != len(keys) or not isinstance(value, dict):
        return str(error.message)
    present = [key for key in options if key in value]
    choices = ", ".join(options)
    if not present:
        return f"needs one of: {choices}"
    return f"give only one of {choices}, not {' and '.join(present)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return credentials.shown(value)
    return f"the number {value}"


# Keys that belong one level down, under the key that is empty for want of them.
_NESTED = {
    "scope": ("project", "registry", "collection", "team", "organization"),
    "when": tuple(EVENTS),
    "then": ("webhook", "slack", "no_op"),
}


def _suggest(key: str, allowed: list[str], pointer: Pointer, mapping: Any = None) -> str:
    if key == "value" and pointer[:1] == ("secrets",):
        return "; secret values never go in YAML: name an environment variable with from_env"
    nested = _nested(key, allowed, mapping)
    if nested:
        return nested
    meant = _meant(key, allowed)
    hint = f" (did you mean {meant!r}?)" if meant else ""
    return hint or (f"; expected one of: {', '.join(allowed)}" if allowed else "")


def _nested(key: str, allowed: list[str], mapping: Any) -> str | None:
    """Where a key that belongs one level down goes, when its parent is missing or empty."""
    parent = next((p for p, keys in _NESTED.items() if key in keys and p in allowed), None)
    if parent is None or not isinstance(mapping, dict):
        return None
    if parent not in mapping:
        return f": it belongs under `{parent}:`, which is missing"
    if mapping[parent] is None:
        return f": it belongs under `{parent}:`, which is empty; indent it below it"
    return None


def _meant(key: str, allowed: list[str]) -> str | None:
    """The allowed key a misspelt or borrowed key most likely stands for."""
    if KEY_HINTS.get(key) in allowed:
        return KEY_HINTS[key]
    match = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(word: str, choices: list[str]) -> str:
    """` (did you mean 'x'?)` for the choice closest to a misspelt `word`, else ''.

    A choice differing only in case comes first (`EVENT_AUTHOR` is `event_author`)."""
    folded = [choice for choice in choices if choice.casefold() == word.casefold()]
    match = folded or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not match:  # a misspelling in the other case: compare case-folded
        by_fold = {choice.casefold(): choice for choice in choices}
        close = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=0.6)
        match = [by_fold[close[0]]] if close else []
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_name(noun: str, name: str, where: str, known: list[str]) -> str:
    """`no automation 'x' in the inventory (did you mean 'y'?)`, or the names known when
    none is close (a few of them)."""
    hint = did_you_mean(name, sorted(set(known)))
    if not hint and known:
        names = sorted(set(known))
        more = f", and {len(names) - 8} more" if len(names) > 8 else ""
        hint = f"; known: {', '.join(names[:8])}{more}"
    return f"no {noun} {name!r} in {where}{hint}"


def place(pointer: Pointer) -> str:
    """What belongs at `pointer`: a secret's `name`, an `env` variable's name, or `text`."""
    kind, last = pointer[:1], pointer[-1] if pointer else None
    if (kind == ("secrets",) and last == "name") or (
        kind == ("webhooks",) and last in ("access_token", "secret")
    ):
        return "name"
    return "env" if last == "from_env" else "text"


def human_path(pointer: Pointer) -> str:
    """`automations[0].when.run_metric` for ('automations', 0, 'when', 'run_metric')."""
    if len(pointer) > 10:
        head, tail = human_path(pointer[:6]), human_path(pointer[-2:])
        return f"{head}...{tail if tail.startswith('[') else '.' + tail}"
    text = ""
    for step in pointer:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "top level"
