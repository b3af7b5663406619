"""Which scopes an event reaches: an entity scope sees every project of its entity, present
and future (a team's projects; an organization's registries), by one indexed query."""

from __future__ import annotations

import json
from typing import Any

from reconcile.server.admin import tasks as admin
from reconcile.server.runtime.matching import WIRE_TYPES
from reconcile.server.store.automations import triggers_for_event
from tests.server.helpers import CREATE_TRIGGER, ORG_ENTITY, TEAM, World, trigger_input
from tests.server.runtime.support import alias_event, emit

EVERY_ALIAS = json.dumps({"$or": [{"$and": []}]})
FAILED = {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}


def _entity_id(world: World, name: str) -> str:
    found: str = world.admin.ok(f'{{ entity(name: "{name}") {{ id }} }}')["entity"]["id"]
    return found


def _automation(world: World, name: str, scope_type: str, scope_id: str, **extra: Any) -> None:
    made = trigger_input(scope_id, name=name, scopeType=scope_type, eventFilter=EVERY_ALIAS)
    made["input"].update(extra)
    world.admin.ok(CREATE_TRIGGER, made)


def _fired(world: World, event: dict[str, Any], key: str | None = None) -> list[str]:
    answer = emit(world, event, key)
    assert answer.status_code == 202, answer.text
    (only,) = answer.json()["events"]
    names: list[str] = only["automations"]
    return names


def _registry_event(event_id: str, entity: str = TEAM) -> dict[str, Any]:
    event = {**alias_event(event_id, collection="fraud"), "registry": "models", "entity": entity}
    del event["project"]
    return event


def test_a_team_scope_sees_every_project_of_the_team_present_and_future(world: World) -> None:
    _automation(world, "team-wide", "ENTITY", _entity_id(world, TEAM))
    _automation(world, "vision-only", "PROJECT", world.project_id)
    admin.ensure_project(world.db, TEAM, "later")  # made after the automation
    assert _fired(world, alias_event("a1")) == ["team-wide", "vision-only"]
    later = {**alias_event("a2", collection="segmenter"), "project": "later"}
    assert _fired(world, later) == ["team-wide"]
    # A registry is the organization's, not the team's: the team scope does not see it.
    assert _fired(world, _registry_event("a3")) == []


def test_an_organization_scope_sees_the_registries_of_every_team_of_the_organization(
    world: World,
) -> None:
    admin.ensure_team(world.db, "beta", organization=TEAM)
    admin.set_role(world.db, "beta", "mia", "member")
    _automation(world, "org-wide", "ENTITY", _entity_id(world, ORG_ENTITY))
    assert _fired(world, _registry_event("o1")) == ["org-wide"]
    assert _fired(world, _registry_event("o2", "beta"), world.member.key) == ["org-wide"]
    admin.ensure_registry(world.db, TEAM, "later")
    later = {**_registry_event("o3"), "registry": "later"}
    assert _fired(world, later) == ["org-wide"]
    # The team's own projects are not the organization entity's.
    assert _fired(world, alias_event("o4")) == []


def test_a_team_scoped_run_automation_fires_in_a_project_made_after_it(world: World) -> None:
    _automation(
        world,
        "team-failures",
        "ENTITY",
        _entity_id(world, TEAM),
        triggeringEventType="RUN_STATE",
        eventFilter=json.dumps(FAILED),
    )
    admin.ensure_project(world.db, TEAM, "later")
    run = {"type": "run_state", "entity": TEAM, "run": {"id": "r1", "name": "n"}}
    assert _fired(world, {**run, "id": "r1", "project": "later", "state": "failed"}) == [
        "team-failures"
    ]
    assert _fired(world, {**run, "id": "r2", "project": "vision", "state": "finished"}) == []


def test_candidates_come_from_the_index_alone(world: World) -> None:
    """Automations of other scopes and event types cost nothing: the candidate query
    searches `triggers_match` once per scope kind and never scans the table."""
    _automation(world, "team-wide", "ENTITY", _entity_id(world, TEAM))
    with world.db.read() as con:
        project_id = int(con.execute("SELECT id FROM projects WHERE name = 'vision'").fetchone()[0])
        found = triggers_for_event(con, project_id, None, WIRE_TYPES["alias_added"])
        assert [row.name for row in found] == ["team-wide"]
        sql, params = _candidate_sql(con, project_id)
        plan = [str(row[3]) for row in con.execute("EXPLAIN QUERY PLAN " + sql, params)]
    searches = [step for step in plan if step.startswith("SEARCH t ")]
    assert (
        searches
        == ["SEARCH t USING INDEX triggers_match (scope_type=? AND scope_id=? AND event_type=?)"]
        * 3
    )
    assert not [step for step in plan if step.startswith("SCAN t")]


def _candidate_sql(con: Any, project_id: int) -> tuple[str, tuple[Any, ...]]:
    """The statement `triggers_for_event` runs, caught by SQLite's trace hook."""
    seen: list[str] = []
    con.set_trace_callback(seen.append)
    try:
        triggers_for_event(con, project_id, None, WIRE_TYPES["alias_added"])
    finally:
        con.set_trace_callback(None)
    (statement,) = [s for s in seen if "FROM triggers t" in s]
    return statement, ()
