"""Numeric settings read from the environment (`RECONCILE_...`): a positive number, or
the default when the variable is unset, empty, not a number or not above zero."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping


def _raw(name: str, env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get(name, "").strip()


def positive_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """`name`'s whole number above zero, else `default`."""
    try:
        value = int(_raw(name, env) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def positive_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """`name`'s finite number above zero, else `default`."""
    try:
        value = float(_raw(name, env) or default)
    except ValueError:
        return default
    return value if value > 0 and math.isfinite(value) else default
