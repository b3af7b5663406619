"""How far each team's deliveries are behind: the events intake refuses a team's events
(503, Retry-After) while more of its deliveries than the bound are due and not yet sent,
or while more than a few have waited longer than a bound in seconds, so a slow receiver
(or a server that cannot send as fast as it takes events) makes its own team wait, not
the queue of every team.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from reconcile.core import settings

# Deliveries of one team that are due now and not yet sent (pending, their next attempt
# time passed: first attempts waiting, retries waiting, attempts in flight) past which
# that team's events are refused. About a second or two of sending at the rate the
# server sustains (bench/README.md); `RECONCILE_DELIVERY_BACKLOG` changes it. Documented
# in the README ("The events API").
BACKLOG_DELIVERIES = 1_000
BACKLOG_ENV = "RECONCILE_DELIVERY_BACKLOG"
RETRY_AFTER = 2
# Seconds a delivery may be due and unsent before it counts as late; more than
# LATE_DELIVERIES late ones refuse the team's events. The count alone is a time only
# at a known rate: on a machine that lets the server send 250 a second, 1,000 due
# deliveries were 4 s of waiting (bench/README.md, the saturation sweep). Up to
# LATE_DELIVERIES may be in flight to one hanging endpoint (the worker's cap per
# endpoint), which alone is not a backlog. `RECONCILE_DELIVERY_LAG` changes it.
LAG_SECONDS = 0.5
LAG_ENV = "RECONCILE_DELIVERY_LAG"
LATE_DELIVERIES = 16
# With the worker's recent rate (`Pace`), more due deliveries than it sends in the lag
# bound are refused before they are late: the lag is seen only once it is there, and
# in that time a server offered many times what it sends takes many seconds' worth.
# Never fewer than this many, so a burst to a server that was sending a trickle (its
# rate then is the trickle, not what it can send) is not refused.
RATE_FLOOR = 200


def bound(env: dict[str, str] | None = None) -> int:
    """The bound in deliveries (`RECONCILE_DELIVERY_BACKLOG`, else BACKLOG_DELIVERIES)."""
    return settings.positive_int(BACKLOG_ENV, BACKLOG_DELIVERIES, env)


def lag(env: dict[str, str] | None = None) -> float:
    """The lag bound in seconds (`RECONCILE_DELIVERY_LAG`, else LAG_SECONDS)."""
    return settings.positive_float(LAG_ENV, LAG_SECONDS, env)


class Pace:
    """Deliveries the worker settled per second over the last WINDOW seconds (None when
    it settled none): under overload, what the server can send now."""

    WINDOW = 1.0

    def __init__(self) -> None:
        self._settled: deque[tuple[float, int]] = deque()
        self._count = 0

    def note(self, count: int, now: float) -> None:
        """`count` deliveries settled at `now` (monotonic seconds)."""
        self._settled.append((now, count))
        self._count += count
        self._forget(now)

    def rate(self, now: float) -> float | None:
        self._forget(now)
        return self._count / self.WINDOW if self._count else None

    def _forget(self, now: float) -> None:
        while self._settled and self._settled[0][0] <= now - self.WINDOW:
            self._count -= self._settled.popleft()[1]


@dataclass(frozen=True)
class Behind:
    """A team whose due-and-unsent deliveries passed the bound (`late`: more than
    `bound` of them have been due for over `late` seconds; `rate`: more than `bound`
    are due, which is over `late` seconds of sending at `rate` a second)."""

    team: str
    bound: int
    late: float | None = None
    rate: float | None = None

    def message(self) -> str:
        if self.rate is not None:
            waiting = (
                f"more than {self.bound:,} are due and not yet sent, over {self.late:g} s "
                f"at the {self.rate:,.0f} a second the server sends now"
            )
        elif self.late is not None:
            waiting = f"more than {self.bound:,} have waited over {self.late:g} s to be sent"
        else:
            waiting = f"more than {self.bound:,} are due and not yet sent"
        return (
            f"the deliveries of team {self.team} are behind: {waiting}; "
            "send its events again after Retry-After seconds"
        )


def behind(
    con: sqlite3.Connection,
    teams: Iterable[str],
    limit: int,
    *,
    at: float | None = None,
    late: float = LAG_SECONDS,
    rate: float | None = None,
) -> Behind | None:
    """The first of `teams` (by name) with more than `limit` deliveries due at `at` and
    not yet sent, or more than LATE_DELIVERIES due for over `late` seconds, or (with
    the worker's `rate` while busy, `Pace`) more due than it sends in `late` seconds;
    each count stops at its bound + 1 rows (the partial index of migration 16)."""
    names = sorted(set(teams))
    if not names:
        return None
    marks = ", ".join("?" * len(names))
    rows = con.execute(
        f"SELECT id, name FROM entities WHERE name IN ({marks}) ORDER BY name", names
    ).fetchall()
    now = time.time() if at is None else at
    for row in rows:
        if _due(con, row["id"], now - late, LATE_DELIVERIES) > LATE_DELIVERIES:
            return Behind(str(row["name"]), LATE_DELIVERIES, late)
        # The lag is seen only once it is there; at a known rate, the due rows say
        # ahead of time how long a new event would wait behind them.
        budget = max(RATE_FLOOR, int(rate * late)) if rate else limit
        if budget < limit and _due(con, row["id"], now, budget) > budget:
            return Behind(str(row["name"]), budget, late, rate)
        if _due(con, row["id"], now, limit) > limit:
            return Behind(str(row["name"]), limit)
    return None


def _due(con: sqlite3.Connection, team: int, since: float, limit: int) -> int:
    """The team's pending deliveries due at `since`, counted up to limit + 1."""
    count: int = con.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE entity_id = ? "
        "AND status = 'pending' AND next_at <= ? LIMIT ?)",
        (team, since, limit + 1),
    ).fetchone()[0]
    return count
