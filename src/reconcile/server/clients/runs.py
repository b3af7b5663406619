"""Runs as the official SDK writes them: created by `UpsertBucket`, fed by file_stream,
ended by its last post or by crash detection; each change emits its run events through
the events API's own path (`runtime.events.store_within`), in the same transaction.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from reconcile.runtime import incoming
from reconcile.server.api import auth, validation
from reconcile.server.errors import Forbidden, InvalidInput, NotFound
from reconcile.server.runtime import events, matching, outbox
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import now

RUN_NAME_RULE = "letters, digits, '-', '_' and '.'"
MAX_CONFIG_CHARS = 1024 * 1024
MAX_TAGS = 100


@dataclass(frozen=True)
class Run:
    id: int
    project: teams.Project
    name: str
    display_name: str
    config: str
    summary: str
    state: str
    exit_code: int | None
    history_lines: int
    created_at: str
    heartbeat: float
    author: teams.User | None
    tags: tuple[str, ...] = ()


def _run(con: sqlite3.Connection, row: sqlite3.Row) -> Run:
    author = teams.get_user(con, row["created_by"]) if row["created_by"] is not None else None
    return Run(
        row["id"],
        teams.get_project(con, row["project_id"]),
        row["name"],
        row["display_name"],
        row["config"],
        row["summary"],
        row["state"],
        row["exit_code"],
        row["history_lines"],
        row["created_at"],
        row["heartbeat"],
        author,
        tuple(json.loads(row["tags"])),
    )


def find_run(con: sqlite3.Connection, project: teams.Project, name: str) -> Run | None:
    row = con.execute(
        "SELECT * FROM runs WHERE project_id = ? AND name = ?", (project.id, name)
    ).fetchone()
    return _run(con, row) if row else None


def by_storage_id(con: sqlite3.Connection, run_id: int) -> Run | None:
    row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _run(con, row) if row else None


def runs_of(con: sqlite3.Connection, project: teams.Project, after: int, limit: int) -> list[Run]:
    rows = con.execute(
        "SELECT * FROM runs WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?",
        (project.id, after, limit),
    ).fetchall()
    return [_run(con, row) for row in rows]


def writable_project(
    con: sqlite3.Connection, user: teams.User, entity: str, project: str, *, create: bool
) -> tuple[teams.Team, teams.Project]:
    """The team and project a run of `user` may be written to (the project created when
    missing and `create`). As in W&B, members of the team write; to anyone else the
    team does not exist; a viewer is refused."""
    team = teams.find_team(con, entity)
    if team is None:
        raise NotFound(teams.missing_team(entity))
    auth.require_writer(con, user, team, "write runs")
    if team.is_org or teams.is_registry_name(project):
        raise Forbidden(f"permission denied: runs cannot be written to {entity}/{project}")
    found = teams.find_project(con, team.name, project)
    if found is None:
        if not create:
            raise NotFound(f"project {project} not found in entity {entity}")
        validation.check_project_name(project)
        found, _ = teams.create_project(con, team, project, created_by=user.id)
    return team, found


def upsert(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    place: tuple[teams.Team, teams.Project],
    given: dict[str, Any],
) -> tuple[Run, bool, list[outbox.Due]]:
    """Create or update the run `given["name"]`; a new run emits `run_state` running."""
    _, project = place
    name = given["name"]
    validation.check_name("run", name, validation.COLLECTION_NAME_RE, RUN_NAME_RULE)
    config, summary = _json_text(given, "config"), _json_text(given, "summaryMetrics")
    display = given.get("displayName") or None  # empty: the run's name
    if display is not None and len(display) > incoming.MAX_TEXT:
        # Its events carry it (`run.name`), as the events API bounds it.
        raise InvalidInput(f"displayName is longer than {incoming.MAX_TEXT} characters")
    tags = _tags(given.get("tags"))
    found = find_run(con, project, name)
    if found is not None:
        con.execute(
            "UPDATE runs SET display_name = COALESCE(?, display_name), "
            "config = COALESCE(?, config), summary = COALESCE(?, summary), "
            "tags = COALESCE(?, tags), heartbeat = ? WHERE id = ?",
            (display, config, summary, tags, time.time(), found.id),
        )
        return _reread(con, found.id), False, []
    con.execute(
        "INSERT INTO runs (project_id, name, display_name, config, summary, tags, state, "
        "created_by, created_at, heartbeat) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
        (
            project.id,
            name,
            display or name,
            config or "{}",
            summary or "{}",
            tags or "[]",
            user.id,
            now(),
            time.time(),
        ),
    )
    run = find_run(con, project, name)
    assert run is not None
    dues = emit(con, box, user, [_state_event(run, "running")])
    return run, True, dues


def _reread(con: sqlite3.Connection, run_id: int) -> Run:
    return _run(con, con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())


def _tags(given: list[str] | None) -> str | None:
    """The run's tags as stored (JSON), or None when not given."""
    if given is None:
        return None
    if len(given) > MAX_TAGS or not all(0 < len(tag) <= incoming.MAX_TEXT for tag in given):
        raise InvalidInput(f"tags: at most {MAX_TAGS}, each 1 to {incoming.MAX_TEXT} characters")
    return json.dumps(list(dict.fromkeys(given)))


def _json_text(given: dict[str, Any], key: str) -> str | None:
    value: str | None = given.get(key)
    if value is None:
        return None
    if len(value) > MAX_CONFIG_CHARS:
        raise InvalidInput(f"{key} is longer than {MAX_CONFIG_CHARS} characters")
    validation.json_object(key, value)
    return value


def _base(run: Run, kind: str, key: str) -> dict[str, Any]:
    author = run.author.username if run.author else None
    return {
        "id": f"run-{run.id}-{key}",
        **({"author": author} if author else {}),
        "type": kind,
        "entity": run.project.entity_name,
        "project": run.project.name,
        "run": {"id": run.name, "name": run.display_name or run.name},
    }


def _state_event(run: Run, state: str) -> dict[str, Any]:
    return {**_base(run, "run_state", f"state-{state}"), "state": state}


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """A history row's numeric values under W&B's names: nested dicts as `a.b`; keys
    starting with `_` (`_step`, `_runtime`, `_wandb`) are W&B's own. A name no event
    can carry (empty, or not UTF-8) is left out."""
    out: dict[str, float] = {}
    for key, value in row.items():
        kind = type(value)
        if kind is float or kind is int:  # the common case first: a plain number
            if (prefix or key[:1] != "_") and math.isfinite(value):
                out[prefix + key] = value
        elif kind is dict and (prefix or key[:1] != "_"):
            out.update(flatten(value, f"{prefix}{key}."))
        elif kind is not dict and (prefix or key[:1] != "_") and _finite(value):
            out[prefix + key] = value
    if "" in out or not all(name.isascii() or incoming.is_utf8(name) for name in out):
        out = {name: value for name, value in out.items() if name and incoming.is_utf8(name)}
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def watched_keys(con: sqlite3.Connection, project: teams.Project) -> frozenset[str] | None:
    """The top-level history keys that may carry a metric one of the project's metric
    automations reads (`val.loss` may come as `{"val": {"loss": ..}}` or as
    `{"val.loss": ..}`); None when any automation may read any row.

    A row holding none of them fires nothing and changes no metric state (a metric
    absent from a row changes nothing), so it needs no event.
    """
    keys: set[str] = set()
    for _row, condition in matching.candidates(con, project.id, None, "run_logged").rows:
        if condition.metric is None:
            return None
        parts = condition.metric.name.split(".")
        keys.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(keys)


@dataclass(frozen=True)
class LoggedEvents:
    """Builds the `run_logged` events of one run's history rows; the fields they share
    are checked once, as the events API checks them."""

    base: incoming.IncomingEvent
    run_id: int

    @classmethod
    def of(cls, run: Run) -> LoggedEvents:
        document = {**_base(run, "run_logged", "line-0"), "metrics": {}}
        try:
            (base,) = incoming.parse_document(document)
        except incoming.InvalidEvents as invalid:  # a name no event can carry
            raise InvalidInput(f"the run's events cannot be sent: {invalid}") from None
        return cls(base, run.id)

    def event(self, line: int, row: dict[str, Any]) -> incoming.IncomingEvent | None:
        """The event of one history line (None when it holds no metric)."""
        metrics = flatten(row)
        if not metrics:
            return None
        if len(metrics) > incoming.MAX_METRICS:
            metrics = dict(list(metrics.items())[: incoming.MAX_METRICS])
        step = row.get("_step")
        if type(step) is not int or not 0 <= step <= incoming.MAX_VERSION:
            step = None
        base = self.base
        return incoming.IncomingEvent(
            base.type,
            base.entity,
            base.project,
            f"run-{self.run_id}-line-{line}",
            run=base.run,
            step=step,
            metrics=MappingProxyType(metrics),
            author=base.author,
        )


def end(run: Run, exit_code: int | None) -> dict[str, Any]:
    """The `run_state` event that ends a run: finished on exit code 0, failed otherwise
    (no exit code: crash detection)."""
    return _state_event(run, "finished" if exit_code == 0 else "failed")


def emit(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    documents: list[dict[str, Any]],
) -> list[outbox.Due]:
    """Run events (each names its place) stored, matched and queued in the caller's
    transaction."""
    built: list[incoming.IncomingEvent] = []
    for start in range(0, len(documents), incoming.MAX_EVENTS):
        chunk = {"events": documents[start : start + incoming.MAX_EVENTS]}
        try:
            built += incoming.parse_document(chunk)
        except incoming.InvalidEvents as invalid:  # a name no event can carry
            raise InvalidInput(f"the run's events cannot be sent: {invalid}") from None
    return emit_events(con, box, user, built)


def emit_events(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    built: list[incoming.IncomingEvent],
) -> list[outbox.Due]:
    """Events built here (already checked) stored, matched and queued in the caller's
    transaction, by the events API's own path."""
    queued: list[outbox.Due] = []
    for start in range(0, len(built), incoming.MAX_EVENTS):
        chunk = tuple(built[start : start + incoming.MAX_EVENTS])
        queued += events.store_within(con, box, user, chunk).queued
    return queued
