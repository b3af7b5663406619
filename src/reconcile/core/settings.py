"""Numeric settings read from the environment (`RECONCILE_...`): the default when the
variable is unset or empty, else a positive number, or a UsageError naming the variable."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from reconcile.core.errors import UsageError


def _raw(name: str, env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get(name, "").strip()


def positive_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """`name`'s whole number above zero, else `default` when unset."""
    text = _raw(name, env)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{name}={text!r}: give a whole number greater than 0")
    return value


def positive_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """`name`'s finite number above zero, else `default` when unset."""
    text = _raw(name, env)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name}={text!r}: give a number greater than 0 (seconds)")
    return value
