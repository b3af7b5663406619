"""The inventory's field tests (alias, tag, run name) and W&B's filter conditions, both ways.

A test is a bare string (the field's plain test) or a mapping: operators (`equals`,
`matches`, ...) test the field, combinators (`all`, `any`, `not`, `not_any`) nest
tests; several keys of one mapping must all hold. Each form has exactly one wire form,
so what the SDK writes decodes to YAML that encodes back to the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

# The inventory's operators and W&B's (`$contains` is W&B's substring test).
OPERATORS = {
    "equals": "$eq",
    "not_equals": "$ne",
    "one_of": "$in",
    "none_of": "$nin",
    "matches": "$regex",
    "contains": "$contains",
    "exists": "$exists",
    "above": "$gt",
    "below": "$lt",
    "at_least": "$gte",
    "at_most": "$lte",
}
_FORMS = {op: form for form, op in OPERATORS.items()}
COMBINATORS = {"all": "$and", "any": "$or", "not_any": "$nor", "not": "$not"}
_COMBINED = {op: form for form, op in COMBINATORS.items()}
# A bare string means this test (alias: a regex, tag: an exact tag), as it always has.
PLAIN = {"alias": "matches", "tag": "equals"}
# The inventory's field and the event-document field W&B's filter names.
WIRE_FIELDS = {"alias": "alias", "tag": "tag", "run_name": "display_name"}
_LISTS = frozenset({"one_of", "none_of"})
_TEXTS = frozenset({"matches", "contains"})
_WHOLE = frozenset({"equals", "not_equals"})  # a scalar, or a list compared as a whole


class NotExpressible(ValueError):
    """A server filter the inventory has no words for; the message says what it is."""


def show(value: Any) -> str:
    """Compact JSON, for messages."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- inventory -> wire ----------------------------------------------------------------


def encode(field: str, test: Any) -> list[dict[str, Any]]:
    """The conjuncts W&B's wrapper `$and` holds for `test` (none for no test).

    A top-level `all:` (or several keys) is the wrapper's own list, as the SDK
    flattens `a & b`.
    """
    if test is None:
        return []
    conditions = [encode_condition(field, test)]
    while len(conditions) == 1 and set(conditions[0]) == {"$and"}:
        conditions = list(conditions[0]["$and"])
    return conditions


def encode_condition(field: str, test: Any) -> dict[str, Any]:
    """One condition: `{"alias": {"$regex": ...}}`, `{"$or": [...]}`, ..."""
    name = WIRE_FIELDS[field]
    if isinstance(test, str):
        return {name: {OPERATORS[PLAIN[field]]: test}}
    operators = {OPERATORS[k]: _operand(v) for k, v in test.items() if k in OPERATORS}
    parts: list[dict[str, Any]] = [{name: operators}] if operators else []
    for form, value in test.items():
        if form == "not":
            parts.append({"$not": encode_condition(field, value)})
        elif form in COMBINATORS:
            parts.append({COMBINATORS[form]: [encode_condition(field, v) for v in value]})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _operand(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


# --- wire -> inventory ----------------------------------------------------------------


def decode(field: str, conjuncts: list[Any]) -> Any:
    """The inventory test of a wrapper's conjuncts; NotExpressible when it has none."""
    if not conjuncts:
        return None
    if len(conjuncts) == 1:
        return decode_condition(field, conjuncts[0])
    return {"all": [decode_condition(field, item) for item in conjuncts]}


def decode_condition(field: str, condition: Any) -> Any:
    """The inventory test of one condition."""
    if not isinstance(condition, dict) or not condition:
        raise NotExpressible(f"the condition {show(condition)} is not a test")
    if len(condition) > 1:  # Mongo's implicit and of several keys
        return {"all": [decode_condition(field, {k: v}) for k, v in condition.items()]}
    ((key, value),) = condition.items()
    if key in _COMBINED:
        return _decode_combination(field, key, value)
    if key in _FORMS:
        raise NotExpressible(f"{key} with no field to test: {show(condition)}")
    if key.startswith("$"):
        raise NotExpressible(_unknown_operator(key))
    if key != WIRE_FIELDS[field]:
        raise NotExpressible(f"a test of {key!r} (this event's filter tests {WIRE_FIELDS[field]})")
    return decode_value(field, value)


def _decode_combination(field: str, key: str, value: Any) -> Any:
    form = _COMBINED[key]
    if key == "$not":
        return {"not": decode_condition(field, value)}
    if not isinstance(value, list) or not value:
        raise NotExpressible(f"{key} needs a non-empty list of conditions, not {show(value)}")
    return {form: [decode_condition(field, item) for item in value]}


def decode_value(field: str, value: Any) -> Any:
    """The test of one field's value: `{"$regex": "^p"}`, or a bare value (Mongo's `$eq`)."""
    if not isinstance(value, dict):
        return {"equals": _checked("equals", "$eq", value)}
    if not value:
        raise NotExpressible(f"the empty test {{}} of {WIRE_FIELDS[field]}")
    if "$not" in value:  # the field-level $not: the same as a $not around the field
        inner = value["$not"]
        if not isinstance(inner, dict):
            raise NotExpressible(f"$not of {show(inner)}, not of a test")
        negated = {"not": decode_value(field, inner)}
        rest = {op: operand for op, operand in value.items() if op != "$not"}
        return {"all": [decode_value(field, rest), negated]} if rest else negated
    test: dict[str, Any] = {}
    for op, operand in value.items():
        form = _FORMS.get(op)
        if form is None:
            raise NotExpressible(_unknown_operator(op))
        test[form] = _checked(form, op, operand)
    plain = PLAIN.get(field, "")
    if set(test) == {plain} and isinstance(test[plain], str) and test[plain]:
        return test[plain]
    return test


def _unknown_operator(op: str) -> str:
    if op in ("$all", "$size", "$elemMatch", "$type", "$mod", "$where", "$expr"):
        return f"the operator {op}: W&B's automation filters have no {op}"
    return f"the operator {op}, which W&B's filter language does not have"


def _checked(form: str, op: str, operand: Any) -> Any:
    """The operand, when its type is one the form takes."""
    if form == "exists":
        ok = isinstance(operand, bool)
    elif form in _TEXTS:
        ok = isinstance(operand, str)
    elif form in _LISTS:
        ok = isinstance(operand, list) and all(_scalar(item) for item in operand)
    elif form in _WHOLE:
        ok = _scalar(operand) or (
            isinstance(operand, list) and all(_scalar(item) for item in operand)
        )
    else:
        ok = _scalar(operand)
    if not ok:
        raise NotExpressible(f"{op} with the operand {show(operand)}")
    return list(operand) if isinstance(operand, list) else operand


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def canonical(field: str, test: Any) -> Any:
    """The form the plan compares: what the server gives back for `test`.

    A top-level `all:` of one test is that test, `{matches: x}` of an alias is `x`.
    A test no server could hold (a number too large for JSON) is kept as written: the
    semantic checks report it.
    """
    try:
        return decode(field, encode(field, test))
    except NotExpressible:
        return test


# --- walking ---------------------------------------------------------------------------

Leaf = tuple[tuple[str | int, ...], str, Any]


def leaves(field: str, test: Any, at: tuple[str | int, ...] = ()) -> Iterator[Leaf]:
    """Every operator of a test: its place under the field, its form and operand."""
    if isinstance(test, str):
        yield at, PLAIN.get(field, "equals"), test
        return
    if not isinstance(test, dict):
        return
    for form, value in test.items():
        if form == "not":
            yield from leaves(field, value, (*at, form))
        elif form in COMBINATORS and isinstance(value, list):
            for index, item in enumerate(value):
                yield from leaves(field, item, (*at, form, index))
        elif form in OPERATORS:
            yield (*at, form), form, value
