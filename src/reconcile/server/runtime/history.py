"""What happened: deliveries with their attempts, per entity and automation, and re-sending.

Only what may be shown is stored: masked bodies, headers without token or signatures.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from reconcile.server import auth
from reconcile.server.errors import ApiError, InvalidInput, NotFound
from reconcile.server.runtime import outbox
from reconcile.server.store import teams
from reconcile.server.store.db import Database

STATUSES = (outbox.PENDING, outbox.DELIVERED, outbox.FAILED)
MAX_LIMIT = 1000


def deliveries(
    con: sqlite3.Connection,
    entity_ids: list[int],
    automation: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries of the given entities, newest first, each with its attempts."""
    if not entity_ids:
        return []
    where = f"d.entity_id IN ({', '.join('?' * len(entity_ids))})"
    params: list[Any] = list(entity_ids)
    if automation is not None:
        where += " AND d.automation = ?"
        params.append(automation)
    if status is not None:
        where += " AND d.status = ?"
        params.append(status)
    rows = con.execute(
        "SELECT d.*, e.event_key, e.type AS event_type, n.name AS entity FROM deliveries d "
        "JOIN events e ON e.id = d.event_id JOIN entities n ON n.id = d.entity_id "
        f"WHERE {where} ORDER BY d.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [_delivery(con, row) for row in rows]


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


def _entities(con: sqlite3.Connection, user: teams.User, entity: str | None) -> list[int]:
    if entity is None:
        return [team.id for team in teams.teams_of(con, user.id)]
    team = teams.find_team(con, entity)
    if team is None:
        raise NotFound(teams.missing_team(entity))
    auth.require_member(con, user, team)
    return [team.id]


def query(db: Database, authorization: str | None, params: dict[str, str]) -> list[dict[str, Any]]:
    """`GET /api/v1/deliveries`: filters `entity`, `automation`, `status`, `limit`."""
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    limit_text = params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    with db.read() as con:
        user = auth.authenticate(con, authorization)
        ids = _entities(con, user, params.get("entity"))
        return deliveries(con, ids, params.get("automation"), status, int(limit_text))


def resend(db: Database, authorization: str | None, delivery_id: int) -> None:
    """Queue a failed delivery again; team admins only."""
    with db.write() as con:
        user = auth.authenticate(con, authorization)
        resend_as(con, user, delivery_id)


def resend_as(con: sqlite3.Connection, user: teams.User | None, delivery_id: int) -> None:
    row = con.execute(
        "SELECT entity_id, status FROM deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    missing = NotFound(f"delivery {delivery_id} not found")
    if row is None:
        raise missing
    if user is not None:
        team = teams.get_team_by_id(con, int(row["entity_id"]))
        auth.require_team_admin(con, user, team, "re-send deliveries", hidden=missing)
    if not outbox.resend(con, delivery_id):
        raise ApiError(f"delivery {delivery_id} is {row['status']}, not failed: nothing to re-send")
