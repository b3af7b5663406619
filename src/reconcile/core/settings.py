"""Numeric settings read from the environment (`RECONCILE_...`): the default when the
variable is unset or empty, else a positive number, or a UsageError naming the variable."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from reconcile.core.errors import UsageError

N = TypeVar("N", int, float)


def positive_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """`name`'s whole number above zero, else `default` when unset."""
    return _positive(name, default, env, int, "a whole number greater than 0")


def positive_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """`name`'s finite number above zero, else `default` when unset."""
    return _positive(name, default, env, float, "a number greater than 0 (seconds)")


def _positive(
    name: str, default: N, env: Mapping[str, str] | None, parse: Callable[[str], N], wanted: str
) -> N:
    text = (os.environ if env is None else env).get(name, "").strip()
    if not text:
        return default
    try:
        value = parse(text)
    except ValueError:
        value = parse("0")
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name}={text!r}: give {wanted}")
    return value
