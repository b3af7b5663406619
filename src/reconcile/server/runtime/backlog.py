"""How far each team's deliveries are behind: the events intake refuses a team's events
(503, Retry-After) while more of its deliveries than the bound are due and not yet sent,
or while more than a few have waited longer than a bound in seconds, so a slow receiver
(or a server that cannot send as fast as it takes events) makes its own team wait, not
the queue of every team.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

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


def bound(env: dict[str, str] | None = None) -> int:
    """The bound in deliveries (`RECONCILE_DELIVERY_BACKLOG`, else BACKLOG_DELIVERIES)."""
    raw = (os.environ if env is None else env).get(BACKLOG_ENV, "")
    try:
        value = int(raw) if raw else BACKLOG_DELIVERIES
    except ValueError:
        return BACKLOG_DELIVERIES
    return value if value > 0 else BACKLOG_DELIVERIES


def lag(env: dict[str, str] | None = None) -> float:
    """The lag bound in seconds (`RECONCILE_DELIVERY_LAG`, else LAG_SECONDS)."""
    raw = (os.environ if env is None else env).get(LAG_ENV, "")
    try:
        value = float(raw) if raw else LAG_SECONDS
    except ValueError:
        return LAG_SECONDS
    return value if 0 < value < float("inf") else LAG_SECONDS


@dataclass(frozen=True)
class Behind:
    """A team whose due-and-unsent deliveries passed the bound (`late`: more than
    `bound` of them have been due for over `late` seconds)."""

    team: str
    bound: int
    late: float | None = None

    def message(self) -> str:
        if self.late is not None:
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
    at: float | None = None,
    late: float = LAG_SECONDS,
) -> Behind | None:
    """The first of `teams` (by name) with more than `limit` deliveries due at `at` and
    not yet sent, or more than LATE_DELIVERIES due for over `late` seconds; each count
    stops at its bound + 1 rows (the partial index of migration 16)."""
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
