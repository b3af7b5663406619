"""Which automations an event fires: candidates by index, then filters and metric state.

Candidates come from one indexed query by scope and event type, kept and brought up
to date by the rows a write changed (`match_changes`); each stored filter is compiled
once (`runtime.filters`) and tested against the event's document (answers kept per
document); metric automations keep their recent values per run in `metric_state` and
fire when their condition becomes true.
"""

from __future__ import annotations

import json
import logging
import operator
import sqlite3
import statistics
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

from reconcile.core import wire
from reconcile.core.events import BY_WIRE, EVENTS
from reconcile.core.model import Automation, Event, Scope
from reconcile.runtime import filters
from reconcile.runtime.incoming import TRIGGERS, IncomingEvent
from reconcile.server.api import present
from reconcile.server.store.automations import (
    SlackIntegration,
    TriggerRow,
    Webhook,
    triggers_for_event,
)

# The wire event types an incoming event type may fire.
WIRE_TYPES: dict[str, list[str]] = {}
for _kind, _types in TRIGGERS.items():
    for _type in _types:
        WIRE_TYPES.setdefault(_type, []).append(EVENTS[_kind].wire)
_CMP = {
    "$gt": lambda v, t: v > t,
    "$lt": lambda v, t: v < t,
    "$gte": lambda v, t: v >= t,
    "$lte": lambda v, t: v <= t,
}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    """One automation an event fired, and the metric value that made it fire."""

    row: TriggerRow
    automation: Automation
    metric: tuple[str, float] | None = None


# Decoded automations by everything their decoding reads (the whole stored row, its
# integration and the entity's name): a write changes the key, so an entry is never
# stale, even when `updated_at` (whole seconds) does not move. Bounded: emptied when full.
_DECODED: dict[Hashable, Automation] = {}
_DECODED_MAX = 20_000  # about 2 KB each with its key
_DECODED_LOCK = threading.Lock()


# Every field of a record, as one tuple (attrgetter: no Python-level loop per field).
_ROW_SLOTS = tuple(name for name in TriggerRow.__slots__ if name not in ("webhook", "slack"))
_plain = operator.attrgetter(*_ROW_SLOTS)
_webhook_fields = operator.attrgetter(*Webhook.__slots__)
_slack_fields = operator.attrgetter(*SlackIntegration.__slots__)


def _row_key(row: TriggerRow, entity: str) -> Hashable:
    webhook = _webhook_fields(row.webhook) if row.webhook is not None else None
    slack = _slack_fields(row.slack) if row.slack is not None else None
    return (entity, _plain(row), webhook, slack)


def decoded(row: TriggerRow, entity: str) -> Automation:
    """`automation_of(row, entity)`, decoded once per distinct stored row."""
    key = _row_key(row, entity)
    found = _DECODED.get(key)
    if found is None:
        found = automation_of(row, entity)
        with _DECODED_LOCK:
            if len(_DECODED) >= _DECODED_MAX:
                _DECODED.clear()
            _DECODED[key] = found
    return found


def automation_of(row: TriggerRow, entity: str) -> Automation:
    """The inventory model of a stored trigger, by the wire decoding `export` uses.

    A filter the inventory has no words for still fires: its event keeps its kind
    (what rendering reads) and the filter stays on the stored row.
    """
    shown = present.trigger(row)
    condition = shown["triggeringCondition"]
    event = wire.decode_event(condition["eventType"], condition["filter"])
    spec = BY_WIRE.get(row.event_type)
    if event.kind.startswith("unsupported:") and spec is not None:
        event = Event(spec.kind, {})
    action = wire.decode_action(shown["triggeredAction"])
    project = row.scope_project[1] if row.scope_project else row.scope_name
    collection = row.scope_name if row.scope_type == "ARTIFACT_COLLECTION" else None
    return Automation(entity, row.name, Scope(project, collection), event, action)


def match(
    con: sqlite3.Connection, event: IncomingEvent, project_id: int, collection_id: int | None
) -> list[Fired]:
    """The automations `event` fires, in creation order; metric state is updated.

    A stored automation whose filter cannot run (written by an older server) is
    skipped and logged: it never costs the event its other automations.
    """
    fired: list[Fired] = []
    doc = filters.document(event)
    state = filters.state_of(event) if event.type == "run_state" else None
    scope = candidates(con, project_id, collection_id, event.type)
    for row, condition in scope.passing(doc):
        try:
            metric = None
            if condition.metric is not None:
                metric = _metric(con, row.id, condition.metric, event)
                if metric is None:
                    continue
            elif condition.states is not None and state not in condition.states:
                continue
            fired.append(Fired(row, decoded(row, event.entity), metric))
        except sqlite3.Error:
            raise  # the database itself: the caller's transaction handles it
        except Exception as error:  # one automation must not cost the others
            _skipped(row, error, "it cannot run as stored")
    return fired


Candidate = tuple[TriggerRow, filters.Compiled]
_PASSED_MAX = 1024  # documents remembered per scope; emptied when full
# The last change a scope's candidates have seen: `match_changes`' (seq, tag).
Marker = tuple[int, int]
Scope_ = tuple[str, int, int | None, str]  # database token, project, collection, event type


@dataclass(frozen=True)
class Candidates:
    """A scope's candidates (in creation order, each with its compiled filter) as of
    one change of the database, and which of them passed each document seen since:
    a filter is a function of the document, so its answer holds until they change."""

    marker: Marker
    rows: tuple[Candidate, ...]
    passed: dict[tuple[tuple[str, object], ...], tuple[Candidate, ...]]
    # The rows' ids, and the rows of other tables they show (`_shown`): what a change
    # is checked against, kept so that a write elsewhere costs no walk of the rows.
    ids: frozenset[int]
    shown: dict[str, frozenset[int]]

    def at(self, marker: Marker) -> Candidates:
        """The same candidates and answers, as of a later change that left them alone."""
        return replace(self, marker=marker)

    def passing(self, doc: filters.Document) -> tuple[Candidate, ...]:
        key = tuple(sorted(doc.items()))
        found = self.passed.get(key)
        if found is None:
            found = tuple(one for one in self.rows if _passes(one, doc))
            if len(self.passed) >= _PASSED_MAX:
                self.passed.clear()
            self.passed[key] = found
        return found


def _passes(candidate: Candidate, doc: filters.Document) -> bool:
    row, condition = candidate
    try:
        return condition.test(doc)
    except Exception as error:  # one automation must not cost the others
        _skipped(row, error, "its stored filter cannot run")
        return False


# Each scope's candidates, brought up to date at the next event after a write to what
# they read (`store.db` migration 17): by the rows that changed, or all of them again.
_CANDIDATES: dict[Scope_, Candidates] = {}
_CANDIDATES_MAX = 200_000  # rows over all entries; emptied when more would be kept
_CANDIDATES_LOCK = threading.Lock()
# Changes caught up by reading them; past this many the scope is read again whole.
_DELTA_MAX = 2_000
# Answers kept through a change at most this many candidates looked at again.
_RETESTS_MAX = 20_000
_LAST_CHANGE = (
    "SELECT g.token, c.seq, c.tag FROM match_generation g, "
    "(SELECT seq, tag FROM match_changes ORDER BY seq DESC LIMIT 1) c"
)


def candidates(
    con: sqlite3.Connection, project_id: int, collection_id: int | None, event_type: str
) -> Candidates:
    """The enabled automations an event of `event_type` may fire there, in creation
    order, each with its compiled filter (one that cannot run raises when tested)."""
    # The last change is read before the rows: a write landing between is read again.
    token, seq, tag = con.execute(_LAST_CHANGE).fetchone()
    key = (token, project_id, collection_id, event_type)
    found = _CANDIDATES.get(key)
    if found is not None and found.marker == (seq, tag):
        return found
    made = _caught_up(con, key, found) if found is not None else None
    if made is None:
        made = _read(con, key, found, (seq, tag))
    with _CANDIDATES_LOCK:
        kept = sum(len(entry.rows) for entry in _CANDIDATES.values())
        if kept + len(made.rows) > _CANDIDATES_MAX:
            _CANDIDATES.clear()
        _CANDIDATES[key] = made
    return made


def _read(
    con: sqlite3.Connection, key: Scope_, found: Candidates | None, marker: Marker
) -> Candidates:
    """The scope's candidates read whole."""
    _token, project_id, collection_id, event_type = key
    rows = triggers_for_event(con, project_id, collection_id, WIRE_TYPES[event_type])
    return _made(key, marker, tuple(_with_filters(rows, found)))


def _with_filters(rows: Sequence[TriggerRow], found: Candidates | None) -> list[Candidate]:
    # Filters are compiled once per stored version: those of the scope's last entry are
    # kept by what compiling reads, so a write elsewhere costs a read, not a compile
    # each (filters.compiled's own cache holds fewer than a large scope's filters).
    known = {_version(row): test for row, test in found.rows} if found else {}
    return [(row, known.get(_version(row)) or _compiled(row)) for row in rows]


def _caught_up(con: sqlite3.Connection, key: Scope_, found: Candidates) -> Candidates | None:
    """`found` brought up to date by the changes since its marker, or None when it must
    be read whole: its marker is gone (rolled back, or older than the changes kept),
    too much changed, or a row its candidates show (a name, a webhook) changed."""
    changes = con.execute(
        "SELECT seq, tag, tbl, row_id FROM match_changes WHERE seq >= ? ORDER BY seq LIMIT ?",
        (found.marker[0], _DELTA_MAX + 1),
    ).fetchall()
    if not changes or (changes[0][0], changes[0][1]) != found.marker:
        return None
    if len(changes) > _DELTA_MAX:
        return None
    changed: set[int] = set()
    for _seq, _tag, table, row_id in changes[1:]:
        if table == "triggers":
            changed.add(row_id)
        elif table == "*" or row_id in found.shown.get(table, ()):
            return None
    marker: Marker = (changes[-1][0], changes[-1][1])
    if not changed:
        return found.at(marker)
    _token, project_id, collection_id, event_type = key
    fresh = triggers_for_event(
        con, project_id, collection_id, WIRE_TYPES[event_type], sorted(changed)
    )
    if not fresh and found.ids.isdisjoint(changed):  # none of them is the scope's
        return found.at(marker)
    kept = [one for one in found.rows if one[0].id not in changed]
    added = _with_filters(fresh, found)
    rows = tuple(sorted([*kept, *added], key=_by_id))
    return _made(key, marker, rows, _answers(found.passed, changed, added))


def _by_id(candidate: Candidate) -> int:
    return candidate[0].id


def _answers(
    passed: dict[tuple[tuple[str, object], ...], tuple[Candidate, ...]],
    changed: set[int],
    added: list[Candidate],
) -> dict[tuple[tuple[str, object], ...], tuple[Candidate, ...]]:
    """The documents' answers kept through a change: the changed automations left out,
    their new versions tested (a filter is a function of the document). Forgotten when
    that would cost more than testing the scope again at the next events."""
    remembered = list(passed.items())  # one copy: another thread may add to `passed`
    if (
        sum(len(answer) for _key, answer in remembered) + len(remembered) * len(added)
        > _RETESTS_MAX
    ):
        return {}
    answers = {}
    for key, answer in remembered:
        doc = dict(key)
        kept = [one for one in answer if one[0].id not in changed]
        kept += [one for one in added if _passes(one, doc)]
        answers[key] = tuple(sorted(kept, key=_by_id))
    return answers


def _made(
    key: Scope_,
    marker: Marker,
    rows: tuple[Candidate, ...],
    passed: dict[tuple[tuple[str, object], ...], tuple[Candidate, ...]] | None = None,
) -> Candidates:
    ids = frozenset(row.id for row, _test in rows)
    return Candidates(marker, rows, passed or {}, ids, _shown(key, rows))


def _shown(key: Scope_, rows: tuple[Candidate, ...]) -> dict[str, frozenset[int]]:
    """The rows of other tables the scope's choice and its candidates' fields read."""
    _token, project_id, collection_id, _type = key
    projects, collections, integrations = {project_id}, {collection_id or 0}, set()
    for row, _test in rows:
        if row.scope_project is not None:
            projects.add(row.scope_project[0])
        if row.scope_type == "PROJECT":
            projects.add(row.scope_id)
        elif row.scope_type == "ARTIFACT_COLLECTION":
            collections.add(row.scope_id)
        integration = row.webhook or row.slack
        if integration is not None:
            integrations.add(integration.id)
    return {
        "projects": frozenset(projects),
        "collections": frozenset(collections),
        "integrations": frozenset(integrations),
    }


def _version(row: TriggerRow) -> tuple[int, str, str]:
    """What a stored automation's compiled filter depends on."""
    return (row.id, row.event_type, row.event_filter)


def _compiled(row: TriggerRow) -> filters.Compiled:
    try:
        return filters.compiled(row.event_type, row.event_filter)
    except Exception as error:  # kept, to be skipped and logged when it is tested
        failed = error

        def fail(_doc: filters.Document) -> bool:
            raise failed.with_traceback(None)  # kept: each raise must not add to it

        return filters.Compiled(fail)


# Automations already reported as skipped, by id and filter (each is logged once).
_REPORTED: set[tuple[int, str]] = set()


def _skipped(row: TriggerRow, error: Exception, why: str) -> None:
    key = (row.id, row.event_filter)
    if key in _REPORTED:
        return
    if len(_REPORTED) >= _DECODED_MAX:
        _REPORTED.clear()
    _REPORTED.add(key)
    log.warning(
        "automation %r (id %d) skipped: %s: %s",
        row.name,
        row.id,
        why,
        error,
    )


def _metric(
    con: sqlite3.Connection, trigger_id: int, metric: filters.Metric, event: IncomingEvent
) -> tuple[str, float] | None:
    """The (name, value) that makes the automation fire now, or None; state is kept."""
    name = metric.name
    if name not in event.metrics:
        return None  # a metric absent from a row changes nothing
    run_id = event.run.id if event.run else ""
    row = con.execute(
        "SELECT vals, active FROM metric_state WHERE trigger_id = ? AND run_id = ?",
        (trigger_id, run_id),
    ).fetchone()
    # At most `needed` values are kept (windows are bounded by filters.WINDOW_MAX).
    values: list[float] = json.loads(row["vals"]) if row else []
    values = [*values, float(event.metrics[name])][-metric.needed :]
    value = _condition(metric, values)
    active = value is not None
    con.execute(
        "INSERT INTO metric_state (trigger_id, run_id, vals, active) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (trigger_id, run_id) DO UPDATE SET vals = excluded.vals, "
        "active = excluded.active",
        (trigger_id, run_id, json.dumps(values), int(active)),
    )
    was_active = bool(row["active"]) if row else False
    return (name, value) if value is not None and not was_active else None


def aggregate(op: str | None, values: Sequence[float]) -> float:
    if op == "max":
        return max(values)
    if op == "min":
        return min(values)
    if op == "average":
        return sum(values) / len(values)
    return values[-1]


def _condition(metric: filters.Metric, values: list[float]) -> float | None:
    """The value for which the condition holds over `values` (oldest first), or None."""
    if metric.kind == "threshold":
        current = aggregate(metric.aggregate, values[-metric.window :])
        return current if _CMP[metric.cmp or ""](current, metric.amount) else None
    if metric.kind == "change":
        return _change(metric, values)
    return _zscore(metric, values)


def _change(metric: filters.Metric, values: list[float]) -> float | None:
    window, prior_size = metric.window, metric.prior_window
    if len(values) < window + prior_size:
        return None
    current = aggregate(metric.aggregate, values[-window:])
    prior = aggregate(metric.aggregate, values[-window - prior_size : -window])
    delta = current - prior
    if metric.change == "relative":
        if prior == 0:
            return None
        delta /= abs(prior)
    return current if _directed(metric.direction, delta, metric.amount) else None


def _zscore(metric: filters.Metric, values: list[float]) -> float | None:
    history = values[:-1][-metric.window :]
    if len(history) < 2:
        return None
    spread = statistics.pstdev(history)
    if spread == 0:
        return None
    latest = values[-1]
    z = (latest - statistics.fmean(history)) / spread
    return latest if _directed(metric.direction, z, metric.amount) else None


def _directed(direction: str | None, delta: float, amount: float) -> bool:
    if direction == "increase":
        return delta >= amount
    if direction == "decrease":
        return -delta >= amount
    return abs(delta) >= amount
