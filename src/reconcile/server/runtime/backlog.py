"""How far each team's deliveries are behind: the events intake refuses a team's events
(503, Retry-After) while more of its deliveries than the bound are due and not yet sent,
so a slow receiver makes its own team wait, not the queue of every team.
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


def bound(env: dict[str, str] | None = None) -> int:
    """The bound in deliveries (`RECONCILE_DELIVERY_BACKLOG`, else BACKLOG_DELIVERIES)."""
    raw = (os.environ if env is None else env).get(BACKLOG_ENV, "")
    try:
        value = int(raw) if raw else BACKLOG_DELIVERIES
    except ValueError:
        return BACKLOG_DELIVERIES
    return value if value > 0 else BACKLOG_DELIVERIES


@dataclass(frozen=True)
class Behind:
    """A team whose due-and-unsent deliveries passed the bound."""

    team: str
    bound: int

    def message(self) -> str:
        return (
            f"the deliveries of team {self.team} are behind: more than {self.bound:,} are "
            "due and not yet sent; send its events again after Retry-After seconds"
        )


def behind(
    con: sqlite3.Connection, teams: Iterable[str], limit: int, at: float | None = None
) -> Behind | None:
    """The first of `teams` (by name) with more than `limit` deliveries due at `at` and
    not yet sent; each count stops at limit + 1 rows (the partial index of migration 16)."""
    names = sorted(set(teams))
    if not names:
        return None
    marks = ", ".join("?" * len(names))
    rows = con.execute(
        f"SELECT id, name FROM entities WHERE name IN ({marks}) ORDER BY name", names
    ).fetchall()
    now = time.time() if at is None else at
    for row in rows:
        count = con.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE entity_id = ? "
            "AND status = 'pending' AND next_at <= ? LIMIT ?)",
            (row["id"], now, limit + 1),
        ).fetchone()[0]
        if count > limit:
            return Behind(str(row["name"]), limit)
    return None
