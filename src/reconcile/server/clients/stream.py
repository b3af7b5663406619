"""The SDK's file_stream posts applied to a run: history lines appended idempotently by
offset, the summary replaced, the run ended by the final post; and crash detection for
runs that stop posting.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import Any

from reconcile.server.api import validation
from reconcile.server.clients import lines as history_lines
from reconcile.server.clients import runs
from reconcile.server.errors import ApiError, InvalidInput, NotFound
from reconcile.server.runtime import outbox
from reconcile.server.store import teams
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import Database

log = logging.getLogger(__name__)

HISTORY = "wandb-history.jsonl"
SUMMARY = "wandb-summary.json"
MAX_LINE_CHARS = 1024 * 1024
MAX_DEPTH = 32  # levels of nesting in one history line or the summary
# What the SDK reads back: no exit code forced on it, no limits.
ANSWER: dict[str, Any] = {"exitcode": None, "limits": {}}


def _chunk(name: str, raw: Any) -> tuple[int, list[str]]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"files.{name} must be an object with offset and content")
    offset, content = raw.get("offset", 0), raw.get("content", [])
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"files.{name}.offset must be a whole number >= 0")
    # The body is parsed JSON: its strings are `str` itself, never a subclass.
    if not isinstance(content, list) or not set(map(type, content)) <= {str}:
        raise InvalidInput(f"files.{name}.content must be a list of strings")
    if content and max(map(len, content)) > MAX_LINE_CHARS:
        raise InvalidInput(f"files.{name}: a line is longer than {MAX_LINE_CHARS} characters")
    return offset, content


def check(body: Any) -> tuple[dict[str, tuple[int, list[str]]], bool, int | None]:
    """The post's file chunks, whether it is the last, and its exit code."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    files = body.get("files")
    files = {} if files is None else files
    if not isinstance(files, dict):
        raise InvalidInput("files must be an object of file names")
    chunks = {str(name): _chunk(str(name), raw) for name, raw in files.items()}
    complete = body.get("complete", False)
    if not isinstance(complete, bool):
        raise InvalidInput("complete must be true or false")
    code = body.get("exitcode")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise InvalidInput("exitcode must be a whole number or null")
    if code is not None and not -(2**31) <= code < 2**31:
        raise InvalidInput("exitcode is out of range")
    return chunks, complete, code


def _object(line: str, where: str) -> dict[str, Any]:
    """A line as a JSON object. Not strict: the SDK writes NaN and Infinity as
    JSON's extensions, and refusing them would make it retry forever."""
    try:
        row = json.loads(line)
    except ValueError:
        raise InvalidInput(f"{where} is not JSON") from None
    except RecursionError:
        raise InvalidInput(f"{where} nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(row, dict):
        raise InvalidInput(f"{where} is not a JSON object")
    try:  # a lone surrogate (a `\\ud800` escape in the body) that SQLite cannot store
        line.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{where} holds a lone surrogate (\\ud800-\\udfff)") from None
    # Each level opens with a bracket: a line with few is shallow enough unread.
    deep = line.count("{") + line.count("[") > MAX_DEPTH
    if deep and validation.json_depth(row, MAX_DEPTH) > MAX_DEPTH:
        raise InvalidInput(f"{where} nests deeper than {MAX_DEPTH} levels")
    return row


Row = tuple[int, str, dict[str, Any] | None]


def _rows(offset: int, lines: list[str], watched: frozenset[str] | None) -> list[Row]:
    """Each line's number, text (stored as sent) and object. A line is parsed only when
    it may hold a watched key (all of them when `watched` is None) or when
    `history_lines.Lines` cannot vouch that it is a JSON object; the others' object is
    None (not needed)."""
    if watched is None:
        parsed = set(range(len(lines)))
    else:
        post = history_lines.Lines.of(lines)
        parsed = post.holding(watched)
        if len(parsed) < len(lines):  # some lines are left unparsed if they are plain
            parsed.update(post.unchecked())
    return [
        (number, line, _object(line, f"{HISTORY} line {number}") if index in parsed else None)
        for index, (number, line) in enumerate(enumerate(lines, start=offset))
    ]


def _append_history(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    run: runs.Run,
    chunk: tuple[int, list[str]],
) -> list[outbox.Due]:
    """New lines stored, and their `run_logged` events; the deliveries queued. A resent
    offset is ignored, a gap refused."""
    offset, lines = chunk
    taken = run.history_lines
    if offset > taken:
        raise InvalidInput(f"{HISTORY} offset {offset} leaves a gap: the run has {taken} lines")
    watched = runs.watched_keys(con, run.project)
    fresh = _rows(taken, lines[taken - offset :], watched)
    if not fresh:
        return []
    con.executemany(
        "INSERT INTO run_history (run_id, line, row) VALUES (?, ?, ?)",
        [(run.id, number, line) for number, line, _ in fresh],
    )
    con.execute("UPDATE runs SET history_lines = ? WHERE id = ?", (taken + len(fresh), run.id))
    return _logged(con, box, user, run, fresh, watched=watched)


def _logged(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    run: runs.Run,
    fresh: list[Row],
    *,
    watched: frozenset[str] | None,
) -> list[outbox.Due]:
    """The `run_logged` events of the rows a metric automation of the project may read,
    stored and matched. A row holding no metric any of them reads would fire nothing
    and change no state: it is kept in the run's history only (README, "Real W&B
    clients")."""
    held = [
        (number, row)
        for number, _, row in fresh
        if row is not None and (watched is None or not watched.isdisjoint(row))
    ]
    if not held:
        return []
    build = runs.LoggedEvents.of(run)
    made = [event for number, row in held if (event := build.event(number, row)) is not None]
    return runs.emit_events(con, box, user, made)


def _summary(con: sqlite3.Connection, run: runs.Run, lines: list[str]) -> None:
    if not lines:
        return
    _object(lines[-1], SUMMARY)
    con.execute("UPDATE runs SET summary = ? WHERE id = ?", (lines[-1], run.id))


def apply(
    con: sqlite3.Connection,
    box: SecretBox,
    user: teams.User,
    where: tuple[str, str, str],
    body: Any,
) -> list[outbox.Due]:
    """One file_stream post applied in the caller's transaction; the deliveries its
    events queued."""
    entity, project_name, run_name = where
    chunks, complete, code = check(body)
    _, project = runs.writable_project(con, user, entity, project_name, create=False)
    run = runs.find_run(con, project, run_name)
    if run is None:
        raise NotFound(f"run {run_name} not found in {entity}/{project_name}")
    queued = _append_history(con, box, user, run, chunks[HISTORY]) if HISTORY in chunks else []
    if SUMMARY in chunks:
        _summary(con, run, chunks[SUMMARY][1])
    con.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run.id))
    if complete and run.state == "running":
        state = "finished" if code == 0 else "failed"
        con.execute("UPDATE runs SET state = ?, exit_code = ? WHERE id = ?", (state, code, run.id))
        queued += runs.emit(con, box, user, [runs.end(run, code)])
    return queued


def sweep(db: Database, box: SecretBox, timeout: float) -> list[outbox.Due]:
    """Runs still running that posted nothing for `timeout` seconds: failed (crashed),
    with their `run_state` failed event authored by whoever created the run."""
    queued: list[outbox.Due] = []
    with db.write() as con:
        stale = con.execute(
            "SELECT * FROM runs WHERE state = 'running' AND heartbeat < ?",
            (time.time() - timeout,),
        ).fetchall()
        for row in stale:
            con.execute("UPDATE runs SET state = 'failed' WHERE id = ?", (row["id"],))
            run = runs.find_run(con, teams.get_project(con, row["project_id"]), row["name"])
            if run is None or row["created_by"] is None:
                continue
            author = teams.get_user(con, row["created_by"])
            try:
                con.execute("SAVEPOINT crash")
                queued += runs.emit(con, box, author, [runs.end(run, None)])
                con.execute("RELEASE crash")
            except ApiError as error:  # the author left the team: the run fails silently
                con.execute("ROLLBACK TO crash")
                con.execute("RELEASE crash")
                log.info("crashed run's event refused", extra={"reason": error.message})
    return queued
