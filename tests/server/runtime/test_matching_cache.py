"""Decoded automations are cached for matching, and a write is seen at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconcile.server.admin import tasks as admin
from reconcile.server.runtime import matching
from reconcile.server.store import automations
from tests.server.helpers import TEAM, World, trigger_input, webhook
from tests.server.runtime.support import alias_event, emit

CREATE = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""
DELETE = """mutation ($id: ID!) { deleteTrigger(input: {triggerID: $id}) { success } }"""
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


class Reads:
    """The reads of a scope's candidates: whole (None) or of the changed rows (their ids)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[int] | None] = []
        original = matching.triggers_for_event

        def counted(*args: Any) -> list[automations.TriggerRow]:
            self.calls.append(list(args[4]) if len(args) > 4 else None)
            return original(*args)

        monkeypatch.setattr(matching, "triggers_for_event", counted)

    @property
    def whole(self) -> int:
        return self.calls.count(None)


def _trigger_id(world: World, name: str) -> int:
    with world.db.read() as con:
        return int(con.execute("SELECT id FROM triggers WHERE name = ?", (name,)).fetchone()[0])


def _other_project(world: World) -> str:
    admin.ensure_project(world.db, TEAM, "audio")
    found = world.admin.ok('{ project(name: "audio", entityName: "acme") { id } }')
    return str(found["project"]["id"])


def test_candidates_are_read_once_and_any_write_is_seen(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    for number in range(4):
        assert _fired(world, f"a{number}", "prod") == ["first"]
    assert reads.calls == [None]
    first = _trigger_id(world, "first")
    # Written by another program straight into the database: seen at the next event,
    # by a read of the row that changed.
    with world.db.write() as con:
        con.execute("UPDATE triggers SET enabled = 0 WHERE name = 'first'")
    assert _fired(world, "b1", "prod") == []
    with world.db.write() as con:
        con.execute("UPDATE triggers SET enabled = 1, name = 'renamed'")
    assert _fired(world, "b2", "prod") == ["renamed"]
    assert reads.calls == [None, [first], [first]]
    # A row the candidates show (their webhook): the scope is read whole again.
    with world.db.write() as con:
        con.execute("UPDATE integrations SET url_endpoint = 'http://127.0.0.1:10/'")
    assert _fired(world, "b3", "prod") == ["renamed"]
    with world.db.read() as con:
        url = con.execute("SELECT url FROM deliveries ORDER BY id DESC").fetchone()[0]
    assert url == "http://127.0.0.1:10"
    assert reads.calls == [None, [first], [first], None]


def test_automations_created_edited_disabled_and_deleted_are_caught_up_by_their_rows(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    assert _fired(world, "a1", "prod") == ["first"]
    reads = Reads(monkeypatch)
    made = world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="second"))
    second = made["createFilterTrigger"]["trigger"]["id"]
    assert _fired(world, "a2", "prod") == ["first", "second"]
    world.admin.ok(UPDATE, {"input": {"id": second, "eventFilter": _alias("^staging$")}})
    assert _fired(world, "a3", "prod") == ["first"]
    assert _fired(world, "a4", "staging") == ["second"]
    world.admin.ok(UPDATE, {"input": {"id": second, "enabled": False}})
    assert _fired(world, "a5", "staging") == []
    world.admin.ok(UPDATE, {"input": {"id": second, "enabled": True}})
    assert _fired(world, "a6", "staging") == ["second"]
    world.admin.ok(DELETE, {"id": second})
    assert _fired(world, "a7", "staging") == []
    assert _fired(world, "a8", "prod") == ["first"]
    assert reads.whole == 0
    assert len(reads.calls) == 5  # one read of the changed row after each write


def _tests_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the automations whose filter is tested, one per test, from now on."""
    tested: list[str] = []
    original = matching._passes

    def counted(candidate: matching.Candidate, doc: object) -> bool:
        tested.append(candidate[0].name)
        return original(candidate, doc)  # type: ignore[arg-type]

    monkeypatch.setattr(matching, "_passes", counted)
    return tested


def test_a_write_elsewhere_keeps_the_scope_and_its_answers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested = _tests_counted(monkeypatch)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    elsewhere = _other_project(world)
    assert _fired(world, "a1", "prod") == ["first"]
    reads = Reads(monkeypatch)
    world.admin.ok(CREATE, trigger_input(elsewhere, hook, name="audio"))
    admin.ensure_collection(world.db, TEAM, "audio", "speech", "model")
    with world.db.write() as con:
        con.execute("UPDATE projects SET description = 'moved' WHERE name = 'audio'")
    assert _fired(world, "a2", "prod") == ["first"]
    assert reads.calls == [[_trigger_id(world, "audio")]]
    assert tested == ["first"]  # the answer for `prod` was kept
    assert _fired(world, "a3", "prod") == ["first"]  # caught up: nothing read again
    assert reads.calls == [[_trigger_id(world, "audio")]]


def test_a_rolled_back_change_is_never_taken_for_a_later_one(world: World) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    with world.db.read() as con:
        project = con.execute("SELECT id FROM projects WHERE name = 'vision'").fetchone()[0]
        collection = con.execute("SELECT id FROM collections WHERE name = 'detector'").fetchone()
    scope = (project, collection[0], "alias_added")

    def rolled_back() -> None:
        with world.db.write() as con:
            con.execute("UPDATE triggers SET enabled = 0 WHERE name = 'first'")
            assert matching.candidates(con, *scope).rows == ()
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    with world.db.write() as con:  # takes the sequence number the rollback freed
        con.execute("UPDATE triggers SET description = 'later' WHERE name = 'first'")
    assert _fired(world, "a1", "prod") == ["first"]


def test_a_scope_older_than_the_changes_kept_is_read_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    assert _fired(world, "a1", "prod") == ["first"]
    reads = Reads(monkeypatch)
    with world.db.write() as con:
        con.execute("UPDATE triggers SET enabled = 0 WHERE name = 'first'")
    _other_project(world)
    with world.db.write() as con:  # as if more changes followed than are kept
        con.execute("DELETE FROM match_changes WHERE seq < (SELECT MAX(seq) FROM match_changes)")
    assert _fired(world, "a2", "prod") == []
    assert reads.calls == [None]


def test_a_changed_entity_reads_every_scope_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    assert _fired(world, "a1", "prod") == ["first"]
    reads = Reads(monkeypatch)
    with world.db.write() as con:
        con.execute("UPDATE entities SET name = name WHERE name = 'other'")
    assert _fired(world, "a2", "prod") == ["first"]
    assert _fired(world, "a3", "prod") == ["first"]
    assert reads.calls == [None]


def test_a_renamed_project_reads_its_scopes_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    assert _fired(world, "a1", "prod") == ["first"]
    reads = Reads(monkeypatch)
    with world.db.write() as con:
        con.execute("UPDATE projects SET name = 'vision' WHERE name = 'vision'")
    assert _fired(world, "a2", "prod") == ["first"]
    assert reads.calls == [None]


def test_filters_are_tested_once_per_document_until_a_write(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested = _tests_counted(monkeypatch)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    for name in ("first", "second"):
        world.admin.ok(CREATE, trigger_input(world.project_id, hook, name=name))
    assert [_fired(world, f"a{n}", "prod") for n in range(3)] == [["first", "second"]] * 3
    assert _fired(world, "b1", "dev") == []
    assert _fired(world, "b2", "dev") == []
    assert tested == ["first", "second"] * 2  # once for `prod`, once for `dev`
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="third"))
    assert _fired(world, "c1", "prod") == ["first", "second", "third"]
    assert _fired(world, "c2", "dev") == []
    # Only the new automation is tested, against each document remembered.
    assert tested[4:] == ["third", "third"]
    with world.db.write() as con:
        con.execute("UPDATE triggers SET event_filter = ? WHERE name = 'first'", (_alias("^dev$"),))
    assert _fired(world, "d1", "dev") == ["first"]
    assert _fired(world, "d2", "prod") == ["second", "third"]
    assert tested[6:] == ["first", "first"]
    # Keeping the answers through a change costs the answers kept (`dev`: first; `prod`:
    # second, third) and a test of each changed automation per document (2): 5.
    monkeypatch.setattr(matching, "_RETESTS_MAX", 5)  # at most that: kept
    with world.db.write() as con:
        con.execute("UPDATE triggers SET description = 'x' WHERE name = 'second'")
    assert _fired(world, "e1", "prod") == ["second", "third"]
    assert tested[8:] == ["second", "second"]
    monkeypatch.setattr(matching, "_RETESTS_MAX", 4)  # more than that: tested again
    with world.db.write() as con:
        con.execute("UPDATE triggers SET description = 'y' WHERE name = 'second'")
    assert _fired(world, "e2", "prod") == ["second", "third"]
    assert tested[10:] == ["first", "second", "third"]


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
    with world.db.write() as con:  # a row the candidates show: the scope is read whole
        con.execute("UPDATE integrations SET url_endpoint = 'http://127.0.0.1:10/'")
    assert _fired(world, "e2b", "prod") == ["one"]
    assert len(compiled) == 2
    world.admin.ok(UPDATE, {"input": {"id": made["two"], "eventFilter": _alias("^prod")}})
    assert _fired(world, "e3", "prod") == ["one", "two"]
    assert compiled[2:] == [_alias("^prod")]


def test_the_candidates_kept_are_emptied_when_more_would_be_kept_than_the_bound(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "_CANDIDATES", {})
    monkeypatch.setattr(matching, "_CANDIDATES_MAX", 2)  # rows over all scopes
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    kept = []
    for n, collection in enumerate(("one", "two", "three")):  # a scope each, of 1 row
        assert emit(world, alias_event(f"e{n}", collection=collection)).status_code == 202
        kept.append(len(matching._CANDIDATES))
    assert kept == [1, 2, 1]  # 2 rows are kept; a third empties them first


def test_the_decoded_automations_are_emptied_when_full(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "_DECODED", {})
    monkeypatch.setattr(matching, "_DECODED_MAX", 2)
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    for name in ("first", "second", "third"):
        world.admin.ok(CREATE, trigger_input(world.project_id, hook, name=name))
    assert _fired(world, "e1", "prod") == ["first", "second", "third"]
    # Two are kept; the third empties them first.
    assert [one.name for one in matching._DECODED.values()] == ["third"]


def test_the_answers_kept_per_scope_are_emptied_when_full(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested = _tests_counted(monkeypatch)
    monkeypatch.setattr(matching, "_PASSED_MAX", 1)  # one document's answer per scope
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    fired = [_fired(world, f"e{n}", alias) for n, alias in enumerate(("prod", "dev", "prod"))]
    assert fired == [["first"], [], ["first"]]
    assert tested == ["first"] * 3  # `dev` made it forget `prod`


def test_up_to_the_bound_of_changes_a_scope_is_caught_up_by_them_past_it_read_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "_DELTA_MAX", 3)  # changes read, its own marker included
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    world.admin.ok(CREATE, trigger_input(world.project_id, hook, name="first"))
    assert _fired(world, "a1", "prod") == ["first"]
    reads = Reads(monkeypatch)
    _other_project(world)  # a change the scope does not show: nothing to read
    assert [_fired(world, f"b{n}", "prod") for n in range(2)] == [["first"]] * 2
    assert reads.calls == []

    def described(*texts: str) -> None:
        for text in texts:  # one change each
            with world.db.write() as con:
                con.execute("UPDATE triggers SET description = ? WHERE name = 'first'", (text,))

    described("one", "two")  # with the marker, 3 changes: caught up by reading the row
    assert [_fired(world, f"c{n}", "prod") for n in range(2)] == [["first"]] * 2
    first = _trigger_id(world, "first")
    assert reads.calls == [[first]]  # and caught up to the last of them: once
    described("three", "four", "five")  # 4: read whole
    assert _fired(world, "d1", "prod") == ["first"]
    assert reads.calls == [[first], None]


def test_a_collections_automation_is_caught_up_by_its_row(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.collection_id, hook, name="kept", scopeType="ARTIFACT_COLLECTION")
    trigger_id = world.admin.ok(CREATE, made)["createFilterTrigger"]["trigger"]["id"]
    assert _fired(world, "a1", "prod") == ["kept"]
    reads = Reads(monkeypatch)
    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "eventFilter": _alias("^staging$")}})
    assert _fired(world, "a2", "staging") == ["kept"]
    assert reads.calls == [[_trigger_id(world, "kept")]]
