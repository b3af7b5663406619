"""Payload templates: where `${variables}` appear, and nothing else textual.

Variables live only inside JSON string values of the parsed payload; the JSON text
itself is never searched or substituted, so event data cannot change its structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32
VARIABLE = re.compile(r"\$\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[^\s.]+)?$")

Pointer = tuple[str | int, ...]


@dataclass(frozen=True)
class TemplateProblem:
    """A mistake in a payload template, at a path inside the payload."""

    pointer: Pointer
    message: str
    at_key: bool = False


@dataclass(frozen=True)
class Use:
    """One `${name}` inside a string value."""

    pointer: Pointer
    name: str


def scan(payload: Any) -> tuple[list[Use], list[TemplateProblem]]:
    """Every variable used in the payload's string values, and every malformed one."""
    uses: list[Use] = []
    problems: list[TemplateProblem] = []
    stack: list[tuple[Pointer, Any]] = [((), payload)]
    while stack:
        pointer, value = stack.pop()
        if len(pointer) > MAX_DEPTH:
            problems.append(TemplateProblem(pointer, f"nests deeper than {MAX_DEPTH} levels"))
        elif isinstance(value, dict):
            for key, child in value.items():
                if "${" in key:
                    message = f"key {key!r}: variables are substituted in values only, not in keys"
                    problems.append(TemplateProblem((*pointer, key), message, at_key=True))
                stack.append(((*pointer, key), child))
        elif isinstance(value, list):
            stack.extend(((*pointer, i), child) for i, child in enumerate(value))
        elif isinstance(value, str) and "${" in value:
            _scan_string(pointer, value, uses, problems)
    uses.sort(key=lambda use: (str(use.pointer), use.name))
    return uses, problems


def _scan_string(
    pointer: Pointer, text: str, uses: list[Use], problems: list[TemplateProblem]
) -> None:
    for match in VARIABLE.finditer(text):
        name = match.group(1).strip()
        if _NAME.match(name):
            uses.append(Use(pointer, name))
        else:
            problems.append(TemplateProblem(pointer, f"{match.group(0)!r} is not a variable name"))
    rest = VARIABLE.sub("", text)
    if "${" in rest:
        problems.append(TemplateProblem(pointer, "'${' without a closing '}'"))


class UnknownVariable(ValueError):
    """A `${name}` the renderer has no value for (validate refuses these before apply)."""


def substitute(payload: Any, value_of: Callable[[str], str | None]) -> Any:
    """The payload with every `${name}` in its string values replaced by `value_of(name)`.

    Keys and non-string values are kept as they are, and a replacement is never scanned
    again, so values (event data) cannot add keys, close strings or inject variables.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        value = value_of(name)
        if value is None:
            raise UnknownVariable(name)
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return VARIABLE.sub(replace, value) if "${" in value else value
        if isinstance(value, dict):
            return {key: walk(child) for key, child in value.items()}
        if isinstance(value, list):
            return [walk(child) for child in value]
        return value

    return walk(payload)
