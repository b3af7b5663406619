"""`POST /api/v1/events`: a body parsed and checked (`prepare`, before the shared writer),
then matched and stored with its outbox in one transaction (`store_many`).

Repeated ids (per team) are acknowledged with what they fired the first time and fire
nothing again; an artifact event naming a new collection creates it.
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
from reconcile.runtime.incoming import EventProblem, IncomingEvent, InvalidEvents
from reconcile.server.api import auth, validation
from reconcile.server.errors import (
    ApiError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from reconcile.server.runtime import matching, outbox
from reconcile.server.store import registries, teams
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
# One request to store: its `Authorization` header (checked again in the transaction:
# the key may have been revoked since) and its events, already parsed and checked.
Parsed = tuple[str | None, tuple[IncomingEvent, ...]]


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
    """`ingest` for several requests at once: each authenticated and parsed, then those
    valid stored in one write transaction (`store_many`)."""
    answers: dict[int, Ingested] = {}
    valid: dict[int, Parsed] = {}
    for number, (authorization, raw) in enumerate(requests):
        try:
            with db.read() as con:
                auth.authenticate(con, authorization)
            valid[number] = (authorization, prepare(raw))
        except ApiError as error:
            answers[number] = _refused(error)
        except InvalidEvents as invalid:
            answers[number] = invalid_answer(invalid), []
    stored = store_many(db, box, list(valid.values()), app_url)
    answers.update(zip(valid, stored, strict=True))
    return [answers[number] for number in range(len(requests))]


def prepare(raw: bytes) -> tuple[IncomingEvent, ...]:
    """A request body parsed and checked, with no database: the work done before the
    shared writer. Raises InvalidEvents naming every problem."""
    parsed = incoming.parse_document(incoming.loads(raw))
    problems = [problem for index, event in enumerate(parsed) for problem in _names(index, event)]
    if problems:
        raise InvalidEvents(problems)
    return parsed


_NAME_RULE = "letters, digits, '-', '_' and '.'"


def _names(index: int, event: IncomingEvent) -> list[EventProblem]:
    """The names an event may create (a collection, its artifact type) follow the rule
    GraphQL and `reconcile server create-collection` enforce."""
    named = [("collection", "collection", event.collection)]
    if event.artifact is not None:
        named.append(("artifact.type", "artifact type", event.artifact.type))
    problems = []
    for field, kind, value in named:
        if value is None:
            continue
        try:
            validation.check_name(kind, value, validation.COLLECTION_NAME_RE, _NAME_RULE)
        except ApiError as error:
            problems.append(EventProblem(index, field, error.message))
    return problems


def store_many(
    db: Database, box: SecretBox, requests: Sequence[Parsed], app_url: str
) -> list[Ingested]:
    """Parsed requests stored in one write transaction (one commit to disk); each in a
    savepoint of its own, so one refused leaves the others."""
    if not requests:
        return []
    with db.write() as con:
        return [
            _store_request(con, box, authorization, events, app_url)
            for authorization, events in requests
        ]


def _refused(error: ApiError) -> Ingested:
    return (rest_status(error), error_body(error.message, code=error.code)), []


def invalid_answer(invalid: InvalidEvents) -> Answer:
    """The 400 answer naming every problem of a refused batch."""
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
        where = {"field": failed.field} if failed.field else {}
        body = error_body(failed.error.message, index=failed.index, **where, code=failed.error.code)
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
    def __init__(self, index: int, error: ApiError, field: str | None = None) -> None:
        self.index, self.error, self.field = index, error, field


class _InField(Exception):
    """An event refused for one of its fields (the answer names it)."""

    def __init__(self, field: str, error: ApiError) -> None:
        self.field, self.error = field, error


def store_within(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    events: tuple[IncomingEvent, ...],
    app_url: str = "https://wandb.ai",
    *,
    artifact_ids: Sequence[int | None] = (),
) -> Accepted:
    """Events produced by another write (a run's stream, a GraphQL mutation), stored
    and matched with their outbox in the caller's open transaction: the same path as
    `POST /api/v1/events`. `artifact_ids`: the stored version each event is about, if
    any (`${artifact_version}` names it). An ApiError names what was refused."""
    try:
        return _store_all(con, box, user, events, app_url, artifact_ids=artifact_ids)
    except _AtIndex as failed:
        raise failed.error from None


def _store_all(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    events: tuple[IncomingEvent, ...],
    app_url: str,
    *,
    artifact_ids: Sequence[int | None] = (),
) -> Accepted:
    answers: list[dict[str, Any]] = []
    queued: list[outbox.Due] = []
    places: dict[tuple[str | None, ...], Place] = {}
    for index, event in enumerate(events):
        try:
            where = _where(event)
            if where not in places:  # a batch's events mostly share one place
                places[where] = _place(con, user, event)
            number = artifact_ids[index] if index < len(artifact_ids) else None
            answer, dues = _store_one(
                con, box, user, event, places[where], app_url=app_url, artifact_id=number
            )
        except ApiError as error:
            raise _AtIndex(index, error) from None
        except _InField as refused:
            raise _AtIndex(index, refused.error, refused.field) from None
        answers.append(answer)
        queued += dues
    return Accepted(answers, queued)


# The event's team, the entity holding its project, the project, the collection.
Place = tuple[teams.Team, teams.Team, teams.Project, int | None]


def _where(event: IncomingEvent) -> tuple[str | None, ...]:
    """What `_place` reads of an event (equal for events placed alike)."""
    kind = event.artifact.type if event.artifact else None
    return (event.entity, event.registry, event.project, event.collection, kind)


def _place(con: sqlite3.Connection, user: teams.User, event: IncomingEvent) -> Place:
    """The event's team, the entity holding its project, the project, the collection."""
    team = teams.find_team(con, event.entity)
    if team is None:
        raise NotFound(teams.missing_team(event.entity))
    auth.require_writer(con, user, team, "send events")
    if team.is_org:
        # Only teams send events: the organization's entity would be a second sender of
        # its teams' registry events, firing each of them again under other ids.
        raise _InField(
            "entity",
            InvalidInput(
                f"entity {team.name!r} is an organization's entity: events are sent by "
                "teams; name the team the event happened in (its registries are the "
                "organization's)"
            ),
        )
    # A team's registries live in its organization's entity, as in W&B.
    holder = teams.registry_entity(con, team) if event.registry is not None else team
    project = teams.find_project(con, holder.name, event.project)
    if project is None or not registries.can_see(con, project, user.id):
        # A restricted registry is as absent to those who are not its members.
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
    place: Place,
    *,
    app_url: str,
    artifact_id: int | None = None,
) -> tuple[dict[str, Any], list[outbox.Due]]:
    team, holder, project, collection_id = place
    key = event.id or f"evt_{uuid.uuid4().hex}"
    seen = con.execute(
        "SELECT fired FROM events WHERE entity_id = ? AND event_key = ?", (team.id, key)
    ).fetchone()
    if seen is not None:
        return {"id": key, "automations": json.loads(seen["fired"])}, []
    if event.id != key or not event.author:  # a copy costs: only when something changes
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
            artifact_id=artifact_id,
        )
        for one in fired
    ]
    return {"id": key, "automations": names}, [due for due in dues if due is not None]
