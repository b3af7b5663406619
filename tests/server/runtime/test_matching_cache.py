"""Decoded automations are cached for matching, and a write is seen at once."""

from __future__ import annotations

import json

import pytest

from reconcile.server.runtime import matching
from reconcile.server.store import automations
from tests.server.helpers import World, trigger_input, webhook
from tests.server.runtime.support import alias_event, emit

CREATE = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""
UPDATE = """mutation ($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) { trigger { id } } }"""


def _alias(pattern: str) -> str:
    return json.dumps({"$or": [{"$and": [{"alias": {"$regex": pattern}}]}]})


def _fired(world: World, event_id: str, alias: str) -> list[str]:
    answer = emit(world, alias_event(event_id, alias=alias))
    assert answer.status_code == 202, answer.text
    names: list[str] = answer.json()["events"][0]["automations"]
    return names


def test_an_update_in_the_same_second_is_matched_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stored `updated_at` does not move (whole seconds): the cache must still see it.
    monkeypatch.setattr(automations, "now", lambda: "2026-01-01T00:00:00Z")
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, eventFilter=_alias("^prod$"))
    trigger_id = world.admin.ok(CREATE, made)["createFilterTrigger"]["trigger"]["id"]
    assert _fired(world, "e1", "prod") == ["promote"]

    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "eventFilter": _alias("^staging$")}})
    assert _fired(world, "e2", "prod") == []
    assert _fired(world, "e3", "staging") == ["promote"]

    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "name": "promote-staging"}})
    assert _fired(world, "e4", "staging") == ["promote-staging"]

    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "enabled": False}})
    assert _fired(world, "e5", "staging") == []


def test_each_stored_automation_is_decoded_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = matching.automation_of

    def counted(row: automations.TriggerRow, entity: str) -> object:
        calls.append(row.id)
        return original(row, entity)

    monkeypatch.setattr(matching, "automation_of", counted)
    monkeypatch.setattr(matching, "_DECODED", {})
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    for name in ("first", "second", "third"):
        world.admin.ok(CREATE, trigger_input(world.project_id, hook, name=name))
    for number in range(4):
        assert _fired(world, f"e{number}", "prod") == ["first", "second", "third"]
    assert len(calls) == 3
    assert len(set(calls)) == 3


def test_candidates_are_read_once_per_generation_and_any_write_is_seen(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    original = matching.triggers_for_event

    def counted(*args: object) -> list[automations.TriggerRow]:
        reads.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(matching, "triggers_for_event", counted)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    for number in range(4):
        assert _fired(world, f"a{number}", "prod") == ["first"]
    assert len(reads) == 1
    # Written by another program straight into the database: seen at the next event.
    with world.db.write() as con:
        con.execute("UPDATE triggers SET enabled = 0 WHERE name = 'first'")
    assert _fired(world, "b1", "prod") == []
    with world.db.write() as con:
        con.execute("UPDATE triggers SET enabled = 1, name = 'renamed'")
    assert _fired(world, "b2", "prod") == ["renamed"]
    with world.db.write() as con:
        con.execute("UPDATE integrations SET url_endpoint = 'http://127.0.0.1:10/'")
    assert _fired(world, "b3", "prod") == ["renamed"]
    with world.db.read() as con:
        url = con.execute("SELECT url FROM deliveries ORDER BY id DESC").fetchone()[0]
    assert url == "http://127.0.0.1:10"
    assert len(reads) == 4


def test_a_rolled_back_write_never_brings_its_generation_back(world: World) -> None:
    def generation() -> int:
        with world.db.read() as con:
            return int(con.execute("SELECT n FROM match_generation").fetchone()[0])

    before = generation()
    discarded: list[int] = []

    def rolled_back() -> None:
        with world.db.write() as con:
            con.execute("UPDATE triggers SET enabled = enabled")
            con.execute("UPDATE projects SET name = name")
            discarded.append(int(con.execute("SELECT n FROM match_generation").fetchone()[0]))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert generation() == before != discarded[0]
    with world.db.write() as con:
        con.execute("UPDATE collections SET name = name")
    assert generation() not in (before, discarded[0])


def test_filters_are_tested_once_per_document_until_a_write(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested: list[str] = []
    original = matching._passes

    def counted(candidate: matching.Candidate, doc: object) -> bool:
        tested.append(candidate[0].name)
        return original(candidate, doc)  # type: ignore[arg-type]

    monkeypatch.setattr(matching, "_passes", counted)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    for name in ("first", "second"):
        world.admin.ok(CREATE, trigger_input(world.project_id, hook, name=name))
    assert [_fired(world, f"a{n}", "prod") for n in range(3)] == [["first", "second"]] * 3
    assert _fired(world, "b1", "dev") == []
    assert _fired(world, "b2", "dev") == []
    assert tested == ["first", "second"] * 2  # once for `prod`, once for `dev`
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="third"))
    assert _fired(world, "c1", "prod") == ["first", "second", "third"]
    assert tested[4:] == ["first", "second", "third"]


def test_a_filter_is_compiled_once_per_stored_version(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write elsewhere makes the scope's candidates be read again, but not compiled
    again: only a changed filter is (its own cache may hold fewer than are stored)."""
    compiled: list[str] = []
    original = matching.filters.compiled

    def counted(event_type: str, text: str) -> object:
        compiled.append(text)
        return original(event_type, text)

    monkeypatch.setattr(matching.filters, "compiled", counted)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    made = {}
    for name, pattern in (("one", "^prod$"), ("two", "^staging$")):
        created = world.admin.ok(
            CREATE, trigger_input(world.project_id, hook, name=name, eventFilter=_alias(pattern))
        )
        made[name] = created["createFilterTrigger"]["trigger"]["id"]
    assert _fired(world, "e1", "prod") == ["one"]
    assert sorted(compiled) == sorted([_alias("^prod$"), _alias("^staging$")])
    with world.db.write() as con:  # a write the candidates must see, no filter changed
        con.execute("UPDATE triggers SET description = 'moved' WHERE name = 'one'")
    assert _fired(world, "e2", "prod") == ["one"]
    assert len(compiled) == 2
    world.admin.ok(UPDATE, {"input": {"id": made["two"], "eventFilter": _alias("^prod")}})
    assert _fired(world, "e3", "prod") == ["one", "two"]
    assert compiled[2:] == [_alias("^prod")]
