"""What happened: deliveries with their attempts, per entity and automation, in pages
bounded in count and bytes; and re-sending.

Only what may be shown is stored: masked bodies, headers without token or signatures.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconcile.core.errors import UsageError
from reconcile.runtime import schedule
from reconcile.server.api import auth
from reconcile.server.errors import ApiError, InvalidInput, NotFound
from reconcile.server.runtime import outbox
from reconcile.server.store import teams
from reconcile.server.store.db import Database

STATUSES = (outbox.PENDING, outbox.DELIVERED, outbox.FAILED)
MAX_LIMIT = 1000
# A page ends once its deliveries' bodies and answer excerpts add up to this much
# (always at least one delivery): one answer stays bounded whatever was stored.
PAGE_BYTES = 4 * 1024 * 1024
_CURSOR_MAX = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """Deliveries, newest first, and the cursor of the next (older) page, if any."""

    deliveries: list[dict[str, Any]]
    next: str | None


@dataclass(frozen=True)
class Filters:
    """What `GET /api/v1/deliveries` narrows to, and where the page starts."""

    automation: str | None = None
    status: str | None = None
    limit: int = 100
    before: int | None = None  # the cursor: only deliveries older than this id


def deliveries(
    con: sqlite3.Connection, entity_ids: list[int], filters: Filters = Filters()
) -> Page:
    """A page of the given entities' deliveries, newest first, each with its attempts:
    at most `filters.limit`, and fewer once they hold PAGE_BYTES of bodies."""
    if not entity_ids:
        return Page([], None)
    where = f"d.entity_id IN ({', '.join('?' * len(entity_ids))})"
    params: list[Any] = list(entity_ids)
    for column, value in (("automation", filters.automation), ("status", filters.status)):
        if value is not None:
            where += f" AND d.{column} = ?"
            params.append(value)
    if filters.before is not None:
        where += " AND d.id < ?"
        params.append(filters.before)
    rows = con.execute(
        "SELECT d.*, e.event_key, e.type AS event_type, n.name AS entity FROM deliveries d "
        "JOIN events e ON e.id = d.event_id JOIN entities n ON n.id = d.entity_id "
        f"WHERE {where} ORDER BY d.id DESC LIMIT ?",
        (*params, filters.limit + 1),
    )
    found: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        if len(found) == filters.limit or (found and size >= PAGE_BYTES):
            return Page(found, str(found[-1]["id"]))
        found.append(_delivery(con, row))
        size += len(row["shown"]) + sum(len(a["excerpt"] or "") for a in found[-1]["attempts"])
    return Page(found, None)


def _delivery(con: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    attempts = con.execute(
        "SELECT * FROM attempts WHERE delivery_id = ? ORDER BY id", (row["id"],)
    ).fetchall()
    return {
        "id": row["id"],
        "entity": row["entity"],
        "automation": row["automation"],
        "event": {"id": row["event_key"], "type": row["event_type"]},
        "action": row["kind"],
        "url": row["url"],
        "webhook_id": row["webhook_id"],
        "status": row["status"],
        "body": row["shown"],
        "created_at": row["created_at"],
        **retries(row["status"], row["attempts"], row["next_at"], row["first_at"]),
        "attempts": [
            {
                "at": a["started_at"],
                "duration": a["duration"],
                "status": a["status"],
                "error": a["error"],
                "detail": a["detail"],
                "excerpt": a["excerpt"],
                "headers": json.loads(a["headers"]),
            }
            for a in attempts
        ],
    }


def retries(status: str, attempts: int, next_at: float, first_at: float | None) -> dict[str, Any]:
    """What is left of a delivery's retry schedule (`runtime.schedule`): when its next
    attempt is due, how many attempts it may still get, and the time after which none
    starts (known once the first attempt started). Nothing is left unless it is pending."""
    if status != outbox.PENDING:
        return {"next_attempt_at": None, "attempts_left": 0, "give_up_at": None}
    try:
        scale = schedule.time_scale(os.environ)  # the worker's, in this process's environment
    except UsageError:
        scale = 1.0
    give_up = None if first_at is None else first_at + schedule.GIVE_UP_AFTER * scale
    return {
        "next_attempt_at": _stamp(next_at),
        "attempts_left": max(schedule.MAX_ATTEMPTS - attempts, 0),
        "give_up_at": None if give_up is None else _stamp(give_up),
    }


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _entities(con: sqlite3.Connection, user: teams.User, entity: str | None) -> list[int]:
    if entity is None:
        return [team.id for team in teams.teams_of(con, user.id)]
    team = teams.find_team(con, entity)
    if team is None:
        raise NotFound(teams.missing_team(entity))
    auth.require_member(con, user, team)
    return [team.id]


def query(db: Database, authorization: str | None, params: dict[str, str]) -> Page:
    """`GET /api/v1/deliveries`: filters `entity`, `automation`, `status`; pages by
    `limit` and `cursor` (the `next` of the page before)."""
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    limit_text = params.get("limit", "100")
    if not _digits(limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    cursor = params.get("cursor")
    if cursor is not None and not (_digits(cursor) and 1 <= int(cursor) <= _CURSOR_MAX):
        raise InvalidInput("cursor must be the `next` of a page this server answered")
    filters = Filters(
        params.get("automation"), status, int(limit_text), int(cursor) if cursor else None
    )
    with db.read() as con:
        user = auth.authenticate(con, authorization)
        ids = _entities(con, user, params.get("entity"))
        return deliveries(con, ids, filters)


def _digits(text: str) -> bool:
    # str.isdigit accepts other scripts' digits (`"٣".isdigit()`) and `int` reads them.
    return 0 < len(text) <= 19 and text.isascii() and text.isdigit()


def resend(db: Database, authorization: str | None, delivery_id: int) -> str:
    """Send a failed or pending delivery again now; team admins only. The status it had."""
    with db.write() as con:
        user = auth.authenticate(con, authorization)
        return resend_as(con, user, delivery_id)


def resend_as(con: sqlite3.Connection, user: teams.User | None, delivery_id: int) -> str:
    row = con.execute(
        "SELECT entity_id, status, url, attempts FROM deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    missing = NotFound(f"delivery {delivery_id} not found")
    if row is None:
        raise missing
    if user is not None:
        team = teams.get_team_by_id(con, int(row["entity_id"]))
        auth.require_team_admin(con, user, team, "re-send deliveries", hidden=missing)
    was = outbox.resend(con, delivery_id)
    if was is not None:
        return was
    if row["status"] == outbox.FAILED and not row["attempts"]:
        why = (
            "it could not be made (its attempt says why)" if row["url"] else "it has nowhere to go"
        )
        raise ApiError(f"delivery {delivery_id} was never sent: {why}")
    raise ApiError(
        f"delivery {delivery_id} is {row['status']}, not failed or pending: nothing to re-send"
    )
