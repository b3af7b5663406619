"""`POST /api/v1/events`: a batch checked, matched and stored with its outbox in one transaction.

Repeated ids are acknowledged with what they fired the first time and fire nothing
again; an artifact event naming a new collection creates it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconcile.runtime import incoming
from reconcile.runtime.incoming import IncomingEvent, InvalidEvents
from reconcile.server import auth
from reconcile.server.errors import ApiError, Forbidden, NotFound, Unauthenticated
from reconcile.server.runtime import matching, outbox
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database, now

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Accepted:
    """The answer's events, and the deliveries they queued (for the worker)."""

    events: list[dict[str, Any]]
    queued: list[outbox.Due]


def error_body(message: str, **where: Any) -> dict[str, Any]:
    return {"error": {"message": message, **where}}


def rest_status(error: ApiError) -> int:
    """The REST status of a failure (GraphQL answers most of them in a 200)."""
    for kind, status in ((Unauthenticated, 401), (Forbidden, 403), (NotFound, 404)):
        if isinstance(error, kind):
            return status
    return 400


Ingested = tuple[Answer, list[outbox.Due]]


def ingest(
    db: Database, box: SecretBox, authorization: str | None, raw: bytes, app_url: str
) -> Ingested:
    """The HTTP answer to an events batch, and the deliveries it queued (committed).

    The key is checked before the body is parsed (no work for the unauthenticated).
    """
    return ingest_many(db, box, [(authorization, raw)], app_url)[0]


def ingest_many(
    db: Database, box: SecretBox, requests: Sequence[tuple[str | None, bytes]], app_url: str
) -> list[Ingested]:
    """`ingest` for several requests at once, in one write transaction (one commit to
    disk); each request in a savepoint of its own, so one refused leaves the others."""
    answers: dict[int, Ingested] = {}
    parsed: dict[int, tuple[IncomingEvent, ...]] = {}
    with db.read() as con:
        for number, (authorization, raw) in enumerate(requests):
            try:
                auth.authenticate(con, authorization)
            except ApiError as error:
                answers[number] = _refused(error)
                continue
            try:
                parsed[number] = incoming.parse_document(incoming.loads(raw))
            except InvalidEvents as invalid:
                answers[number] = _invalid(invalid), []
    if parsed:
        with db.write() as con:
            for number, events in parsed.items():
                answers[number] = _store_request(con, box, requests[number][0], events, app_url)
    return [answers[number] for number in range(len(requests))]


def _refused(error: ApiError) -> Ingested:
    return (rest_status(error), error_body(error.message, code=error.code)), []


def _invalid(invalid: InvalidEvents) -> Answer:
    problems = [
        {"index": p.index, "field": p.field, "message": p.message} for p in invalid.problems
    ]
    first = problems[0] if problems else {"index": None, "field": "", "message": str(invalid)}
    body = error_body(str(first["message"]), index=first["index"], field=first["field"])
    body["error"]["problems"] = problems
    return 400, body


def _store_request(
    con: sqlite3.Connection,
    box: SecretBox,
    authorization: str | None,
    events: tuple[IncomingEvent, ...],
    app_url: str,
) -> Ingested:
    """One request's events stored whole, or not at all (a savepoint of the batch's
    transaction)."""
    con.execute("SAVEPOINT request")
    try:
        user = auth.authenticate(con, authorization)  # again: it may be revoked since
        accepted = _store_all(con, box, user, events, app_url)
    except _AtIndex as failed:
        con.execute("ROLLBACK TO request")
        body = error_body(failed.error.message, index=failed.index, code=failed.error.code)
        return (rest_status(failed.error), body), []
    except ApiError as error:
        con.execute("ROLLBACK TO request")
        return _refused(error)
    except sqlite3.Error:
        raise  # the database itself: the whole batch fails
    except Exception:
        # A fault of ours in this request: it alone fails; the batch's others stand.
        con.execute("ROLLBACK TO request")
        log.exception("storing an events request failed")
        return (500, error_body("internal error while storing the events")), []
    finally:
        con.execute("RELEASE request")
    return (202, {"events": accepted.events}), accepted.queued


class _AtIndex(Exception):
    def __init__(self, index: int, error: ApiError) -> None:
        self.index, self.error = index, error


def _store_all(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    events: tuple[IncomingEvent, ...],
    app_url: str,
) -> Accepted:
    answers: list[dict[str, Any]] = []
    queued: list[outbox.Due] = []
    for index, event in enumerate(events):
        try:
            answer, dues = _store_one(con, box, user, event, app_url)
        except ApiError as error:
            raise _AtIndex(index, error) from None
        answers.append(answer)
        queued += dues
    return Accepted(answers, queued)


def _place(
    con: sqlite3.Connection, user: teams.User, event: IncomingEvent
) -> tuple[teams.Team, teams.Team, teams.Project, int | None]:
    """The event's team, the entity holding its project, the project, the collection."""
    team = teams.find_team(con, event.entity)
    if team is None:
        raise NotFound(teams.missing_team(event.entity))
    auth.require_member(con, user, team)
    # A team's registries live in its organization's entity, as in W&B.
    holder = teams.registry_entity(con, team) if event.registry is not None else team
    project = teams.find_project(con, holder.name, event.project)
    if project is None:
        raise NotFound(f"{event.where} not found in entity {event.entity}")
    collection_id = None
    if event.collection is not None:
        kind = event.artifact.type if event.artifact else "model"
        collection, _ = teams.create_collection(con, project, event.collection, kind)
        collection_id = collection.id
    return team, holder, project, collection_id


def _store_one(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    event: IncomingEvent,
    app_url: str,
) -> tuple[dict[str, Any], list[outbox.Due]]:
    team, holder, project, collection_id = _place(con, user, event)
    key = event.id or f"evt_{uuid.uuid4().hex}"
    seen = con.execute(
        "SELECT fired FROM events WHERE entity_id = ? AND event_key = ?", (team.id, key)
    ).fetchone()
    if seen is not None:
        return {"id": key, "automations": json.loads(seen["fired"])}, []
    event = replace(event, id=key, author=event.author or user.username)
    fired = matching.match(con, event, project.id, collection_id)
    names = [f.automation.name for f in fired]
    cur = con.execute(
        "INSERT INTO events (entity_id, event_key, type, document, fired, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (team.id, key, event.type, json.dumps(event.as_json()), json.dumps(names), now()),
    )
    event_row = int(cur.lastrowid or 0)
    dues = [
        outbox.enqueue(
            con,
            box,
            team.id,
            event_row,
            event=event,
            fired=one,
            app_url=app_url,
            holder=holder.name if holder.id != team.id else None,
        )
        for one in fired
    ]
    return {"id": key, "automations": names}, [due for due in dues if due is not None]
