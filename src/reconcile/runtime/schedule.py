"""When to try a failed delivery again: exponential backoff with jitter, bounded to a day.

Pure functions of the attempt count, the time since the first attempt, the endpoint's
`Retry-After` and a random number, so the worker and the tests agree on every delay.
`RECONCILE_DELIVERY_TIME_SCALE` multiplies every delay and timeout (tests use 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from reconcile.core.errors import UsageError

SCALE_ENV = "RECONCILE_DELIVERY_TIME_SCALE"
DEADLINE = 15.0  # seconds one attempt may take, all included
FIRST_DELAY = 5.0
FACTOR = 3.0
MAX_DELAY = 4 * 3600.0
MAX_RETRY_AFTER = 3600.0  # a longer Retry-After is waited for this long only
GIVE_UP_AFTER = 24 * 3600.0  # no attempt starts later than this after the first
MAX_ATTEMPTS = 15
JITTER = 0.2  # each delay is its nominal value +-20 %


def time_scale(env: Mapping[str, str]) -> float:
    """The factor from the environment (default 1); a clear error for anything but a number > 0."""
    text = env.get(SCALE_ENV, "").strip()
    if not text:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{SCALE_ENV}={text!r}: give a number greater than 0 (1 is real time)")
    return value


def nominal_delay(failures: int) -> float:
    """The delay after the `failures`-th failed attempt, before jitter and scaling."""
    exponent = min(failures - 1, 32)
    return min(FIRST_DELAY * FACTOR**exponent, MAX_DELAY)


def next_delay(
    failures: int,
    elapsed: float,
    retry_after: float | None,
    rand: float,
    scale: float = 1.0,
) -> float | None:
    """Seconds to wait before the next attempt, or None: give up, the delivery has failed.

    `failures`: attempts made so far (all failed, at least 1); `elapsed`: seconds since
    the first attempt started; `rand`: a number in [0, 1) for the jitter.
    """
    if failures < 1:
        raise ValueError("next_delay is asked after a failed attempt")
    if failures >= MAX_ATTEMPTS:
        return None
    delay = nominal_delay(failures) * (1 - JITTER + 2 * JITTER * rand)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    delay *= scale
    if elapsed + delay > GIVE_UP_AFTER * scale:
        return None
    return delay


def nominal_schedule() -> list[float]:
    """The nominal delays until giving up (for documentation and `history`)."""
    delays: list[float] = []
    total = 0.0
    for failures in range(1, MAX_ATTEMPTS):
        delay = nominal_delay(failures)
        if total + delay > GIVE_UP_AFTER:
            break
        delays.append(delay)
        total += delay
    return delays
