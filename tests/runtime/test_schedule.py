"""R4's schedule: exponential backoff with jitter, Retry-After within bounds, about a day."""

from __future__ import annotations

import pytest

from reconcile.core.errors import UsageError
from reconcile.runtime import schedule
from reconcile.runtime.schedule import next_delay


def test_nominal_schedule_starts_within_seconds_and_stops_within_a_day() -> None:
    delays = schedule.nominal_schedule()
    assert delays == [5, 15, 45, 135, 405, 1215, 3645, 10935, 14400, 14400, 14400, 14400]
    assert sum(delays) == 74000  # 20.6 h of waiting; the next one would pass 24 h


def test_jitter_stays_within_20_percent() -> None:
    assert next_delay(1, 0.0, None, rand=0.0) == pytest.approx(4.0)
    assert next_delay(1, 0.0, None, rand=0.5) == pytest.approx(5.0)
    assert next_delay(1, 0.0, None, rand=0.999999) == pytest.approx(6.0, abs=1e-4)
    assert next_delay(3, 0.0, None, rand=0.5) == pytest.approx(45.0)


def test_retry_after_is_honoured_within_bounds() -> None:
    assert next_delay(1, 0.0, 30.0, rand=0.5) == 30.0  # longer than the backoff: waited
    assert next_delay(1, 0.0, 1.0, rand=0.5) == pytest.approx(5.0)  # shorter: the backoff wins
    assert next_delay(1, 0.0, 10**9, rand=0.5) == 3600.0  # capped at an hour


def test_gives_up_after_a_day_or_the_last_attempt() -> None:
    assert next_delay(9, 86400 - 14400.0, None, rand=0.5) == 14400.0
    assert next_delay(9, 86400 - 14399.0, None, rand=0.5) is None
    assert next_delay(schedule.MAX_ATTEMPTS - 1, 0.0, None, rand=0.5) == 14400.0
    assert next_delay(schedule.MAX_ATTEMPTS, 0.0, None, rand=0.5) is None
    with pytest.raises(ValueError, match=r"^next_delay is asked after a failed attempt$"):
        next_delay(0, 0.0, None, rand=0.5)


def test_time_scale_multiplies_every_delay_and_the_day() -> None:
    assert next_delay(1, 0.0, None, rand=0.5, scale=0.01) == pytest.approx(0.05)
    assert next_delay(1, 0.0, 30.0, rand=0.5, scale=0.01) == pytest.approx(0.3)
    assert next_delay(9, 864.0 - 144.0, None, rand=0.5, scale=0.01) == pytest.approx(144.0)
    assert next_delay(9, 864.0 - 143.0, None, rand=0.5, scale=0.01) is None


def test_time_scale_from_the_environment() -> None:
    assert schedule.time_scale({}) == 1.0
    assert schedule.time_scale({"RECONCILE_DELIVERY_TIME_SCALE": "0.01"}) == 0.01
    for bad in ("0", "-1", "fast", "nan", "inf"):
        with pytest.raises(UsageError, match="give a number greater than 0"):
            schedule.time_scale({"RECONCILE_DELIVERY_TIME_SCALE": bad})
